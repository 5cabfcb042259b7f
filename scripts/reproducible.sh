#!/usr/bin/env bash
# `make reproducible`: builds the ceremony twice, from two clean checkouts of HEAD in different
# directories, and succeeds only if the two executables are byte-identical. Prints the SHA-256
# that auditors compare with a bundle's `tool.binary_sha256` (`ceremony verify --expect-binary`).
#
# What makes the build reproducible: the pinned toolchain (rust-toolchain.toml), `--locked`,
# path remapping of the checkout, cargo home and toolchain (`--remap-path-prefix`, and
# `-ffile-prefix-map` for C code such as blst), no debug info in release, a fixed
# SOURCE_DATE_EPOCH (the commit's time), and the git commit embedded by ceremony/build.rs.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d /tmp/kc-repro.XXXXXX)"
trap 'rm -rf "$work"' EXIT
commit="$(git -C "$root" rev-parse HEAD)"
[ -z "$(git -C "$root" status --porcelain --untracked-files=no)" ] || echo "note: uncommitted changes are not part of the build (HEAD $commit is built)" >&2
export SOURCE_DATE_EPOCH="$(git -C "$root" log -1 --format=%ct HEAD)"
cargo_home="${CARGO_HOME:-$HOME/.cargo}"
sysroot="$(cd "$root" && rustc --print sysroot)"
hashes=()
for side in a b; do
  dir="$work/checkout-$side-$RANDOM"
  git clone -q "$root" "$dir"
  git -C "$dir" checkout -q "$commit"
  remap="--remap-path-prefix=$dir=/build --remap-path-prefix=$cargo_home=/cargo --remap-path-prefix=$sysroot=/rustc"
  echo "building in $dir" >&2
  (cd "$dir" && \
    RUSTFLAGS="$remap" \
    CFLAGS="-ffile-prefix-map=$dir=/build -ffile-prefix-map=$cargo_home=/cargo" \
    CARGO_TARGET_DIR="$dir/target" \
    cargo build --release --locked -q -p ceremony)
  hashes+=("$(sha256sum "$dir/target/release/ceremony" | cut -d' ' -f1)")
done
echo "build a: ${hashes[0]}"
echo "build b: ${hashes[1]}"
if [ "${hashes[0]}" = "${hashes[1]}" ]; then
  echo "reproducible: ceremony $commit sha256 ${hashes[0]}"
else
  echo "NOT reproducible: the two builds differ" >&2
  exit 1
fi
