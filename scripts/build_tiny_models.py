"""Build the tiny local Llama pool for tests and demos: ``python3 scripts/build_tiny_models.py [ROOT]``.

ROOT defaults to ``$SYMOE_TINY_MODELS_DIR``, then ``$SYMOE_HOME/tiny-models``. Models that
are already built and current are left alone.
"""

from __future__ import annotations

import json
import os
import sys

from zoo.tiny import ensure_tiny_pool


def main(argv: list[str]) -> int:
    root = argv[0] if argv else os.environ.get("SYMOE_TINY_MODELS_DIR") or None
    for name, path in ensure_tiny_pool(root).items():
        params = json.loads((path / "tiny_model.json").read_text(encoding="utf-8"))["params"]
        print(f"{name}\t{params}\t{path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
