#!/usr/bin/env bash
# Installs the pinned npm packages of every package.json the project keeps (tools/ssv-sdk,
# contracts): `npm ci` from the committed lock file. Idempotent: a directory whose lock file has
# not changed since its last install is skipped.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
for dir in tools/ssv-sdk contracts; do
  d="$root/$dir"
  [ -f "$d/package-lock.json" ] || continue
  stamp="$d/node_modules/.installed-$(sha256sum "$d/package-lock.json" | cut -c1-16)"
  [ -f "$stamp" ] && continue
  (cd "$d" && npm ci --force --no-audit --no-fund --loglevel=error >/dev/null)
  touch "$stamp"
  echo "npm packages installed in $dir"
done
