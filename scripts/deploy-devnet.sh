#!/usr/bin/env bash
# Deploys the pool and its devnet stand-ins to a running anvil (or any dev chain) and writes the
# addresses as JSON to OUT (see contracts/README.md for the format and the variables).
#   usage: scripts/deploy-devnet.sh OUT.json
#   env:   RPC_URL (default http://127.0.0.1:8545), DEPLOYER_KEY (default: anvil account 0),
#          OPERATORS_FILE (JSON [{"public_key": ...}]; default: 4 fresh RSA-2048 keys written
#          next to OUT as operators/ with their private keys, for devnet operator stand-ins),
#          GOVERNANCE, OPERATOR, ORACLE_MEMBERS, ORACLE_QUORUM, ORACLE_FRAME_SECONDS, TREASURY, …
# Also writes OUT's directory/operators.json: [{"id", "public_key"}] as the ceremony plan reads it.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
[ $# -eq 1 ] || { echo "usage: $0 OUT.json" >&2; exit 2; }
out="$(mkdir -p "$(dirname "$1")" && cd "$(dirname "$1")" && pwd)/$(basename "$1")"
outdir="$(dirname "$out")"
. "$root/contracts/tools.sh"
export RPC_URL="${RPC_URL:-http://127.0.0.1:8545}"
# anvil's well-known first dev account (public test key, never a real secret)
export DEPLOYER_KEY="${DEPLOYER_KEY:-0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80}"
"$CAST" chain-id --rpc-url "$RPC_URL" >/dev/null 2>&1 || kc_die "no chain at $RPC_URL (start anvil first)"

if [ -z "${OPERATORS_FILE:-}" ]; then
  keys="$outdir/operators"
  mkdir -p "$keys"
  entries=()
  for i in 1 2 3 4; do
    [ -f "$keys/operator-$i.key.pem" ] || openssl genrsa -out "$keys/operator-$i.key.pem" 2048 2>/dev/null
    # as published on the SSV network: base64 of a PEM whose label says RSA PUBLIC KEY, SPKI body
    pem="$(openssl rsa -in "$keys/operator-$i.key.pem" -pubout 2>/dev/null | sed 's/BEGIN PUBLIC KEY/BEGIN RSA PUBLIC KEY/; s/END PUBLIC KEY/END RSA PUBLIC KEY/')"
    entries+=("{\"public_key\": \"$(printf '%s\n' "$pem" | base64 -w0)\"}")
  done
  (IFS=,; echo "[${entries[*]}]") >"$keys/public-keys.json"
  export OPERATORS_FILE="$keys/public-keys.json"
fi
export OPERATORS_FILE="$(cd "$(dirname "$OPERATORS_FILE")" && pwd)/$(basename "$OPERATORS_FILE")"

cd "$root/contracts"
mkdir -p deployments
# forge may read only inside the project (fs_permissions): hand it a copy
cp "$OPERATORS_FILE" deployments/operators.input.json
OPERATORS_FILE=deployments/operators.input.json DEPLOY_OPERATORS_SOURCE="$OPERATORS_FILE" \
"$FORGE" script script/Deploy.s.sol:Deploy --use ./solc-wrapper.sh --rpc-url "$RPC_URL" --broadcast --slow -q
cp deployments/devnet.json "$out"
node -e '
const fs = require("fs");
const d = JSON.parse(fs.readFileSync(process.argv[1]));
const keys = JSON.parse(fs.readFileSync(process.argv[2])).map(o => o.public_key);
d.operators_file = process.argv[3];
fs.writeFileSync(process.argv[1], JSON.stringify(d, null, 2) + "\n");
fs.writeFileSync(process.argv[3], JSON.stringify(d.operator_ids.map((id, i) => ({ id, public_key: keys[i] })), null, 2) + "\n");
' "$out" "$OPERATORS_FILE" "$outdir/operators.json"
rm -f deployments/operators.input.json
echo "deployed; addresses in $out"
