#!/usr/bin/env bash
# Creates .tools/venv with the pinned Python test tools. Idempotent: does nothing when the
# requirements file has not changed since the last successful install.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/.tools/venv"
req="$root/tools/python/requirements.txt"
stamp="$venv/.installed-$(sha256sum "$req" | cut -c1-16)"
[ -f "$stamp" ] && exit 0
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req"
touch "$stamp"
echo "python tools installed in $venv"
