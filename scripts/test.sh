#!/usr/bin/env bash
# The README's test command: set up, then run every test that can run on a CPU-only machine.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
python3 -m pytest -m "not gpu and not network" "$@"
