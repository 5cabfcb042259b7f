#!/usr/bin/env bash
# Builds kryoptic, a second PKCS#11 software token (crates.io, pinned), into .tools/kryoptic:
# the module is .tools/kryoptic/libkryoptic_pkcs11.so. Idempotent: a module built from the
# pinned version is left alone. Needs the Debian packages of scripts/install-apt.sh (clang for
# bindgen, the OpenSSL and SQLite headers).
#
# Features are picked by hand: the crate's default set includes EdDSA, which needs OpenSSL 3.2,
# and Debian 12 ships 3.0; `minimal` (AES, RSA, ECDSA/ECDH, hashes, SQLite store) is what the
# ceremony and the agent use, and `dynamic` links the system OpenSSL.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
version="1.5.4"
dir="$root/.tools/kryoptic"
module="$dir/libkryoptic_pkcs11.so"
stamp="$dir/VERSION"
if [ -f "$module" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$version" ]; then
  exit 0
fi
mkdir -p "$dir"
# Fetch the pinned crate through cargo (its own lock file comes with it), then build it as a
# package of its own, outside the workspace.
fetch="$dir/fetch"
mkdir -p "$fetch/src"
cat >"$fetch/Cargo.toml" <<TOML
[package]
name = "kc-fetch-kryoptic"
version = "0.0.0"
edition = "2021"
publish = false
[workspace]
[dependencies]
kryoptic = { version = "=$version", default-features = false }
TOML
: >"$fetch/src/lib.rs"
src="$(cd "$fetch" && cargo metadata --format-version 1 2>/dev/null \
  | python3 -c 'import json,sys; m=json.load(sys.stdin); print(next(p["manifest_path"] for p in m["packages"] if p["name"]=="kryoptic"))')"
src="$(dirname "$src")"
rm -rf "$dir/src"
cp -r "$src" "$dir/src"
chmod -R u+w "$dir/src"
# A package of its own, not a member of this repository's workspace.
printf '\n[workspace]\n' >>"$dir/src/Cargo.toml"
start=$(date +%s)
(cd "$dir/src" && CARGO_TARGET_DIR="$dir/target" cargo build --release --locked \
  --no-default-features --features minimal,kryoptic-lib/dynamic)
cp "$dir/target/release/libkryoptic_pkcs11.so" "$module.tmp"
mv "$module.tmp" "$module"
echo "$version" >"$stamp"
echo "built kryoptic $version in $(( $(date +%s) - start )) s: $module"
