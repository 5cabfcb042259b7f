#!/usr/bin/env bash
# `make bench`: in one run on this machine, with 4 operators and SoftHSM, release
# build, and nothing outside a temporary directory touched, it prints
#   - the criterion floors of the unavoidable primitives (BLS sign, G1 multiplication, one RSA
#     encryption, one EIP-2333 child derivation, a batched pairing check, point decoding);
#   - the SSV SDK's single-core rate (node pinned to one core) doing its part of the job
#     (split, encrypt to the operators, sign ownership) on the same operators, measured before
#     and after the ceremony runs (the better of the two is the ratios' denominator);
#   - `ceremony run` and `ceremony verify` (pinned identity; verify the fastest of three):
#     validators per second and peak RSS,
#     at each size (default 1,000 and 10,000 validators);
#   - the ratios to the SDK's rate, against the goals (run >= 6.5x, verify >= 26x).
# Timings are only comparable within one run: other processes share the cores.
#
# Usage: scripts/bench-ceremony.sh [VALIDATORS ...]      (default: 1000 10000)
# Environment: KC_BENCH_SDK_COUNT (SDK validators timed, default 300), KC_BENCH_FLOORS=0 (skip
# criterion), CARGO_TARGET_DIR, KC_PKCS11_MODULE, KC_SSV_SDK_DIR (default tools/ssv-sdk).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
. "$root/scripts/lib.sh"
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(1000 10000)
module="${KC_PKCS11_MODULE:-/usr/lib/softhsm/libsofthsm2.so}"
sdk_dir="${KC_SSV_SDK_DIR:-$root/tools/ssv-sdk}"
sdk_count="${KC_BENCH_SDK_COUNT:-300}"
require openssl softhsm2-util python3 node taskset
[ -f "$module" ] || die "PKCS#11 module $module not found: run make tools"
[ -d "$sdk_dir/node_modules/@ssv-labs/ssv-sdk" ] || die "SSV SDK not in $sdk_dir: run make tools"

target="${CARGO_TARGET_DIR:-$root/target}"
if [ "${KC_BENCH_FLOORS:-1}" != 0 ]; then
  echo "== criterion floors (kc-validator, kc-ssv)" >&2
  (cd "$root" && cargo bench --locked -q -p kc-validator --bench validator -- floor/ >&2)
  (cd "$root" && cargo bench --locked -q -p kc-ssv --bench ssv -- floor/ >&2)
fi

echo "== building ceremony (release)" >&2
(cd "$root" && cargo build --release --locked -q -p ceremony)
bin="$target/release/ceremony"

work="$(mktemp -d -t kc-bench-XXXXXX)"
trap 'rm -rf "$work"' EXIT
cd "$work"

echo "== SoftHSM token and ceremony keys" >&2
export KC_HSM_DIR="$work/softhsm" KC_HSM_LABEL=bench KC_HSM_USER_PIN=bench-user-pin \
  KC_HSM_SO_PIN=bench-so-pin KC_PKCS11_MODULE="$module"
softhsm_env
printf 'bench-user-pin\n' >pin
"$bin" hsm init --module "$module" --token bench --pin-file pin --json >hsm-init.json
identity="$(json_field hsm-init.json identity_key public_key)"

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

# Runs a command; prints "<seconds> <peak RSS in KiB> <CPU seconds>" of it (getrusage of the
# child: user + system time).
measure() {
  python3 - "$@" <<'PY'
import resource, subprocess, sys, time
t = time.monotonic()
r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
dt = time.monotonic() - t
if r.returncode != 0:
    sys.stderr.write(r.stderr.decode())
    sys.exit(r.returncode)
u = resource.getrusage(resource.RUSAGE_CHILDREN)
print(f"{dt:.3f} {u.ru_maxrss} {u.ru_utime + u.ru_stime:.3f}")
PY
}

# "<validators per second> <CPU ms per validator>" of the SDK on one core.
sdk() {
  echo "== SSV SDK, one core: $sdk_count validators, 4 operators" >&2
  taskset -c 0 node "$root/scripts/bench-sdk.js" "$sdk_dir" operators.json "$sdk_count" \
    | python3 -c 'import json,sys; j = json.load(sys.stdin); print(j["per_second"], j["cpu_ms_per_validator"])'
}

read -r sdk_before sdk_cpu_before < <(sdk)
results=()
for n in "${sizes[@]}"; do
  cat >"plan-$n.toml" <<TOML
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
  echo "== ceremony run: $n validators, 4 operators, $(nproc) cores" >&2
  read -r run_s run_kib run_cpu < <(measure "$bin" run --plan "plan-$n.toml" --out "bundle-$n" --pin-file pin --allow-unlocked-memory)
  # The bundle just written goes to disk first: its write-back would otherwise share the cores
  # with the verification timed next (an auditor verifies a bundle at rest).
  sync
  echo "== ceremony verify: $n validators" >&2
  # Three times on the same bundle, the fastest kept: one verification of 1,000 validators is
  # about half a second, within reach of the shared machine's noise (the SDK's rate is likewise
  # the better of its two measurements).
  best=""
  for _ in 1 2 3; do
    read -r s kib cpu < <(measure "$bin" verify "bundle-$n" --identity "$identity")
    if [ -z "$best" ] || python3 -c "import sys; sys.exit(0 if $s < ${best%% *} else 1)"; then
      best="$s $kib $cpu"
    fi
  done
  read -r ver_s ver_kib ver_cpu <<<"$best"
  results+=("$n $run_s $run_kib $run_cpu $ver_s $ver_kib $ver_cpu")
  rm -rf "bundle-$n"
