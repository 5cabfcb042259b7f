# Sourced by scripts/test-contracts.sh and scripts/deploy-devnet.sh: finds the pinned Foundry
# binaries that `npm ci` put in contracts/node_modules, and fails loudly when anything is missing.
# The native binaries are used directly: the npm `bin.mjs` shims do not pass on the exit status.
kc_contracts_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$kc_contracts_dir/../scripts/lib.sh"
kc_tool() {
  local tool="$1" arch
  case "$(uname -m)" in
    x86_64|amd64) arch=amd64 ;;
    aarch64|arm64) arch=arm64 ;;
    *) die "unsupported machine $(uname -m)" ;;
  esac
  local bin="$kc_contracts_dir/node_modules/@foundry-rs/$tool-linux-$arch/bin/$tool"
  [ -x "$bin" ] || die "$tool missing at $bin (run scripts/install-node.sh, or make tools)"
  echo "$bin"
}
command -v node >/dev/null || die "node missing (run scripts/install-apt.sh)"
FORGE="$(kc_tool forge)"
CAST="$(kc_tool cast)"
ANVIL="$(kc_tool anvil)"
[ -f "$kc_contracts_dir/node_modules/solc/solc.js" ] || die "npm solc missing (run scripts/install-node.sh)"
[ -d "$kc_contracts_dir/node_modules/@openzeppelin/contracts" ] || die "@openzeppelin/contracts missing (run scripts/install-node.sh)"
export FORGE CAST ANVIL
