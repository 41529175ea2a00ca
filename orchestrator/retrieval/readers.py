"""Turning ingest inputs (text, markdown, HTML, JSONL files, cached Hugging Face datasets) into documents.

Ingestion happens in two passes. :func:`discover` expands the user's paths and :func:`inspect_source`
checks each input (size, emptiness, binary content, UTF-8) and hashes it, without parsing; inputs that
fail a check become :class:`Skipped` with a reason. :func:`read_documents` later parses a checked input
into :class:`Document` s (JSONL rows that are not usable are counted, not fatal).

Example::

    inputs, skipped = discover(["notes/", "facts.jsonl", "hf:ag_news@test"])
    checked = [inspect_source(i, max_file_bytes=512 << 20) for i in inputs]
    parsed = read_documents(checked[0])   # Parsed(documents=[...], bad_rows=0)
"""

from __future__ import annotations

import codecs
import hashlib
import json
import logging
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Literal

from common.errors import ConfigError, DataError

logger = logging.getLogger(__name__)

Kind = Literal["text", "markdown", "html", "jsonl", "hf"]

SUFFIX_KINDS: dict[str, Kind] = {
    ".txt": "text",
    ".text": "text",
    ".rst": "text",
    ".md": "markdown",
    ".markdown": "markdown",
    ".html": "html",
    ".htm": "html",
    ".xhtml": "html",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}
"""File kinds by suffix. Directory walks take only these; a file named explicitly with another suffix is
read as plain text (when it is UTF-8 and not binary)."""

HF_PREFIX = "hf:"
_BINARY_PROBE_BYTES = 8192
_READ_BLOCK_BYTES = 1 << 20
_HF_TEXT_COLUMNS = ("text", "content", "passage", "document", "context", "body")


@dataclass(frozen=True)
class Input:
    """One thing to ingest: a file (``origin`` is its absolute path) or a dataset (``hf:NAME...``)."""

    origin: str
    kind: Kind


@dataclass(frozen=True, kw_only=True)
class Checked:
    """An input that passed the checks, with the hash that decides whether it changed since last time."""

    origin: str
    kind: Kind
    sha256: str
    size_bytes: int


@dataclass(frozen=True)
class Skipped:
    """An input that was not ingested, and why (empty, binary, too large, not UTF-8, unreadable...)."""

    origin: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class Document:
    """One document of an input: a whole text/markdown/HTML file, or one JSONL row or dataset row."""

    doc_id: str
    text: str
    source: str
    title: str | None = None
    metadata: str | None = None
    """The row's other fields as a JSON object with sorted keys (JSONL and dataset rows), or None."""


@dataclass(kw_only=True)
class Parsed:
    """The documents of one input, and how many of its rows were unusable (JSONL and datasets only)."""

    documents: list[Document] = field(default_factory=list)
    bad_rows: int = 0
    first_error: str | None = None
    seen: int = 0
    """Documents streamed so far (when they are not kept in ``documents``)."""


# -- discovery -----------------------------------------------------------------------------------


def discover(paths: Sequence[str | Path], *, follow_links: bool = False) -> tuple[list[Input], list[Skipped]]:
    """Expand files, directories (recursively, hidden entries left out) and ``hf:`` dataset specs.

    A symbolic link is followed only when its target lies inside one of the given paths (then the
    target is ingested once, under its real path), unless ``follow_links`` allows every link; the
    others are skipped and reported, so a link in a folder can never pull ``/etc/passwd`` into the store.

    Args:
        paths: what the user named; duplicates (also a file inside a named directory) count once.
        follow_links: follow links whose targets lie outside the given paths too.

    Returns:
        The inputs in a stable order, and what was skipped on the way (missing paths, files of other
        kinds inside directories, links leading out of the given paths).
    """
    inputs: dict[str, Input] = {}
    skipped: list[Skipped] = []
    roots = [Path(str(r)).expanduser().resolve() for r in paths if not str(r).startswith(HF_PREFIX)]
    for raw in paths:
        text = str(raw)
        if text.startswith(HF_PREFIX):
            parse_hf_spec(text)  # fail early on a malformed spec
            inputs.setdefault(text, Input(text, "hf"))
            continue
        path = Path(text).expanduser()
        if path.is_symlink() and not follow_links:
            # a named link is a root itself; only its target decides (it may be inside another root)
            target = path.resolve()
            if not any(_inside(target, r) for r in roots if r != target):
                skipped.append(Skipped(str(path.absolute()), _outside_link(target)))
                continue
        if path.is_dir():
            _walk(path, roots, follow_links, inputs, skipped)
        elif path.is_file():
            kind = SUFFIX_KINDS.get(path.suffix.lower(), "text")
            inputs.setdefault(str(path.resolve()), Input(str(path.resolve()), kind))
        else:
            skipped.append(Skipped(text, "no such file or directory"))
    return list(inputs.values()), skipped


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _outside_link(target: Path) -> str:
    return f"symbolic link to {target}, outside the given paths (--follow-links allows it)"


