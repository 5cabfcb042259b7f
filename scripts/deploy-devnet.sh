#!/usr/bin/env bash
# Deploys the pool and its devnet stand-ins to a running anvil (or any dev chain) and writes the
# addresses as JSON to OUT (see contracts/README.md for the format and the variables).
#   usage: scripts/deploy-devnet.sh OUT.json
#   env:   RPC_URL (default http://127.0.0.1:8545), DEPLOYER_KEY (default: anvil account 0,
#          KC_DEV_KEY0 of scripts/lib.sh),
#          OPERATORS_FILE (JSON [{"public_key": ...}]; default: 4 fresh RSA-2048 keys written
#          next to OUT in operators/ (PKCS#8 private keys, for devnet operator stand-ins)),
#          GOVERNANCE, OPERATOR, ORACLE_MEMBERS, ORACLE_QUORUM, ORACLE_FRAME_SECONDS, TREASURY, …
# Also writes OUT's directory/operators.json: [{"id", "public_key"}] as the ceremony plan reads it.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
[ $# -eq 1 ] || { echo "usage: $0 OUT.json" >&2; exit 2; }
out="$(mkdir -p "$(dirname "$1")" && cd "$(dirname "$1")" && pwd)/$(basename "$1")"
outdir="$(dirname "$out")"
. "$root/scripts/lib.sh"
. "$root/contracts/tools.sh"
export RPC_URL="${RPC_URL:-http://127.0.0.1:8545}"
export DEPLOYER_KEY="${DEPLOYER_KEY:-$KC_DEV_KEY0}"
"$CAST" chain-id --rpc-url "$RPC_URL" >/dev/null 2>&1 || die "no chain at $RPC_URL (start anvil first)"

if [ -z "${OPERATORS_FILE:-}" ]; then
  # 4 fresh RSA-2048 operator keys (node's crypto: no openssl binary needed); public keys as
  # published on the SSV network: base64 of a PEM labelled RSA PUBLIC KEY with an SPKI body
  keys="$outdir/operators"
  mkdir -p "$keys"
  node -e '
const crypto = require("crypto"), fs = require("fs"), path = require("path");
const dir = process.argv[1], out = [];
for (let i = 1; i <= 4; i++) {
  const file = path.join(dir, `operator-${i}.key.pem`);
  if (!fs.existsSync(file)) {
    const { privateKey } = crypto.generateKeyPairSync("rsa", { modulusLength: 2048 });
    fs.writeFileSync(file, privateKey.export({ type: "pkcs8", format: "pem" }), { mode: 0o600, flag: "wx" });
  }
  const pub = crypto.createPublicKey(fs.readFileSync(file)).export({ type: "spki", format: "pem" })
    .replace("BEGIN PUBLIC KEY", "BEGIN RSA PUBLIC KEY").replace("END PUBLIC KEY", "END RSA PUBLIC KEY");
  out.push({ public_key: Buffer.from(pub).toString("base64") });
}
fs.writeFileSync(path.join(dir, "public-keys.json"), JSON.stringify(out, null, 2) + "\n");
' "$keys"
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
