#!/usr/bin/env bash
# The online half of `make demo` (called by scripts/demo.sh after governance approved the batch):
#   the agent's secp256k1 transaction key in the SoftHSM token → OPERATOR_ROLE and gas money →
#   `signer-agent verify` + `import` of the ceremony bundle → demo users deposit 128.1 ETH →
#   `signer-agent run --once` stakes the 4 validators (deposit contract + SSV v2 registration in
#   one tx, the cluster's fees paid in ETH from the pool) →
#   a Beacon API fixture reports 4 × 32.01 ETH → oracle reports from a quorum of 2 members
#   (the agent's HSM key and governance's dev key) → poolETH rebases.
# usage: scripts/demo-agent.sh OUT BIN   (OUT = demo-out, BIN = the directory of the binaries)
# Needs what demo.sh exports: RPC_URL, SOFTHSM2_CONF (token `ceremony`, PIN in OUT/pin).
# DEMO-ONLY keys (anvil's public dev accounts) and PINs: never reuse.
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 OUT BIN" >&2; exit 2; }
out="$(cd "$1" && pwd)"
bin="$2"
root="$(cd "$(dirname "$0")/.." && pwd)"
. "$root/contracts/tools.sh"
: "${RPC_URL:?RPC_URL (the anvil of demo.sh) is not set}"
: "${SOFTHSM2_CONF:?SOFTHSM2_CONF (the SoftHSM of demo.sh) is not set}"
say() { printf '\n== %s\n' "$*"; }
num() { awk '{print $1}'; }   # cast prints "123 [1.23e2]"
eth() { "$CAST" from-wei "$1"; }
c() { "$CAST" "$@" --rpc-url "$RPC_URL"; }
submitted() { python3 -c 'import json,sys; s=json.load(sys.stdin); print("  frame %s, tx %s, block %s" % (s["frame"], s["tx"], s["block"]))'; }
export SIGNER_AGENT_LOG="${SIGNER_AGENT_LOG:-warn}"   # the agent's logs (stderr): warnings only

dep="$out/deploy.json"
field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$dep" "$1"; }
pool="$(field pool_manager)"; pool_eth="$(field pool_eth)"; oracle="$(field oracle)"
dc="$(field deposit_contract)"; ssv="$(field ssv_network)"
identity="$(awk '/^identity public key/ {print $4}' "$out/hsm-init.txt")"
# anvil's public dev accounts: 0 = deployer/governance/oracle member, 2 and 3 = demo users
gov_key=0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80
alice_key=0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a
bob_key=0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6
alice="$("$CAST" wallet address "$alice_key")"; bob="$("$CAST" wallet address "$bob_key")"

mkdir -p "$out/agent"
cfg="$out/agent/agent.toml"
cat >"$cfg" <<EOF
# signer-agent configuration for the demo (paths relative to this file)
rpc_url = "$RPC_URL"
chain_id = $(c chain-id)
deployment = "../deploy.json"
state_dir = "state"
confirmations = 1
metrics_addr = "127.0.0.1:0"
trusted_identities = ["$identity"]

[signer]
module = "${KC_PKCS11_MODULE:-/usr/lib/softhsm/libsofthsm2.so}"
token_label = "ceremony"
key_label = "agent-tx"
pin_file = "../pin"

[run]
poll_interval_secs = 1
EOF
agent() { "$bin/signer-agent" --config "$cfg" "$@"; }

say "agent transaction key 'agent-tx' (secp256k1, in the SoftHSM token, never extractable)"
addr="$(agent key init)"
echo "agent address $addr"
c send --private-key "$gov_key" --value 10ether "$addr" >/dev/null
role="$(c call "$pool" 'OPERATOR_ROLE()(bytes32)')"
c send --private-key "$gov_key" "$pool" 'grantRole(bytes32,address)' "$role" "$addr" >/dev/null
c send --private-key "$gov_key" "$oracle" 'addMember(address,uint256)' "$addr" 2 >/dev/null
echo "funded with 10 ETH; OPERATOR_ROLE on the PoolManager: $(c call "$pool" 'hasRole(bytes32,address)(bool)' "$role" "$addr");" \
  "oracle member: $(c call "$oracle" 'isMember(address)(bool)' "$addr"), quorum now $(c call "$oracle" 'quorum()(uint256)' | num)"

say "signer-agent verify + import (shared verification, pinned identity, chain checks)"
agent verify "$out/bundle"
agent import "$out/bundle"

