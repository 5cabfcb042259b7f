#!/usr/bin/env bash
# `make demo`: the whole job on embedded defaults, on this machine only.
#   SoftHSM token → ceremony keys (seal + identity) → local anvil chain with the pool contracts
#   and devnet stand-ins → a ceremony for 4 validators and the 4 devnet operators → verify →
#   governance approves the batch root → the online agent stakes (when present) → summary.
# Everything lands in demo-out/ (recreated on each run). DEMO-ONLY PINs and keys: never reuse.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
. "$root/scripts/lib.sh"
out="$root/demo-out"

rm -rf "$out"
mkdir -p "$out"
cd "$root"

say "building (debug profile, dependencies optimised)"
cargo build --locked -q -p ceremony -p signer-agent
bin="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/debug"

say "SoftHSM token 'ceremony' (demo PINs)"
export KC_HSM_DIR="$out/softhsm" KC_HSM_LABEL=ceremony KC_HSM_USER_PIN=demo-user-pin KC_HSM_SO_PIN=demo-so-pin
softhsm_env
printf '%s\n' "$KC_HSM_USER_PIN" >"$out/pin"
chmod 600 "$out/pin"
"$bin/ceremony" hsm init --token ceremony --pin-file "$out/pin" --json | tee "$out/hsm-init.json"
identity="$(json_field "$out/hsm-init.json" identity_key public_key)"

say "local chain (anvil) and the pool contracts"
. contracts/tools.sh
port="$(free_port)"
"$ANVIL" --port "$port" --silent >"$out/anvil.log" 2>&1 &
anvil_pid=$!
trap 'kill $anvil_pid 2>/dev/null || true' EXIT
export RPC_URL="http://127.0.0.1:$port"
wait_for --pid "$anvil_pid" --log "$out/anvil.log" 30 "anvil on port $port" "$CAST" chain-id --rpc-url "$RPC_URL"
scripts/deploy-devnet.sh "$out/deploy.json" >/dev/null
pool="$(json_field "$out/deploy.json" pool_manager)"
ids="$(python3 -c 'import json,sys; print(",".join(map(str, json.load(open(sys.argv[1]))["operator_ids"])))' "$out/deploy.json")"
echo "PoolManager $pool, SSV operators $ids"
# The operators' keys as the SSV contract holds them, with provenance (chain, contract, block)
"$bin/signer-agent" --rpc-url "$RPC_URL" --chain-id "$("$CAST" chain-id --rpc-url "$RPC_URL")" \
  --deployment "$out/deploy.json" operators export --ids "$ids" --out "$out/operators.pinned.json"

say "the ceremony plan (4 validators, withdrawals and SSV ownership to the PoolManager)"
# anvil is a devnet: its bundle is for a custom network (the operators' provenance names chain
# 31337, which is no named network's chain; the exemption is recorded in the transcript).
cat >"$out/plan.toml" <<EOF
[ceremony]
id = "demo-$(date -u +%Y%m%d-%H%M%S)"
network = "custom"
fork_version = "0x10000038"
validators = 4
start_index = 0

[deposit]
withdrawal_address = "$pool"
withdrawal_type = "0x01"
amount_gwei = 32000000000

[ssv]
owner_address = "$pool"
owner_nonce = 0
operators_file = "operators.pinned.json"

[hsm]
module = "${KC_PKCS11_MODULE:-/usr/lib/softhsm/libsofthsm2.so}"
token_label = "ceremony"

[seed]
source = "hsm"
EOF
cat "$out/plan.toml"

say "ceremony run"
"$bin/ceremony" run --plan "$out/plan.toml" --out "$out/bundle" --pin-file "$out/pin" \
  --administrator "Demo Administrator" --witness "Demo Witness One" --witness "Demo Witness Two"

say "ceremony verify (as an auditor, pinned to the identity key)"
"$bin/ceremony" verify "$out/bundle" --identity "$identity"

root_hash="$(json_field "$out/bundle/manifest.json" merkle_root)"
say "governance approves batch $root_hash on chain"
"$CAST" send --rpc-url "$RPC_URL" --private-key "$KC_DEV_KEY0" "$pool" "approveBatch(bytes32,uint8,uint64[])" "$root_hash" 1 "[$ids]" >/dev/null
"$CAST" call --rpc-url "$RPC_URL" "$pool" "getBatch(bytes32)((bool,uint8,bytes32))" "$root_hash"

if [ -x scripts/demo-agent.sh ]; then
  say "the online agent: import, stake, oracle report, rebase"
  scripts/demo-agent.sh "$out" "$bin"
fi

# Hook for tools that read the demo's chain while it still runs (scripts/fuzz-seeds.sh).
if [ -n "${KC_DEMO_AFTER:-}" ]; then "$KC_DEMO_AFTER" "$out"; fi

say "summary"
python3 - "$out/bundle" <<'EOF'
import json, sys
b = sys.argv[1]
m = json.load(open(f"{b}/manifest.json"))
print(f"ceremony   {m['ceremony_id']} on {m['network']['name']}, identity {m['identity']['fingerprint'][:16]}…")
print(f"batch root {m['merkle_root']}")
for v in m["validators"]:
    print(f"  validator {v['index']}: 0x{v['pubkey'][:16]}… nonce {v['owner_nonce']} deposit root {v['deposit_data_root'][:16]}…")
print(f"bundle     {b}")
EOF