def _walk(
    top: Path, roots: Sequence[Path], follow_links: bool, inputs: dict[str, Input], skipped: list[Skipped]
) -> None:
    seen: set[Path] = set()
    stack = [top]
    while stack:
        folder = stack.pop()
        real = folder.resolve()
        if real in seen:  # a link cycle
            continue
        seen.add(real)
        try:
            entries = sorted(folder.iterdir(), key=lambda p: p.name)
        except OSError as exc:
            skipped.append(Skipped(str(folder.absolute()), f"unreadable ({exc.strerror or exc})"))
            continue
        subfolders = []
        for child in entries:
            if child.name.startswith("."):
                continue
            if child.is_symlink():
                target = child.resolve()
                if not target.exists():
                    skipped.append(Skipped(str(child.absolute()), f"broken symbolic link to {target}"))
                    continue
                if not any(_inside(target, r) for r in roots):
                    if not follow_links:
                        skipped.append(Skipped(str(child.absolute()), _outside_link(target)))
                        continue
                elif target.is_dir():
                    continue  # inside a given path: walked there (or already)
            if child.is_dir():
                subfolders.append(child)
            elif child.is_file():
                kind = SUFFIX_KINDS.get(child.suffix.lower())
                if kind is None:
                    skipped.append(Skipped(str(child.resolve()), f"unsupported file type {child.suffix!r}"))
                else:
                    inputs.setdefault(str(child.resolve()), Input(str(child.resolve()), kind))
        stack.extend(reversed(subfolders))


# -- checks --------------------------------------------------------------------------------------


def inspect_source(item: Input, *, max_file_bytes: int) -> Checked | Skipped:
    """Check one input and hash its content (files: the bytes; datasets: their fingerprint).

    Files are read in blocks (hash and UTF-8 check as they stream), so checking holds one block at a
    time whatever the file's size.

    Returns:
        :class:`Checked`, or :class:`Skipped` naming the problem: too large, empty, binary, not UTF-8,
        unreadable, or (datasets) not loadable offline.
    """
    if item.kind == "hf":
        return _inspect_hf(item)
    path = Path(item.origin)
    digest = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8")()
    size = 0
    blank = True
    try:
        size = path.stat().st_size
        if size > max_file_bytes:
            return Skipped(item.origin, f"too large ({size:,} bytes > max_file_bytes={max_file_bytes:,})")
        size = 0
        with path.open("rb") as fh:
            while block := fh.read(_READ_BLOCK_BYTES):
                if size < _BINARY_PROBE_BYTES and b"\0" in block[: _BINARY_PROBE_BYTES - size]:
                    return Skipped(item.origin, "binary (NUL bytes)")
                try:
                    decoder.decode(block)
                except UnicodeDecodeError as exc:
                    bad = block[exc.start : exc.start + 1]
                    return Skipped(item.origin, f"not UTF-8 text (byte {size + exc.start}: {bad!r})")
                blank = blank and not block.strip()
                digest.update(block)
                size += len(block)
                if size > max_file_bytes:  # it grew while being read
                    return Skipped(item.origin, f"too large (over max_file_bytes={max_file_bytes:,})")
        decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:
        return Skipped(item.origin, f"not UTF-8 text (truncated at the end: {exc.reason})")
    except OSError as exc:
        return Skipped(item.origin, f"unreadable ({exc.strerror or exc})")
    if blank:
        return Skipped(item.origin, "empty")
    return Checked(origin=item.origin, kind=item.kind, sha256=digest.hexdigest(), size_bytes=size)


def decode(data: bytes) -> str:
    """UTF-8 text of a checked file (a leading byte-order mark dropped)."""
    return data.decode("utf-8-sig")


