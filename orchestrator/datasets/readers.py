"""Reading raw dataset rows from JSON, JSONL (either gzipped) and Parquet files."""

from __future__ import annotations

import gzip
import json
import logging
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from common.errors import DataError
from common.io import open_text
from common.records import Instance

logger = logging.getLogger(__name__)

Row = dict[str, Any]
"""One raw dataset row, as decoded from the file."""

SUPPORTED_SUFFIXES = (".json", ".json.gz", ".jsonl", ".jsonl.gz", ".parquet")


@dataclass(frozen=True, slots=True)
class LoadResult:
    """Instances loaded from one dataset file.

    Attributes:
        instances: the instances, in file order.
        skipped: how many malformed rows were skipped (always 0 unless ``skip_malformed``).
        path: where they came from: the file path, or ``hf://datasets/<name>/<split>`` for the hub.
    """

    instances: list[Instance]
    skipped: int
    path: str


def describe_validation_error(exc: ValidationError) -> str:
    """Summarise a pydantic error by field and reason only.

    The input values are left out on purpose: they may be question text, and GPQA's questions must
    never appear in logs or error messages. Raise the resulting ``DataError`` ``from None`` for the
    same reason (the chained pydantic error would print the inputs).
    """
    parts = []
    for err in exc.errors(include_url=False, include_context=False, include_input=False):
        loc = ".".join(str(x) for x in err["loc"]) or "row"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


def _suffix(path: Path) -> str:
    name = path.name.lower()
    for suffix in sorted(SUPPORTED_SUFFIXES, key=len, reverse=True):
        if name.endswith(suffix):
            return suffix
    raise DataError(f"unsupported file type; expected one of {', '.join(SUPPORTED_SUFFIXES)}", path=str(path))


SKIP_HINT = "fix the row, or skip such rows with --skip-malformed (skip_malformed=True in Python)"
"""The fix every malformed-row error names (the CLI flag first: most users meet it there)."""


@dataclass(frozen=True, slots=True)
class Malformed:
    """A row that is not a JSON object (or not JSON at all): what is wrong with it."""

    problem: str


def _iter_jsonl(path: Path) -> Iterator[tuple[int, Row | Malformed]]:
    with open_text(path) as f:
        for line_no, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                yield line_no, Malformed(f"invalid JSON ({exc.msg} at column {exc.colno})")
                continue
            if isinstance(row, dict):
                yield line_no, row
            else:
                yield line_no, Malformed(f"row is a JSON {type(row).__name__}")


def _iter_json_list(path: Path) -> Iterator[tuple[int, Row | Malformed]]:
    with open_text(path) as f:
        try:
            data = json.load(f)
        except json.JSONDecodeError as exc:
            # A broken JSON document cannot be read past the error, so skip_malformed does not apply.
            raise DataError(
                f"invalid JSON ({exc.msg} at column {exc.colno})", path=str(path), line=exc.lineno
            ) from exc
    if not isinstance(data, list):
        raise DataError(f"expected a JSON list of objects, got a JSON {type(data).__name__}", path=str(path))
    for index, row in enumerate(data, start=1):
        if isinstance(row, dict):
            yield index, row
        else:
            yield index, Malformed(f"row {index} is a JSON {type(row).__name__}")


def _read_parquet(path: Path) -> list[tuple[int, Row]]:
    import pyarrow as pa  # heavy; only Parquet needs it
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise DataError(f"cannot read Parquet file: {exc}", path=str(path)) from exc
    return list(enumerate(table.to_pylist(), start=1))


def iter_numbered_rows(path: str | Path) -> Iterator[tuple[int, Row | Malformed]]:
    """A dataset file's rows in file order, each with its 1-based line (JSONL) or row number (JSON list,
    Parquet); a row that is not a JSON object comes as :class:`Malformed`, so callers can validate rows
    and report the first problem of either kind in file order.

    Raises:
        DataError: the file is missing, of an unsupported type, or not decodable (names the file).
    """
    p = Path(path)
    suffix = _suffix(p)
    if not p.is_file():
        raise DataError("file not found", path=str(p))
    try:
        if suffix == ".parquet":
            yield from _read_parquet(p)
        elif suffix.startswith(".jsonl"):
            yield from _iter_jsonl(p)
        else:
            yield from _iter_json_list(p)
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise DataError(f"corrupt or truncated gzip data: {exc}", path=str(p)) from exc
    except UnicodeDecodeError as exc:
        raise DataError(f"not UTF-8 text (byte {exc.start})", path=str(p)) from exc


def read_numbered_rows(
    path: str | Path, *, skip_malformed: bool = False
) -> tuple[list[tuple[int, Row]], int]:
    """Read a dataset file's rows, each with its 1-based line (JSONL) or row (JSON list, Parquet) number.

    Args:
        path: a ``.json`` (one JSON list of objects), ``.jsonl`` (one object per line), either
            gzipped (``.gz``), or ``.parquet`` file.
        skip_malformed: skip and count rows that are not JSON objects (or not valid JSON) instead
            of raising. A JSON-list file that is not valid JSON as a whole still raises.

    Returns:
        ``(rows, skipped)``: the ``(number, row)`` pairs in file order, and how many rows were skipped.

    Raises:
        DataError: the file is missing, of an unsupported type, not decodable, or (without
            ``skip_malformed``) holds a malformed row; the message names the file and line.
    """
    rows: list[tuple[int, Row]] = []
    skipped = 0
    for number, row in iter_numbered_rows(path):
        if not isinstance(row, Malformed):
            rows.append((number, row))
            continue
        if not skip_malformed:
            raise malformed_error(row, path, number)
        skipped += 1
        logger.debug("%s:%d: skipped malformed row: %s", path, number, row.problem)
    return rows, skipped


def malformed_error(row: Malformed, path: str | Path, number: int) -> DataError:
    """The error of a malformed row (names file, line, the problem and the fix)."""
    return DataError(
        f"{row.problem}, expected one JSON object per row; {SKIP_HINT}", path=str(path), line=number
    )


def read_rows(path: str | Path, *, skip_malformed: bool = False) -> tuple[list[Row], int]:
    """Read a dataset file's rows.

    Args:
        path: a ``.json``, ``.jsonl``, ``.json.gz``, ``.jsonl.gz`` or ``.parquet`` file.
        skip_malformed: skip and count malformed rows instead of raising.

    Returns:
        ``(rows, skipped)``: the rows in file order and how many malformed rows were skipped.

    Raises:
        DataError: as :func:`read_numbered_rows`.

    Example:
        >>> rows, skipped = read_rows("questions.jsonl.gz", skip_malformed=True)  # doctest: +SKIP
    """
    numbered, skipped = read_numbered_rows(path, skip_malformed=skip_malformed)
    return [row for _, row in numbered], skipped
