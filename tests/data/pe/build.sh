#!/usr/bin/env bash
# Rebuild the PE fixtures used by tests/agent/identify/test_pe.py and tests/agent/sensors/processes/test_processes.py.
#
# The built files are committed, so the tests (and CI) never need these tools;
# run this only to change a fixture. Needs the Debian packages
# gcc-mingw-w64-x86-64 (x86_64-w64-mingw32-gcc, -windres), osslsigncode, openssl.
#
#   renamed_tool.exe  version resource of AnyDesk (OriginalFileName AnyDesk.exe,
#                     ProductName AnyDesk, CompanyName AnyDesk Software GmbH), unsigned:
#                     a renamed AnyDesk as the PE sensor sees it.
#   signed_vendor.exe no version resource; Authenticode-signed with a throwaway
#                     self-signed certificate whose subject is CN=TeamViewer Germany GmbH
#                     (it does not verify: the root is not trusted).
#   fake_signed_anydesk.exe  the renamed_tool.exe version resource, signed with a
#                     self-signed certificate CN=AnyDesk Software GmbH: a forged vendor
#                     signature (does not verify).
#   plain.exe         neither version resource nor signature.
set -euo pipefail
cd "$(dirname "$0")"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cat >"$work/main.c" <<'C'
/* Does nothing; only the file's metadata matters to the tests. */
int entry(void) { return 0; }
C

cat >"$work/version.rc" <<'RC'
#include <winver.h>
1 VERSIONINFO
FILEVERSION 9,0,5,0
PRODUCTVERSION 9,0,5,0
FILEOS VOS_NT_WINDOWS32
FILETYPE VFT_APP
BEGIN
  BLOCK "StringFileInfo"
  BEGIN
    BLOCK "040904B0"
    BEGIN
      VALUE "CompanyName", "AnyDesk Software GmbH"
      VALUE "FileDescription", "AnyDesk"
      VALUE "FileVersion", "9.0.5"
      VALUE "OriginalFilename", "AnyDesk.exe"
      VALUE "ProductName", "AnyDesk"
      VALUE "ProductVersion", "9.0.5"
    END
  END
  BLOCK "VarFileInfo"
  BEGIN
    VALUE "Translation", 0x0409, 0x04B0
  END
END
RC

# No CRT, no timestamp, stripped: a few KB, the same bytes on every build.
rm -f renamed_tool.exe plain.exe signed_vendor.exe fake_signed_anydesk.exe
cc=(x86_64-w64-mingw32-gcc -Os -s -nostdlib -Wl,-e,entry -Wl,--no-insert-timestamp)
x86_64-w64-mingw32-windres "$work/version.rc" -O coff -o "$work/version.o"
"${cc[@]}" -o renamed_tool.exe "$work/main.c" "$work/version.o"
"${cc[@]}" -o plain.exe "$work/main.c"

openssl req -x509 -newkey rsa:2048 -nodes -days 3650 \
  -subj "/CN=TeamViewer Germany GmbH/O=TeamViewer Germany GmbH/C=DE" \
  -addext "extendedKeyUsage=codeSigning" \
  -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
osslsigncode sign -certs "$work/cert.pem" -key "$work/key.pem" -h sha256 \
  -n "Throwaway test signature" -in plain.exe -out signed_vendor.exe >/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -days 3650 \
  -subj "/CN=AnyDesk Software GmbH/O=AnyDesk Software GmbH/C=DE" \
  -addext "extendedKeyUsage=codeSigning" \
  -keyout "$work/key2.pem" -out "$work/cert2.pem" 2>/dev/null
osslsigncode sign -certs "$work/cert2.pem" -key "$work/key2.pem" -h sha256 \
  -in renamed_tool.exe -out fake_signed_anydesk.exe >/dev/null
ls -l renamed_tool.exe fake_signed_anydesk.exe signed_vendor.exe plain.exe
