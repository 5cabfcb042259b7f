#!/usr/bin/env bash
# Bench of the headless ceremony: `ceremony run` for N validators (default 1000) with 4 operators
# against a private SoftHSM token, then `ceremony verify` on the result. Prints validators per
# second and peak RSS of each. Release build; nothing outside a temporary directory is touched.
#
# Usage: scripts/bench-ceremony.sh [VALIDATORS]
# Environment: CARGO_TARGET_DIR (default <repo>/target), KC_PKCS11_MODULE (default SoftHSM).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
n="${1:-1000}"
module="${KC_PKCS11_MODULE:-/usr/lib/softhsm/libsofthsm2.so}"
for tool in openssl softhsm2-util python3; do
  command -v "$tool" >/dev/null || { echo "bench: $tool not found: run make tools" >&2; exit 1; }
done
[ -f "$module" ] || { echo "bench: PKCS#11 module $module not found: run make tools" >&2; exit 1; }

echo "== building ceremony (release)" >&2
(cd "$root" && cargo build --release --locked -q -p ceremony)
target="${CARGO_TARGET_DIR:-$root/target}"
bin="$target/release/ceremony"

work="$(mktemp -d -t kc-bench-XXXXXX)"
trap 'rm -rf "$work"' EXIT
cd "$work"

echo "== SoftHSM token and ceremony keys" >&2
eval "$(KC_HSM_DIR="$work/softhsm" KC_HSM_LABEL=bench KC_HSM_USER_PIN=bench-user-pin \
  KC_HSM_SO_PIN=bench-so-pin KC_PKCS11_MODULE="$module" "$root/hsm-config/softhsm-setup.sh" 2>/dev/null)"
printf 'bench-user-pin\n' >pin
"$bin" hsm init --module "$module" --token bench --pin-file pin >hsm-init.txt
identity="$(awk '/^identity public key/ {print $4}' hsm-init.txt)"

echo "== 4 operators (RSA-2048)" >&2
for i in 1 2 3 4; do openssl genrsa -out "op$i.pem" 2048 2>/dev/null & done
wait
python3 - <<'PY'
import base64, json, subprocess
ops = []
for i, op_id in enumerate([11, 222, 3333, 44444]):
    pem = subprocess.check_output(["openssl", "rsa", "-in", f"op{i+1}.pem", "-pubout"],
                                  stderr=subprocess.DEVNULL).decode()
    pem = pem.replace("PUBLIC KEY", "RSA PUBLIC KEY")  # the network's label, SPKI body
    ops.append({"id": op_id, "public_key": base64.b64encode(pem.encode()).decode()})
json.dump(ops, open("operators.json", "w"), indent=2)
PY

cat >plan.toml <<TOML
[ceremony]
id = "bench-$n"
network = "hoodi"
validators = $n
start_index = 0

[deposit]
withdrawal_address = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
withdrawal_type = "0x01"
amount_gwei = 32000000000

[ssv]
owner_address = "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359"
owner_nonce = 0
operators_file = "operators.json"
allow_unpinned_operators = true

[hsm]
module = "$module"
token_label = "bench"

[seed]
source = "hsm"
TOML

# Runs a command; prints "<seconds> <peak RSS in KiB>" of it (getrusage of the child).
measure() {
  python3 - "$@" <<'PY'
import resource, subprocess, sys, time
t = time.monotonic()
r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
dt = time.monotonic() - t
if r.returncode != 0:
    sys.stderr.write(r.stderr.decode())
    sys.exit(r.returncode)
print(f"{dt:.3f} {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}")
PY
}

cores="$(nproc)"
echo "== ceremony run: $n validators, 4 operators, $cores cores" >&2
read -r run_s run_kib < <(measure "$bin" run --plan plan.toml --out bundle --pin-file pin --allow-unlocked-memory)
echo "== ceremony verify" >&2
read -r ver_s ver_kib < <(measure "$bin" verify bundle --identity "$identity")

python3 - "$n" "$run_s" "$run_kib" "$ver_s" "$ver_kib" "$cores" <<'PY'
import sys
n, run_s, run_kib, ver_s, ver_kib, cores = sys.argv[1:]
n = int(n)
print(f"validators      {n} (4 operators, {cores} cores, release, SoftHSM)")
print(f"run             {float(run_s):8.2f} s  {n/float(run_s):9.1f} validators/s  peak RSS {int(run_kib)/1024:7.1f} MiB")
print(f"verify          {float(ver_s):8.2f} s  {n/float(ver_s):9.1f} validators/s  peak RSS {int(ver_kib)/1024:7.1f} MiB")
PY
