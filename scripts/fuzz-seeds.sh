#!/usr/bin/env bash
# Fresh seed inputs for the fuzz targets, from real outputs of the project's own tools
# (docs/fuzzing.md): a `make demo` run (bundle, operators with provenance, agent config, and —
# through the demo's KC_DEMO_AFTER hook — every log and receipt of its anvil chain), keyshares
# built by the SSV SDK for 4 and 7 operators, deposit data written by ethstaker-deposit 1.3.1,
# Beacon API answers in the fixture's shapes. The committed fuzz/corpus holds the small ones;
# these are regenerated at fuzz time.
# usage: scripts/fuzz-seeds.sh [OUT]   (default target/fuzz/seeds; needs `make tools`)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-$root/target/fuzz/seeds}"
py="${KC_PYTHON:-$root/.tools/venv/bin/python}"
sdk="${KC_SSV_SDK_DIR:-$root/tools/ssv-sdk}"
raw="$(mktemp -d)"
trap 'rm -rf "$raw"' EXIT
rm -rf "$out"
mkdir -p "$out"

echo "== seeds: make demo (bundle, operators, agent, chain logs and receipts)"
KC_DEMO_AFTER="$root/scripts/fuzz-chain-seeds.py" "$root/scripts/demo.sh" >"$raw/demo.log" 2>&1 \
  || { tail -n 30 "$raw/demo.log" >&2; echo "fuzz-seeds: the demo failed" >&2; exit 1; }
demo="$root/demo-out"

echo "== seeds: keyshares built by the SSV SDK"
ks=()
for ids in "4242,17,1001,203" "9000,17,1001,203,55,4242,600"; do
  d="$raw/sdk-${ids//,/-}"
  mkdir -p "$d"
  printf '{"validators": ["0x%s", "0x%s"], "operatorIds": [%s], "owner": "0x%s", "nonce": 7}\n' \
    "1$(printf 'kc-fuzz-1' | sha256sum | cut -c2-64)" "2$(printf 'kc-fuzz-2' | sha256sum | cut -c2-64)" \
    "$ids" "$(printf 'kc-fuzz-owner' | sha256sum | cut -c1-40)" >"$d/spec.json"
  node "$root/crates/ssv/tests/interop/build_shares.js" "$sdk" "$d/spec.json" "$d" >/dev/null
  ks+=(--keyshares "$d/keyshares.json")
done

echo "== seeds: deposit data written by ethstaker-deposit"
echo '{"cases": [
  {"mnemonic": "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about", "passphrase": "", "network": "hoodi", "start_index": 0, "count": 3, "amount": 32000000000, "compounding": false, "withdrawal_address": "0x2279B7A0a67DB372996a5FaB50D91eAA73d2eBe6", "exits": []},
  {"mnemonic": "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about", "passphrase": "x", "network": "mainnet", "start_index": 7, "count": 2, "amount": 2048000000000, "compounding": true, "withdrawal_address": "0x2279B7A0a67DB372996a5FaB50D91eAA73d2eBe6", "exits": []}
]}' | "$py" "$root/crates/validator/tests/reference/ethstaker_reference.py" >"$raw/ethstaker.json"
deps=()
for i in 0 1; do
  "$py" -c 'import json,sys; sys.stdout.write(json.load(open(sys.argv[1]))["cases"][int(sys.argv[2])]["deposit_file"])' \
    "$raw/ethstaker.json" "$i" >"$raw/ethstaker-$i.json"
  deps+=(--deposit "$raw/ethstaker-$i.json")
done

logs=(); receipts=()
for f in "$demo"/chain/logs-*.json; do logs+=(--logs "$f"); done
for f in "$demo"/chain/receipt-*.json; do receipts+=(--receipt "$f"); done
python3 "$root/scripts/fuzz-corpus.py" "$out" --bundle "$demo/bundle" --agent-config "$demo/agent/agent.toml" \
  --operators "$demo/operators.json" --operators "$demo/operators.pinned.json" \
  "${ks[@]}" "${deps[@]}" "${logs[@]}" "${receipts[@]}"
echo "seeds: $(find "$out" -type f | wc -l) files in $out"
