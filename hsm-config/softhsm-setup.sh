#!/usr/bin/env bash
# Creates a private SoftHSM configuration and token directory, and initializes a token by label.
# For development, tests and `make demo` only: SoftHSM is a software token, not an HSM.
#
# Usage: hsm-config/softhsm-setup.sh [DIR]
#   DIR                 where the config and tokens live (default: $KC_HSM_DIR, else <repo>/.tools/softhsm)
# Environment:
#   KC_HSM_LABEL        token label (default: ceremony)
#   KC_HSM_USER_PIN     user PIN   (default: a DEMO-ONLY value, printed as such)
#   KC_HSM_SO_PIN       SO PIN     (default: a DEMO-ONLY value)
#   KC_PKCS11_MODULE    PKCS#11 module (default: /usr/lib/softhsm/libsofthsm2.so)
#   KC_HSM_EMULATE      yubihsm2 | nitrokey-hsm2: restrict SoftHSM (`slots.mechanisms`) to that
#                       device's mechanism set, from hsm-config/emulate/<name>.mechanisms (for a
#                       new configuration only; it applies to every token in DIR)
#
# Idempotent: a token that already carries the label is left alone (its PINs are not changed).
# Prints the lines to export; `eval "$(hsm-config/softhsm-setup.sh)"` applies them.
# Diagnostics go to stderr, the export lines to stdout. PINs are never printed.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="${1:-${KC_HSM_DIR:-$repo/.tools/softhsm}}"
label="${KC_HSM_LABEL:-ceremony}"
module="${KC_PKCS11_MODULE:-/usr/lib/softhsm/libsofthsm2.so}"

demo_pins=0
if [ -z "${KC_HSM_USER_PIN:-}" ] || [ -z "${KC_HSM_SO_PIN:-}" ]; then
  demo_pins=1
fi
# DEMO-ONLY defaults. Never use these for a real ceremony.
user_pin="${KC_HSM_USER_PIN:-demo-user-pin-1234}"
so_pin="${KC_HSM_SO_PIN:-demo-so-pin-5678}"

if [ ! -f "$module" ]; then
  echo "softhsm-setup: PKCS#11 module $module not found: run \`make tools\` (installs softhsm2)" >&2
  exit 1
fi
if ! command -v softhsm2-util >/dev/null 2>&1; then
  echo "softhsm-setup: softhsm2-util not found: run \`make tools\` (installs softhsm2)" >&2
  exit 1
fi

emulate="${KC_HSM_EMULATE:-}"
mechanisms=""
if [ -n "$emulate" ]; then
  list="$repo/hsm-config/emulate/$emulate.mechanisms"
  if [ ! -f "$list" ]; then
    echo "softhsm-setup: KC_HSM_EMULATE=$emulate: no $list" >&2
    exit 2
  fi
  mechanisms="$(grep -v '^[[:space:]]*#' "$list" | tr -d ' \n')"
fi

mkdir -p "$dir/tokens"
chmod 700 "$dir" "$dir/tokens"
dir="$(cd "$dir" && pwd)"
conf="$dir/softhsm2.conf"
if [ ! -f "$conf" ]; then
  cat >"$conf" <<EOF
# Private SoftHSM configuration written by hsm-config/softhsm-setup.sh (development and tests only)
directories.tokendir = $dir/tokens
objectstore.backend = file
log.level = ERROR
slots.removable = false
EOF
  if [ -n "$mechanisms" ]; then
    echo "slots.mechanisms = $mechanisms" >>"$conf"
    echo "softhsm-setup: SoftHSM restricted to the $emulate mechanism set" >&2
  fi
fi
export SOFTHSM2_CONF="$conf"

# softhsm2-util --show-slots prints "Label: <label>" for each initialized token.
if softhsm2-util --show-slots 2>/dev/null \
  | awk -v want="$label" '$1 == "Label:" { sub(/^[[:space:]]*Label:[[:space:]]*/, ""); sub(/[[:space:]]+$/, ""); if ($0 == want) found = 1 } END { exit !found }'; then
  echo "softhsm-setup: token \`$label\` already exists in $dir/tokens; left alone" >&2
else
  softhsm2-util --init-token --free --label "$label" --so-pin "$so_pin" --pin "$user_pin" >/dev/null
  echo "softhsm-setup: initialized token \`$label\` in $dir/tokens" >&2
  if [ "$demo_pins" -eq 1 ]; then
    echo "softhsm-setup: DEMO-ONLY PINs in use (see KC_HSM_USER_PIN / KC_HSM_SO_PIN); never for a real ceremony" >&2
  fi
fi

printf 'export SOFTHSM2_CONF=%q\n' "$conf"
printf 'export KC_PKCS11_MODULE=%q\n' "$module"
printf 'export KC_HSM_LABEL=%q\n' "$label"