say "demo users deposit 128.1 ETH into the pool (4 × 32 ETH and the SSV cluster's ETH fees)"
c send --private-key "$alice_key" --value 96ether "$pool" 'deposit()' >/dev/null
c send --private-key "$bob_key" --value 32.1ether "$pool" 'deposit()' >/dev/null
echo "SSV network $(c call "$ssv" 'getVersion()(string)') (ETH-paid clusters)"
echo "alice $alice: $(eth "$(c call "$pool_eth" 'balanceOf(address)(uint256)' "$alice" | num)") poolETH"
echo "bob   $bob: $(eth "$(c call "$pool_eth" 'balanceOf(address)(uint256)' "$bob" | num)") poolETH"
echo "pool buffer: $(eth "$(c call "$pool" 'bufferedEther()(uint256)' | num)") ETH"

say "signer-agent plan, then run --once (stakes through the HSM-signed transaction)"
agent plan
agent run --once 2>"$out/agent/run.log" || { cat "$out/agent/run.log" >&2; exit 1; }
count_logs() { c logs --json --from-block 0 --address "$1" "$2" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'; }
deposits="$(count_logs "$dc" 'DepositEvent(bytes,bytes,bytes,bytes,bytes)')"
added="$(count_logs "$ssv" 'ValidatorAdded(address,uint64[],bytes,bytes,(uint32,uint64,uint64,bool,uint256))')"
staked_tx="$(agent status --json | python3 -c 'import json,sys; print(sorted({v["tx_hash"] for v in json.load(sys.stdin)["validators"]}))')"
agent status
agent clusters status
echo "on chain: $deposits DepositEvents, $added SSV ValidatorAdded events," \
  "PoolManager depositedValidators = $(c call "$pool" 'depositedValidators()(uint256)' | num); transactions $staked_tx"
[ "$deposits" = 4 ] && [ "$added" = 4 ] || { echo "demo-agent: expected 4 deposits and 4 registrations" >&2; exit 1; }

say "oracle: a Beacon API fixture (4 validators at 32.01 ETH), a week later, reports from 2 of 2 members"
beacon_port=15052
python3 "$root/scripts/beacon-fixture.py" "$beacon_port" "$out/bundle/deposit_data.json" 32010000000 2>"$out/agent/beacon.log" &
beacon_pid=$!
trap 'kill $beacon_pid 2>/dev/null || true' EXIT
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$beacon_port/eth/v1/beacon/genesis" >/dev/null 2>&1 && break; sleep 0.1; done
# The Oracle bounds the rise per year pro rata: let a week pass, and start at a frame's beginning
# so that both members report in the same frame.
genesis="$(c call "$oracle" 'genesisTime()(uint256)' | num)"
frame="$(c call "$oracle" 'secondsPerFrame()(uint256)' | num)"
now="$(c block latest --field timestamp)"
target=$(( now + 7 * 86400 ))
target=$(( target - (target - genesis) % frame + frame + 1 ))
c rpc evm_setNextBlockTimestamp "$target" >/dev/null
c rpc evm_mine >/dev/null
a_before="$(c call "$pool_eth" 'balanceOf(address)(uint256)' "$alice" | num)"
b_before="$(c call "$pool_eth" 'balanceOf(address)(uint256)' "$bob" | num)"
total_before="$(c call "$pool" 'totalPooledEther()(uint256)' | num)"
agent --beacon-url "http://127.0.0.1:$beacon_port" oracle report --state head --dry-run
echo "member 1: the agent (HSM key)"
agent --beacon-url "http://127.0.0.1:$beacon_port" oracle report --state head |
  submitted
printf '%s\n' "$gov_key" >"$out/agent/member0.key"; chmod 600 "$out/agent/member0.key"
echo "member 2: governance (development key; quorum reached, report applied)"
agent --beacon-url "http://127.0.0.1:$beacon_port" --dev-private-key-file "$out/agent/member0.key" \
  oracle report --state head |
  submitted
kill $beacon_pid 2>/dev/null || true
rebased="$(count_logs "$pool" 'TokenRebased(uint256,uint256,uint256,uint256,uint256,uint256)')"
a_after="$(c call "$pool_eth" 'balanceOf(address)(uint256)' "$alice" | num)"
b_after="$(c call "$pool_eth" 'balanceOf(address)(uint256)' "$bob" | num)"
total_after="$(c call "$pool" 'totalPooledEther()(uint256)' | num)"

say "agent summary"
cat <<EOF
validators staked     4 (DepositEvents $deposits, ValidatorAdded $added), transactions $staked_tx
pool total            $(eth "$total_before") ETH → $(eth "$total_after") ETH  (TokenRebased events: $rebased)
alice poolETH         $(eth "$a_before") → $(eth "$a_after")
bob   poolETH         $(eth "$b_before") → $(eth "$b_after")
EOF
[ "$rebased" = 1 ] && [ "$a_after" != "$a_before" ] || { echo "demo-agent: no rebase" >&2; exit 1; }