# -- parsing -------------------------------------------------------------------------------------


def read_documents(item: Checked | Input) -> Parsed:
    """Parse an input into documents (all in memory; ingestion streams with :func:`iter_documents`).

    Raises:
        DataError: the file cannot be read or decoded any more (it changed since it was checked).
    """
    out = Parsed()
    out.documents.extend(iter_documents(item, out))
    return out


def iter_documents(item: Checked | Input, counts: Parsed) -> Iterator[Document]:
    """The documents of an input, one at a time; unusable rows are counted in ``counts``.

    JSONL files and datasets stream row by row (memory holds one row); a text, markdown or HTML file
    is one document, read whole (at most ``max_file_bytes``).

    Raises:
        DataError: the file cannot be read or decoded any more (it changed since it was checked).
    """
    if item.kind == "hf":
        yield from _iter_hf(item.origin, counts)
        return
    path = Path(item.origin)
    try:
        if item.kind == "jsonl":
            with path.open(encoding="utf-8-sig") as fh:
                yield from iter_jsonl(fh, origin=item.origin, counts=counts)
            return
        text = decode(path.read_bytes())
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(
            f"cannot read the file any more ({exc}); run `symoe kb add` again", path=str(path)
        ) from exc
    if item.kind == "html":
        title, body = html_to_text(text)
        if body.strip():
            yield Document(doc_id=item.origin, text=body, source=item.origin, title=title or path.stem)
        return
    title = markdown_title(text) if item.kind == "markdown" else None
    yield Document(doc_id=item.origin, text=text, source=item.origin, title=title or path.stem)


def parse_jsonl(lines: Iterable[str], *, origin: str) -> Parsed:
    """Documents from JSONL rows ``{"text": ..., "id"?, "title"?, "source"?, ...}``; bad rows are counted.

    A row's ``source`` is its own ``source`` field, else ``<origin>#<id>``; its id is ``id``, else
    ``line<N>``; its other fields (a ``metadata`` object merged in) become the document's metadata.
    """
    out = Parsed()
    out.documents.extend(iter_jsonl(lines, origin=origin, counts=out))
    return out


def iter_jsonl(lines: Iterable[str], *, origin: str, counts: Parsed) -> Iterator[Document]:
    """:func:`parse_jsonl` one row at a time."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            _bad(counts, f"line {number}: not JSON ({exc.msg})")
            continue
        doc = _row_document(row, number, origin, text_columns=("text",))
        if isinstance(doc, str):
            _bad(counts, f"line {number}: {doc}")
        else:
            yield doc


def _row_document(row: Any, number: int, origin: str, *, text_columns: Sequence[str]) -> Document | str:
    """The row's document, or why it has none."""
    if not isinstance(row, dict):
        return f"a {type(row).__name__}, expected an object"
    text = next((row[c] for c in text_columns if isinstance(row.get(c), str)), None)
    if text is None or not text.strip():
        return f"no non-empty string field {' or '.join(repr(c) for c in text_columns)}"
    raw_id = row.get("id", row.get("_id"))  # BEIR corpora use _id
    doc_id = str(raw_id) if raw_id is not None else f"line{number}"
    title = row.get("title")
    source = row.get("source")
    return Document(
        doc_id=doc_id,
        text=text,
        source=source if isinstance(source, str) and source else f"{origin}#{doc_id}",
        title=title if isinstance(title, str) and title else None,
        metadata=_metadata(row, text_columns),
    )


_ROW_FIELDS = frozenset({"id", "_id", "title", "source", "metadata"})


def _metadata(row: dict[str, Any], text_columns: Sequence[str]) -> str | None:
    """A row's other fields (and its ``metadata`` object) as JSON with sorted keys, or None."""
    extra = {k: v for k, v in row.items() if k not in _ROW_FIELDS and k not in text_columns}
    nested = row.get("metadata")
    if isinstance(nested, dict):
        extra.update(nested)
    extra = {str(k): v for k, v in extra.items() if v is not None}
    if not extra:
        return None
    return json.dumps(extra, sort_keys=True, ensure_ascii=False, default=str)


def _bad(out: Parsed, message: str) -> None:
    out.bad_rows += 1
    if out.first_error is None:
        out.first_error = message


