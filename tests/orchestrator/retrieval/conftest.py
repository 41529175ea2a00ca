"""Fixtures of the knowledge-store tests: a shared MiniLM embedder and a small generated corpus."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from orchestrator.retrieval.config import KnowledgeConfig
from orchestrator.retrieval.store import KnowledgeStore

FACTS = [
    ("velmora", "Velmora Quist", "Velmora Quist is a painter born in the coastal town of Arlen. She taught "
     "seascapes at the Drell academy for thirty years."),
    ("zorvan", "Zorvan", "The Zorvan is a river 412 kilometres long that flows into Lake Mirren. Otters "
     "live on its banks."),
    ("qarth", "Qarth", "Qarth is a mountain province with cold winters, famous for its copper mines."),
    ("telliq", "Telliq", "Telliq is a volcano of 3000 metres whose last eruption buried the village of Osk."),
    ("brenna", "Brenna Holt", "Brenna Holt is an astronomer who catalogued four hundred comets from an "
     "observatory on the island of Fen."),
]  # fmt: skip


@pytest.fixture(scope="session")
def embedder(session_embedder: Any) -> Any:
    """The session's MiniLM embedder (tests/conftest.py), caching in a temporary folder."""
    return session_embedder


@pytest.fixture
def kb_config(tmp_path: Path, embedder: Any) -> KnowledgeConfig:
    """A store in ``tmp_path/kb`` sharing the session's embedding cache."""
    return KnowledgeConfig(uri=str(tmp_path / "kb"), embedding_cache_dir=str(embedder._disk.directory.parent))


@pytest.fixture
def open_store(kb_config: KnowledgeConfig, embedder: Any) -> Callable[..., KnowledgeStore]:
    """Opens (creating) the test store with the shared embedder."""

    def make(**changes: Any) -> KnowledgeStore:
        cfg = kb_config.model_copy(update=changes) if changes else kb_config
        return KnowledgeStore.open(cfg, embedder=embedder, create=True)

    return make


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """A folder of one markdown, one HTML, one text and one JSONL file about fictional entities."""
    root = tmp_path / "corpus"
    root.mkdir()
    key, title, text = FACTS[0]
    (root / f"{key}.md").write_text(f"# {title}\n\n{text}\n")
    key, title, text = FACTS[1]
    (root / f"{key}.html").write_text(
        f"<html><head><title>{title}</title><script>var x = 1;</script></head>"
        f"<body><h1>{title}</h1><p>{text}</p></body></html>"
    )
    key, title, text = FACTS[2]
    (root / f"{key}.txt").write_text(text + "\n")
    rows = [{"id": k, "title": t, "text": x, "source": f"facts#{k}"} for k, t, x in FACTS[3:]]
    (root / "facts.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return root
