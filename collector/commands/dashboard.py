"""``ratwatch-collector dashboard``: the analysts' web dashboard over a collector's Stats API."""

from __future__ import annotations

from pathlib import Path

import click

_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.command()
@click.option(
    "--collector",
    "address",
    metavar="HOST:PORT",
    default="127.0.0.1:50051",
    show_default=True,
    help="The collector whose Stats API the dashboard asks (with each analyst's token).",
)
@click.option("--tls", is_flag=True, help="Use TLS to the collector (system CA roots).")
@click.option("--ca-file", type=_FILE, help="CA bundle the collector's certificate must chain to.")
@click.option("--client-cert", type=_FILE, help="Client certificate when the collector needs one.")
@click.option("--client-key", type=_FILE, help="Private key of --client-cert.")
@click.option(
    "--listen",
    metavar="HOST:PORT",
    default="127.0.0.1:8050",
    show_default=True,
    help="Where the dashboard listens (port 0 picks a free one).",
)
@click.option("--cert-file", type=_FILE, help="Serve HTTPS with this certificate (PEM).")
@click.option("--key-file", type=_FILE, help="Private key (PEM) of --cert-file.")
@click.option(
    "--allow-insecure-remote",
    is_flag=True,
    help="Allow plain HTTP on a non-loopback address (only behind a TLS-terminating proxy).",
)
@click.option(
    "--timeout",
    type=float,
    default=30.0,
    show_default=True,
    help="Seconds to wait for each Stats answer.",
)
def dashboard(  # noqa: PLR0917 - click passes every option
    address: str,
    tls: bool,
    ca_file: Path | None,
    client_cert: Path | None,
    client_key: Path | None,
    listen: str,
    cert_file: Path | None,
    key_file: Path | None,
    allow_insecure_remote: bool,
    timeout: float,
) -> None:
    """Serve the analysts' dashboard: charts and tables of the collector's Stats answers.

    Analysts sign in with their own analyst token; every page is asked of the
    collector with that token, so the dashboard runs wherever an analyst token
    works. Prints its address; Ctrl-C or SIGTERM stops it.
    """
    from collector.client import Remote, StatsClient
    from collector.dashboard.app import create_app
    from collector.dashboard.serving import DashboardServer, Listen, serve_until_signal
    from collector.errors import CollectorError

    where = Listen(listen, cert_file, key_file, allow_insecure_remote)
    try:
        client = StatsClient(Remote(address, "", tls, ca_file, client_cert, client_key, timeout))
        server = DashboardServer(create_app(client, secure_cookies=where.tls), where)
        url = server.start()
    except CollectorError as exc:
        raise click.ClickException(str(exc)) from exc
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {listen}: {exc.strerror}") from exc
    click.echo(f"ratwatch dashboard on {url} (asking the collector at {address})")
    click.echo("sign in with an analyst token; press Ctrl-C to stop")
    try:
        serve_until_signal(server, click.echo)
    finally:
        client.close()
