#!/usr/bin/env bash
# Builds and tests the contracts (issue #5): forge build, forge test with a gas report (unit, fuzz,
# invariant tests), the SSV mainnet ABI check, the stake gas table, and a deploy on a fresh anvil.
# Tools come from contracts/node_modules (scripts/install-node.sh); missing tools are an error.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root/contracts"
. ./tools.sh
export KC_SSV_SDK_DIR="${KC_SSV_SDK_DIR:-$root/tools/ssv-sdk}"
[ -d "$KC_SSV_SDK_DIR/node_modules/@ssv-labs/ssv-sdk" ] || kc_die "ssv-sdk missing in $KC_SSV_SDK_DIR (run scripts/install-node.sh)"

echo "== forge build"
"$FORGE" build --use ./solc-wrapper.sh

echo "== forge test (gas report)"
rm -f cache/gas-stake-*.json
"$FORGE" test --use ./solc-wrapper.sh --gas-report

echo "== SSV stand-in vs mainnet ABI (@ssv-labs/ssv-sdk)"
node test/abi/check-ssv-abi.js | tail -n 1

echo "== stake gas per validator (devnet stand-ins; GAS.md)"
node -e '
const fs = require("fs");
const rows = fs.readdirSync("cache").filter(f => /^gas-stake-.*\.json$/.test(f))
  .map(f => [f.slice(10, -5), JSON.parse(fs.readFileSync("cache/" + f))])
  .sort((a, b) => a[0].split("_")[0].localeCompare(b[0].split("_")[0]) || a[1].validators - b[1].validators);
if (!rows.length) { console.error("no gas results"); process.exit(1); }
console.log("cluster  k   execution    calldata   tx (est.)   per validator");
for (const [k, r] of rows) console.log(
  k.split("_")[0].padEnd(7), String(r.validators).padStart(3), String(r.execution_gas).padStart(11),
  String(r.calldata_gas).padStart(10), String(r.tx_gas_estimate).padStart(11), String(r.tx_gas_per_validator).padStart(14));
'

echo "== deploy on a fresh anvil"
tmp="$(mktemp -d)"
port=$((20000 + RANDOM % 20000))
"$ANVIL" --port "$port" --silent >"$tmp/anvil.log" 2>&1 &
anvil_pid=$!
trap 'kill "$anvil_pid" 2>/dev/null || true; rm -rf "$tmp"' EXIT
for _ in $(seq 50); do "$CAST" chain-id --rpc-url "http://127.0.0.1:$port" >/dev/null 2>&1 && break; sleep 0.2; done
RPC_URL="http://127.0.0.1:$port" "$root/scripts/deploy-devnet.sh" "$tmp/deploy.json" >"$tmp/deploy.log" 2>&1 \
  || { cat "$tmp/deploy.log" >&2; kc_die "deploy-devnet.sh failed"; }
node -e '
const d = require(process.argv[1]);
for (const k of ["deposit_contract","ssv_network","ssv_token","pool_manager","pool_eth","oracle"])
  if (!/^0x[0-9a-fA-F]{40}$/.test(d[k] || "")) { console.error("deploy json: bad " + k); process.exit(1); }
if (d.chain_id !== 31337 || d.operator_ids.length !== 4) { console.error("deploy json: chain/operators"); process.exit(1); }
' "$tmp/deploy.json"
for k in deposit_contract ssv_network pool_manager pool_eth oracle; do
  addr="$(node -p "require('$tmp/deploy.json').$k")"
  [ "$("$CAST" code "$addr" --rpc-url "http://127.0.0.1:$port")" != "0x" ] || kc_die "no code at $k $addr"
done
"$CAST" call "$(node -p "require('$tmp/deploy.json').ssv_network")" "getOperatorById(uint64)(address,uint256,uint32,address,bool,bool)" 4 \
  --rpc-url "http://127.0.0.1:$port" >/dev/null || kc_die "operator 4 not readable"
echo "deploy: ok ($(node -p "Object.keys(require('$tmp/deploy.json')).join(', ')"))"
echo "contracts: all checks passed"
