// Load generator for bench/collector_bench.py: Telemetry.Submit calls, as cheap as gRPC allows.
//
// Why not Python: a Python gRPC client spends ~250 us of CPU per call, more
// than the server it measures, and on a 2-core machine the clients would
// take the CPU the server needs. This client spends ~50 us.
//
//   submit_load ADDRESS TOKEN SECONDS INFLIGHT BATCHFILE [LATENCYFILE]
//
// BATCHFILE holds serialised CountBatch messages without batch_id, each
// preceded by its length (4 bytes, big-endian). Every call prefixes a fresh
// random batch_id (field 1, 16 bytes), so no call is a duplicate. Connects
// 8 channels (SO_REUSEPORT spreads connections, not calls, over the
// server's workers), prints "ready", waits for a line on stdin, keeps
// INFLIGHT calls going for SECONDS, then prints "OK FAILED SECONDS". With
// LATENCYFILE, it also writes each successful call's latency there, in
// microseconds, as 4-byte little-endian unsigned integers.
#include <grpcpp/grpcpp.h>
#include <grpcpp/generic/generic_stub.h>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <random>
#include <string>
#include <vector>

struct Call {
  std::chrono::steady_clock::time_point sent;
  grpc::ClientContext ctx;
  grpc::ByteBuffer reply;
  grpc::Status status;
  std::unique_ptr<grpc::GenericClientAsyncResponseReader> reader;
};

int main(int argc, char** argv) {
  if (argc != 6 && argc != 7) {
    std::fprintf(stderr, "usage: submit_load ADDRESS TOKEN SECONDS INFLIGHT BATCHFILE [LATENCYFILE]\n");
    return 2;
  }
  std::string address = argv[1], token = std::string("Bearer ") + argv[2];
  double seconds = std::atof(argv[3]);
  int inflight = std::atoi(argv[4]);
  std::vector<std::string> batches;
  std::ifstream in(argv[5], std::ios::binary);
  for (;;) {
    unsigned char len[4];
    if (!in.read(reinterpret_cast<char*>(len), 4)) break;
    uint32_t n = len[0] << 24 | len[1] << 16 | len[2] << 8 | len[3];
    std::string body(n, '\0');
    in.read(body.data(), n);
    batches.push_back(std::move(body));
  }
  const int kChannels = 8;
  std::vector<std::unique_ptr<grpc::GenericStub>> stubs;
  for (int k = 0; k < kChannels; ++k) {
    grpc::ChannelArguments args;
    args.SetInt("ratwatch.bench.channel", k);  // distinct args: a connection of its own
    auto channel = grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
    if (!channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(30))) {
      std::fprintf(stderr, "cannot connect to %s\n", address.c_str());
      return 1;
    }
    stubs.push_back(std::make_unique<grpc::GenericStub>(channel));
  }
  grpc::CompletionQueue cq;
  std::mt19937_64 rng(std::random_device{}());
  std::puts("ready"); std::fflush(stdout);
  std::string go; std::getline(std::cin, go);
  const std::string method = "/ratwatch.telemetry.v1.Telemetry/Submit";
  auto start = std::chrono::steady_clock::now();
  auto until = start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(seconds));
  size_t next = 0; long done = 0, errors = 0; int active = 0;
  std::vector<uint32_t> latencies;
  auto launch = [&]() {
    auto* c = new Call;
    c->sent = std::chrono::steady_clock::now();
    c->ctx.AddMetadata("authorization", token);
    c->ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    std::string msg = "\x0a\x10";
    for (int k = 0; k < 2; ++k) { uint64_t r = rng(); msg.append(reinterpret_cast<char*>(&r), 8); }
    msg += batches[next++ % batches.size()];
    grpc::Slice slice(msg);
    grpc::ByteBuffer req(&slice, 1);
    c->reader = stubs[next % kChannels]->PrepareUnaryCall(&c->ctx, method, req, &cq);
    c->reader->StartCall();
    c->reader->Finish(&c->reply, &c->status, c);
    ++active;
  };
  for (int i = 0; i < inflight; ++i) launch();
  void* tag; bool ok;
  while (active > 0 && cq.Next(&tag, &ok)) {
    auto* c = static_cast<Call*>(tag);
    --active;
    if (ok && c->status.ok()) {
      ++done;
      auto us = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - c->sent);
      latencies.push_back(static_cast<uint32_t>(us.count()));
    } else {
      if (errors < 3) std::fprintf(stderr, "call failed: %d %s\n", c->status.error_code(), c->status.error_message().c_str());
      ++errors;
    }
    delete c;
    if (std::chrono::steady_clock::now() < until) launch();
  }
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (argc == 7) {
    std::ofstream out(argv[6], std::ios::binary);
    for (uint32_t v : latencies) {
      unsigned char le[4] = {static_cast<unsigned char>(v), static_cast<unsigned char>(v >> 8),
                             static_cast<unsigned char>(v >> 16), static_cast<unsigned char>(v >> 24)};
      out.write(reinterpret_cast<char*>(le), 4);
    }
  }
  std::printf("%ld %ld %.6f\n", done, errors, elapsed);
  return 0;
}
