"""Files and folders only their owner can read (0600 and 0700), whatever the process's umask.

Everything that holds users' data goes through here: run stores, the service's data dir and batch files,
command logs, run outputs. A file that already exists is narrowed to 0600 too; a folder given by the user
that already exists is left as it is (it may be shared on purpose), only folders created here are 0700.

Example::

    private_dir(out)                                  # created 0700 (with missing parents)
    write_private_text(out / "report.json", text)     # 0600, written to a temporary name then renamed
    with open_private(out / "answers.jsonl") as fh:   # 0600
        fh.write(line)
    touch_private(db_path)                            # before sqlite3.connect: its -wal/-shm copy the mode
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TextIO, cast

PRIVATE_FILE_MODE = 0o600
PRIVATE_DIR_MODE = 0o700


def private_dir(path: str | Path) -> Path:
    """Create ``path`` and its missing parents as 0700 folders; an existing folder is left unchanged.

    Raises:
        OSError: the folder cannot be created.
    """
    p = Path(path)
    missing = []
    for parent in (p, *p.parents):
        if parent.exists():
            break
        missing.append(parent)
    p.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
    for created in missing:  # mkdir's mode is masked by the umask: set it explicitly
        os.chmod(created, PRIVATE_DIR_MODE)
    return p


def touch_private(path: str | Path) -> Path:
    """Create ``path`` (and its folder, :func:`private_dir`) as an empty 0600 file, or narrow an existing
    one to 0600.

    Raises:
        OSError: the file cannot be created or its mode changed.
    """
    p = Path(path)
    private_dir(p.parent)
    fd = os.open(p, os.O_CREAT | os.O_WRONLY, PRIVATE_FILE_MODE)
    try:
        os.fchmod(fd, PRIVATE_FILE_MODE)
    finally:
        os.close(fd)
    return p


def open_private(
    path: str | Path, mode: str = "w", encoding: str | None = "utf-8", buffering: int = -1
) -> TextIO:
    """Open ``path`` for writing (``"w"`` or ``"a"``, text; ``buffering`` as for :func:`open`) as a 0600
    file.

    Raises:
        OSError: the file cannot be created.
    """
    if mode not in ("w", "a"):
        raise ValueError(f"open_private: mode {mode!r} must be 'w' or 'a'")
    flags = os.O_CREAT | os.O_WRONLY | (os.O_TRUNC if mode == "w" else os.O_APPEND)
    fd = os.open(path, flags, PRIVATE_FILE_MODE)
    os.fchmod(fd, PRIVATE_FILE_MODE)
    return cast(TextIO, os.fdopen(fd, mode, buffering=buffering, encoding=encoding))


def write_private_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` as a 0600 file, atomically: a temporary file beside it, then a rename,
    so a reader (or a kill) sees the old content or the new one, never a part.

    Raises:
        OSError: the file cannot be written.
    """
    p = Path(path)
    fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=f".{p.name}.", suffix=".tmp")  # mkstemp: 0600
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return p


def write_private_text(path: str | Path, text: str, encoding: str = "utf-8") -> Path:
    """:func:`write_private_bytes` of ``text`` encoded."""
    return write_private_bytes(path, text.encode(encoding))


def narrow_tree(path: str | Path) -> Path:
    """Make every file below ``path`` 0600 and every folder below it 0700 (``path`` itself is left as it
    is): for outputs that other tools wrote (ffmpeg, matplotlib) beside our own private files.

    Raises:
        OSError: a mode cannot be changed.
    """
    root = Path(path)
    for p in root.rglob("*"):
        if p.is_symlink():
            continue
        os.chmod(p, PRIVATE_DIR_MODE if p.is_dir() else PRIVATE_FILE_MODE)
    return root
