#!/usr/bin/env bash
# Installs the pinned Debian packages the tests and the demo need. Idempotent: packages already
# installed at the pinned version are left alone; apt-get runs only when something is missing.
set -euo pipefail
pkgs=(
  "softhsm2=2.6.1-2.1"      # SoftHSM 2.6.1: the PKCS#11 token for tests and the demo
  "opensc=0.23.0-0.3+deb12u2" # pkcs11-tool, to inspect tokens by hand (optional for tests)
  "tmux=3.3a-3"             # drives the TUI end-to-end test
  # The audit report's print test: headless Chromium prints it to PDF (A4), poppler's pdftotext
  # reads it back; the report names DejaVu fonts, so the measured layout is the one auditors get.
  "chromium=156.0.8078.114-1~deb12u1"
  "poppler-utils=22.12.0-2+deb12u3"
  "fonts-dejavu-core=2.37-6"
  # kryoptic (a second PKCS#11 soft token, scripts/install-kryoptic.sh): bindgen needs libclang,
  # and it links the system OpenSSL and SQLite
  "clang=1:14.0-55.7~deb12u1"
  "libclang-dev=1:14.0-55.7~deb12u1"
  "libssl-dev=3.0.19-1~deb12u2"
  "libsqlite3-dev=3.40.1-2+deb12u2"
  "pkg-config=1.8.1-1"
  "g++=4:12.2.0-3"          # builds libFuzzer for `make fuzz` (libfuzzer-sys)
  # The agent's PostgreSQL state store: the tests start their own server (initdb + pg_ctl in a
  # temporary directory on a free port, kc-test-utils `postgres`), never the system's cluster.
  "postgresql-15=15.18-0+deb12u1"
)
missing=()
for p in "${pkgs[@]}"; do
  name="${p%%=*}"; want="${p#*=}"
  have="$(dpkg-query -W -f='${Version}' "$name" 2>/dev/null || true)"
  [ "$have" = "$want" ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then sudo=sudo; else sudo=; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "installed: ${missing[*]}"
