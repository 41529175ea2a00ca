"""Opening data files whatever their compression (plain or gzip)."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import IO


def open_text(path: str | Path) -> IO[str]:
    """Open a text file for reading, transparently decompressing ``.gz``."""
    p = Path(path)
    if p.suffix == ".gz":
        return gzip.open(p, "rt", encoding="utf-8")
    return p.open("r", encoding="utf-8")