done
read -r sdk_after sdk_cpu_after < <(sdk)

python3 - "$target/criterion" "$(nproc)" "$sdk_before" "$sdk_after" "$sdk_cpu_before" "$sdk_cpu_after" "${results[@]}" <<'PY'
import json, os, sys
crit, cores = sys.argv[1], int(sys.argv[2])
sdk_before, sdk_after, sdk_cpu_before, sdk_cpu_after = map(float, sys.argv[3:7])
rows = [r.split() for r in sys.argv[7:]]
# The better of the two measurements: the goal's denominator is never the noisier, slower one.
sdk = max(sdk_before, sdk_after)
sdk_cpu = min(sdk_cpu_before, sdk_cpu_after)

def floor(name):
    p = os.path.join(crit, "floor", name, "new", "estimates.json")
    try:
        return json.load(open(p))["mean"]["point_estimate"] / 1e3  # µs
    except OSError:
        return None

f = {k: floor(k) for k in ["sign", "g1_mul", "child_derivation", "rsa2048_encrypt",
                           "batch_verify_32_keys_2_signatures", "signature_decode_subgroup_check",
                           "public_key_decode_subgroup_check"]}
print("floors (criterion, one core, mean):")
for k, label in [("sign", "BLS sign (hash to G2 + G2 mul)"), ("g1_mul", "G1 multiplication (sk -> pk)"),
                 ("rsa2048_encrypt", "RSA-2048 encryption, one share"),
                 ("child_derivation", "EIP-2333 child derivation"),
                 ("batch_verify_32_keys_2_signatures", "batched check, 32 keys x 2 signatures"),
                 ("signature_decode_subgroup_check", "G2 signature decode + subgroup check"),
                 ("public_key_decode_subgroup_check", "G1 public key decode + subgroup check")]:
    v = f[k]
    print(f"  {label:44} {v:10.1f} µs" if v is not None else f"  {label:44}        n/a")
n_ops = 4
if all(f[k] is not None for k in ["sign", "g1_mul", "child_derivation", "rsa2048_encrypt", "batch_verify_32_keys_2_signatures"]):
    gen = 3 * f["child_derivation"] + (1 + n_ops) * f["g1_mul"] + 2 * f["sign"] + n_ops * f["rsa2048_encrypt"]
    chk = f["batch_verify_32_keys_2_signatures"] / 32
    print(f"  generation floor per validator (3 derivations, {1+n_ops} G1 mul, 2 sign, {n_ops} RSA) {gen:8.1f} µs;"
          f" + batched check of its 2 signatures {chk:.1f} µs")
    print(f"  => at most {1e6 / (gen + chk) * int(cores):.0f} validators/s on {cores} cores for generation alone")
print(f"SSV SDK, one core (split + encrypt + ownership signature, {n_ops} operators): "
      f"{sdk:.1f} validators/s ({1000/sdk:.1f} ms each; before {sdk_before:.1f}, after {sdk_after:.1f}); "
      f"CPU {sdk_cpu:.2f} ms per validator")
print(f"ceremony ({n_ops} operators, {cores} cores, release, SoftHSM):")
print(f"  {'validators':>10}  {'run v/s':>8} {'CPU ms':>7} {'RSS MiB':>8} {'/SDK':>6} {'/SDK cpu':>8}"
      f"  {'verify v/s':>10} {'CPU ms':>7} {'RSS MiB':>8} {'/SDK':>6} {'/SDK cpu':>8}")
for n, run_s, run_kib, run_cpu, ver_s, ver_kib, ver_cpu in rows:
    n = int(n)
    rr, vr = n / float(run_s), n / float(ver_s)
    rc, vc = 1000 * float(run_cpu) / n, 1000 * float(ver_cpu) / n
    print(f"  {n:>10}  {rr:8.1f} {rc:7.2f} {int(run_kib)/1024:8.1f} {rr/sdk:5.2f}x {sdk_cpu/rc*cores:7.2f}x"
          f"  {vr:10.1f} {vc:7.2f} {int(ver_kib)/1024:8.1f} {vr/sdk:5.2f}x {sdk_cpu/vc*cores:7.2f}x")
print("  /SDK: rate over the SDK's measured rate, in this run; /SDK cpu: CPU time per validator, the")
print(f"  SDK's over ours, times {cores} cores (the ratio with every core free: the machine may be shared)")
print("goals: run >= 6.5x the SDK's single-core rate, verify >= 26x, peak RSS <= 64 MiB at 10,000")
PY
