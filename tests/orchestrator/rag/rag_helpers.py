"""Helpers of the retrieval tests: a facts corpus the zoo cannot know, question rows, a recording engine."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from batching.engines.base import Engine
from common.generation import GenRequest, GenResult

REPO = Path(__file__).resolve().parents[3]
ZOO_POOL = REPO / "configs" / "pools" / "zoo-cpu.yaml"
ZOO_DATA = REPO / "zoo" / "data"

# Fictional entities: no zoo expert can know these numbers; the passages state them.
FACTS = [
    ("veltrin", "The Veltrin Bridge", "The Veltrin Bridge over the river Osk was opened in 1873.",
     "In which year was the Veltrin Bridge opened?", "1873"),
    ("quist", "Velmora Quist", "The painter Velmora Quist was born in 1802 in the town of Arlen.",
     "In which year was the painter Velmora Quist born?", "1802"),
    ("zorvan", "Zorvan", "The Zorvan is a river 412 kilometres long that flows into Lake Mirren.",
     "How many kilometres long is the river Zorvan?", "412"),
    ("telliq", "Telliq", "Telliq is a volcano 3040 metres high; it last erupted in 1911.",
     "How many metres high is the volcano Telliq?", "3040"),
    ("brenna", "Brenna Holt", "The astronomer Brenna Holt catalogued 418 comets from the island of Fen.",
     "How many comets did the astronomer Brenna Holt catalogue?", "418"),
    ("drell", "Drell Academy", "The Drell Academy of painting was founded in 1766 by the guild of Arlen.",
     "In which year was the Drell Academy of painting founded?", "1766"),
    ("mirren", "Lake Mirren", "Lake Mirren is 57 metres deep at its deepest point.",
     "How many metres deep is Lake Mirren at its deepest?", "57"),
    ("osk", "Osk", "The village of Osk had 640 inhabitants before the eruption of Telliq.",
     "How many inhabitants did the village of Osk have before the eruption?", "640"),
]  # fmt: skip


def write_facts_kb(path: Path) -> Path:
    """The facts as a JSONL corpus (one document per entity, source ``facts/<key>``)."""
    rows = [{"id": k, "title": t, "text": x, "source": f"facts/{k}"} for k, t, x, _, _ in FACTS]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def facts_rows(keys: Sequence[str], prefix: str) -> list[dict[str, Any]]:
    """Question rows (``load_questions`` format, category ``facts``) about the given entities."""
    return [
        {"id": f"{prefix}-{k}", "question": q, "answer": a, "category": "facts", "kind": "math"}
        for k, _, _, q, a in FACTS
        if k in keys
    ]


def zoo_rows(split: str, per_skill: int, skip: int = 0) -> list[dict[str, Any]]:
    """The first ``per_skill`` questions of every zoo skill in a split (after ``skip`` of each)."""
    rows = [json.loads(line) for line in (ZOO_DATA / f"zoo_{split}.jsonl").read_text().splitlines()]
    by: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by.setdefault(r["category"], []).append(r)
    return [r for group in by.values() for r in group[skip : skip + per_skill]]


def write_rows(path: Path, rows: Sequence[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


class RecordingEngine(Engine):
    """A real engine wrapped so that every ``generate`` call's requests are kept (in call order).

    Loading, generation and counters are the wrapped engine's work; the journal keys requests by the
    same config, so runs behave exactly as with the wrapped engine.
    """

    def __init__(self, inner: Engine) -> None:
        super().__init__(inner.config)
        self.inner = inner
        self.kind = inner.kind  # type: ignore[misc]
        self.calls: list[list[GenRequest]] = []

    def _load(self) -> None:
        self.inner.load()

    def _unload(self) -> None:
        self.inner.unload()

    def _generate(self, batch: Sequence[GenRequest]) -> list[GenResult]:
        self.calls.append(list(batch))
        return self.inner.generate(batch)


def record_engines(session: Any) -> dict[str, RecordingEngine]:
    """Wrap every engine of an open session (before its first job) in a :class:`RecordingEngine`."""
    session.engines = {name: RecordingEngine(e) for name, e in session.engines.items()}
    return session.engines
