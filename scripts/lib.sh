# Shared by the project's shell scripts: `. "$root/scripts/lib.sh"` (sourced, never run).
#   die MESSAGE…              print "<script>: MESSAGE" on stderr and exit 1
#   say MESSAGE…              a section heading on stdout
#   require TOOL…             die naming the first TOOL that is not on PATH ("run make tools")
#   wait_for [--pid PID] [--log FILE] SECONDS WHAT COMMAND…
#                             run COMMAND until it succeeds; die after SECONDS, or as soon as
#                             PID has exited (printing the end of FILE), naming WHAT
#   free_port                 print a TCP port on 127.0.0.1 that nothing listens on
#   softhsm_env [DIR]         hsm-config/softhsm-setup.sh, then export what it prints; dies if
#                             the set-up fails (its messages stay on stderr)
#   json_field FILE KEY…      print FILE's JSON value at KEY (nested keys in order); dies if
#                             FILE is not JSON or KEY is missing
#   KC_DEV_KEY0…KC_DEV_KEY3   anvil's development accounts 0 to 3 (below)
# Needs bash and python3 (for free_port and json_field).

kc_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
kc_prog="$(basename "$0")"

die() {
  printf '%s: %s\n' "$kc_prog" "$*" >&2
  exit 1
}

say() { printf '\n== %s\n' "$*"; }

require() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool not found: run make tools"
  done
}

wait_for() {
  local pid="" log=""
  while [ $# -gt 0 ]; do
    case "$1" in
      --pid) pid="$2"; shift 2 ;;
      --log) log="$2"; shift 2 ;;
      *) break ;;
    esac
  done
  [ $# -ge 3 ] || die "usage: wait_for [--pid PID] [--log FILE] SECONDS WHAT COMMAND…"
  local seconds="$1" what="$2"
  shift 2
  local start=$SECONDS
  until "$@" >/dev/null 2>&1; do
    if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
      [ -z "$log" ] || tail -n 20 "$log" >&2
      die "$what: the process ($pid) exited before it was ready"
    fi
    if [ $((SECONDS - start)) -ge "$seconds" ]; then
      [ -z "$log" ] || tail -n 20 "$log" >&2
      die "$what: not ready after $seconds s"
    fi
    sleep 0.2
  done
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' \
    || die "free_port: python3 could not bind a loopback port"
}

softhsm_env() {
  local out line
  out="$("$kc_root/hsm-config/softhsm-setup.sh" "$@")" || die "hsm-config/softhsm-setup.sh failed (its message is above)"
  # Apply only the lines the set-up promises (`export NAME=<shell-quoted value>`).
  while IFS= read -r line; do
    case "$line" in
      "export SOFTHSM2_CONF="* | "export KC_PKCS11_MODULE="* | "export KC_HSM_LABEL="*) eval "$line" ;;
      "") ;;
      *) die "hsm-config/softhsm-setup.sh printed an unexpected line: $line" ;;
    esac
  done <<<"$out"
  [ -n "${SOFTHSM2_CONF:-}" ] && [ -f "$SOFTHSM2_CONF" ] || die "hsm-config/softhsm-setup.sh gave no SoftHSM configuration"
}

json_field() {
  python3 - "$@" 2>/dev/null <<'PY' || die "json_field: $1 is not JSON or has no ${*:2}"
import json, sys
v = json.load(open(sys.argv[1]))
for k in sys.argv[2:]:
    v = v[int(k)] if isinstance(v, list) else v[k]
print(v if not isinstance(v, (dict, list)) else json.dumps(v))
PY
}

# anvil's development accounts (from the mnemonic "test test … junk" every anvil and hardhat
# prints at start-up): public test keys, for local devnets only, never for anything real.
KC_DEV_KEY0=0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80 # deployer, governance
KC_DEV_KEY1=0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d
KC_DEV_KEY2=0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a
KC_DEV_KEY3=0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6
