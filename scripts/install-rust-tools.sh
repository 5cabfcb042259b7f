#!/usr/bin/env bash
# Makes sure the pinned toolchain (rust-toolchain.toml) and cargo-nextest are present.
# The machine image ships both; this only acts on a machine that lacks them.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
want="$(sed -n 's/^channel = "\(.*\)"/\1/p' "$root/rust-toolchain.toml")"
if ! rustup toolchain list | grep -q "^$want"; then
  # Offline machines carry the same release as `stable`: link it under its version name.
  have="$(rustc +stable --version | awk '{print $2}')"
  if [ "$have" = "$want" ]; then
    rustup toolchain link "$want" "$(rustc +stable --print sysroot)"
  else
    rustup toolchain install "$want" --profile minimal -c rustfmt -c clippy
  fi
fi
cargo nextest --version >/dev/null 2>&1 || cargo install cargo-nextest --locked --version 0.9.143