def markdown_title(text: str) -> str | None:
    """The first ATX heading (``# Title``) of a markdown text."""
    m = re.search(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$", text, flags=re.MULTILINE)
    return m.group(1) if m else None


class _HTMLText(HTMLParser):
    _SKIP = frozenset({"script", "style", "noscript", "template", "svg", "head"})
    _BLOCK = frozenset(
        {
            "p",
            "div",
            "br",
            "li",
            "ul",
            "ol",
            "h1",
            "h2",
            "h3",
            "h4",
            "h5",
            "h6",
            "tr",
            "table",
            "section",
            "article",
            "header",
            "footer",
            "blockquote",
            "pre",
            "hr",
            "dd",
            "dt",
            "nav",
            "aside",
            "main",
            "figure",
            "figcaption",
        }
    )

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title: str | None = None
        self.h1: str | None = None
        self._skip = 0
        self._in: str | None = None
        self._buf: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self._skip += 1
        if tag in ("title", "h1") and self._in is None:
            self._in, self._buf = tag, []
        if tag in self._BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP and self._skip:
            self._skip -= 1
        if tag == self._in:
            text = " ".join("".join(self._buf).split())
            if tag == "title" and self.title is None:
                self.title = text or None
            elif tag == "h1" and self.h1 is None:
                self.h1 = text or None
            self._in = None
        if tag in self._BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self._in is not None:
            self._buf.append(data)
        if not self._skip:
            self.parts.append(data)


def html_to_text(html: str) -> tuple[str | None, str]:
    """The title (``<title>``, else the first ``<h1>``) and visible text of an HTML page.

    Scripts, styles and the head are dropped; block elements become line breaks; runs of spaces
    collapse; blank lines between paragraphs are kept (single ones).
    """
    parser = _HTMLText()
    parser.feed(html)
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.parts).splitlines())
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    return parser.title or parser.h1, text


# -- Hugging Face datasets -----------------------------------------------------------------------


def parse_hf_spec(spec: str) -> tuple[str, str | None, str]:
    """``hf:NAME[:CONFIG][@SPLIT]`` as ``(name, config, split)``; the split defaults to ``train``.

    Raises:
        ConfigError: the spec has no name.
    """
    body = spec[len(HF_PREFIX) :]
    body, _, split = body.partition("@")
    name, _, config = body.partition(":")
    if not name:
        raise ConfigError(f"dataset spec {spec!r}: no dataset name; write hf:NAME[:CONFIG][@SPLIT]")
    return name, config or None, split or "train"


def _load_hf(origin: str) -> Any:
    try:
        import datasets
    except ImportError as exc:
        raise ConfigError(
            f"{origin}: ingesting a Hugging Face dataset needs the 'datasets' package; "
            "install it with: pip install 'symbolic-moe[hub]'"
        ) from exc
    name, config, split = parse_hf_spec(origin)
    # only what is cached: the knowledge store never downloads (pass a local copy otherwise)
    return datasets.load_dataset(name, config, split=split, download_mode="reuse_cache_if_exists")


def _inspect_hf(item: Input) -> Checked | Skipped:
    try:
        ds = _load_hf(item.origin)
    except ConfigError as exc:
        return Skipped(item.origin, str(exc))
    except (OSError, ValueError, ConnectionError) as exc:  # not cached and no network, unknown split...
        return Skipped(item.origin, f"not loadable from the local cache ({type(exc).__name__}: {exc})")
    fingerprint = str(getattr(ds, "_fingerprint", "")) or hashlib.sha256(repr(ds).encode()).hexdigest()
    if not any(c in ds.column_names for c in _HF_TEXT_COLUMNS):
        return Skipped(item.origin, f"no text column (one of {', '.join(_HF_TEXT_COLUMNS)})")
    return Checked(
        origin=item.origin,
        kind="hf",
        sha256=hashlib.sha256(fingerprint.encode()).hexdigest(),
        size_bytes=int(ds.num_rows),
    )


def _iter_hf(origin: str, counts: Parsed) -> Iterator[Document]:
    ds = _load_hf(origin)
    for number, row in enumerate(ds, start=1):
        doc = _row_document(row, number, origin, text_columns=_HF_TEXT_COLUMNS)
        if isinstance(doc, str):
            _bad(counts, f"row {number}: {doc}")
        else:
            yield doc
