#!/usr/bin/env bash
# Installs symbolic-moe and its test tools into the current Python (>= 3.11). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install --quiet --disable-pip-version-check "torch==2.13.0"
python3 -m pip install --quiet --disable-pip-version-check -e ".[dev]"
