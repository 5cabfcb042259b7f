#!/usr/bin/env bash
# Creates a private kryoptic configuration and token database and initializes a token by label:
# the second PKCS#11 software token the ceremony runs on (`make test-tokens`). For development
# and tests only. The module is built by scripts/install-kryoptic.sh.
#
# Usage: hsm-config/kryoptic-setup.sh DIR
# Environment:
#   KC_HSM_LABEL        token label (default: ceremony)
#   KC_HSM_USER_PIN     user PIN (default: a DEMO-ONLY value); kryoptic wants at least 8 characters
#   KC_HSM_SO_PIN       SO PIN   (default: a DEMO-ONLY value)
#   KC_KRYOPTIC_MODULE  the module (default: <repo>/.tools/kryoptic/libkryoptic_pkcs11.so)
#
# Idempotent: a token already initialized in DIR is left alone. Prints `export KRYOPTIC_CONF=…`
# and `export KC_PKCS11_MODULE=…` on stdout; messages on stderr. PINs are never printed (they
# are passed to pkcs11-tool on its command line: fine for tests, not for anything real).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="${1:?usage: kryoptic-setup.sh DIR}"
label="${KC_HSM_LABEL:-ceremony}"
user_pin="${KC_HSM_USER_PIN:-demo-user-pin-1234}"
so_pin="${KC_HSM_SO_PIN:-demo-so-pin-5678}"
module="${KC_KRYOPTIC_MODULE:-$repo/.tools/kryoptic/libkryoptic_pkcs11.so}"
if [ ! -f "$module" ]; then
  echo "kryoptic-setup: $module not found: run scripts/install-kryoptic.sh" >&2
  exit 1
fi
if ! command -v pkcs11-tool >/dev/null; then
  echo "kryoptic-setup: pkcs11-tool not found: run \`make tools\` (opensc)" >&2
  exit 1
fi
mkdir -p "$dir"
chmod 700 "$dir"
dir="$(cd "$dir" && pwd)"
conf="$dir/kryoptic.conf"
export KRYOPTIC_CONF="$conf"
if [ ! -f "$conf" ]; then
  printf '# written by hsm-config/kryoptic-setup.sh (development and tests only)\n[[slots]]\nslot = 1\ndbtype = "sqlite"\ndbargs = "%s/token.sql"\n' "$dir" >"$conf"
fi
if pkcs11-tool --module "$module" -L 2>/dev/null | grep -q "token initialized"; then
  echo "kryoptic-setup: a token is already initialized in $dir; left alone" >&2
else
  pkcs11-tool --module "$module" --init-token --label "$label" --so-pin "$so_pin" >/dev/null
  pkcs11-tool --module "$module" --login --login-type so --so-pin "$so_pin" --init-pin --new-pin "$user_pin" >/dev/null
  echo "kryoptic-setup: initialized token \`$label\` in $dir" >&2
fi
printf 'export KRYOPTIC_CONF=%q\n' "$conf"
printf 'export KC_PKCS11_MODULE=%q\n' "$module"
