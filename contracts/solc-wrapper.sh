#!/usr/bin/env bash
# Lets `forge --use contracts/solc-wrapper.sh` drive the npm `solc` package (solcjs), because no
# native solc binary is available here. Forge calls a solc binary two ways:
#   --version          -> it parses "Version: X.Y.Z+commit.H" from the reply
#   --standard-json …  -> JSON on stdin (sources inlined), JSON on stdout
# solcjs prints notices starting with ">>>" on stdout, which would corrupt the JSON: drop them.
set -euo pipefail
[ -n "${SOLC_WRAPPER_LOG:-}" ] && echo "$$ $(date +%T.%N) $*" >>"$SOLC_WRAPPER_LOG"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
solcjs="$here/node_modules/solc/solc.js"
[ -f "$solcjs" ] || { echo "solc-wrapper: $solcjs missing (run scripts/install-node.sh)" >&2; exit 127; }
for arg in "$@"; do
  case "$arg" in
    --version)
      v="$(node "$solcjs" --version)"           # e.g. 0.8.37+commit.f401782d.Emscripten.clang
      v="${v%%.Emscripten*}"
      printf 'solc, the solidity compiler commandline interface\nVersion: %s.Linux.g++\n' "$v"
      exit 0 ;;
  esac
done
# Forge always inlines the sources, so path flags (--allow-paths, --base-path …) are not needed.
# Both ends go through files: solcjs reads stdin with one readFileSync, which fails (EAGAIN) on the
# non-blocking pipe forge hands it, and it calls process.exit() right after printing, which would
# cut a piped stdout at 64 KiB. A node stream copies stdin to a file first; files are synchronous.
tmp="$(mktemp -d "${TMPDIR:-/tmp}/solcjs.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
node -e 'process.stdin.pipe(require("fs").createWriteStream(process.argv[1]))' "$tmp/in.json"
rc=0
node "$solcjs" --standard-json <"$tmp/in.json" >"$tmp/out.json" || rc=$?
sed '/^>>>/d' "$tmp/out.json"
exit "$rc"
