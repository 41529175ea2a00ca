"""Keyword mapping onto the profile vocabulary by embedding similarity."""

from __future__ import annotations

import pytest

from common.errors import ConfigError
from skills.embedding import Embedder
from skills.keyword_map import KeywordMapper, normalise_keyword

VOCAB = ["calculus", "derivatives", "contract law", "cardiology", "pharmacology"]


def test_exact_matches_map_to_themselves_without_embedding(embedder: Embedder) -> None:
    mapper = KeywordMapper(embedder, VOCAB)
    assert mapper.map(["Calculus", "  contract   LAW "]) == ["calculus", "contract law"]
    assert embedder.computed == 0


def test_unseen_keywords_map_to_their_nearest_entry(shared_embedder: Embedder) -> None:
    mapper = KeywordMapper(shared_embedder, VOCAB)
    assert mapper.map(["differentiation"]) == ["derivatives"]
    assert mapper.map(["heart disease"]) == ["cardiology"]
    assert mapper.map(["contracts"]) == ["contract law"]


def test_keywords_below_the_threshold_are_dropped(shared_embedder: Embedder) -> None:
    mapper = KeywordMapper(shared_embedder, VOCAB, threshold=0.5)
    assert mapper.map(["knitting", "football"]) == []
    assert KeywordMapper(shared_embedder, VOCAB, threshold=-1.0).map(["knitting"]) != []


def test_mapped_entries_are_deduplicated_in_keyword_order(shared_embedder: Embedder) -> None:
    mapper = KeywordMapper(shared_embedder, VOCAB)
    assert mapper.map(["contracts", "contract law", "differentiation"]) == ["contract law", "derivatives"]


def test_map_many_embeds_all_unseen_keywords_at_once(embedder: Embedder) -> None:
    mapper = KeywordMapper(embedder, VOCAB)
    out = mapper.map_many([["differentiation", "calculus"], [], ["heart disease", "differentiation"]])
    assert out == [["derivatives", "calculus"], [], ["cardiology", "derivatives"]]
    assert embedder.computed == len(VOCAB) + 2  # each unseen keyword embedded once


def test_mapper_validates_its_settings(embedder: Embedder) -> None:
    with pytest.raises(ConfigError, match="empty"):
        KeywordMapper(embedder, [])
    with pytest.raises(ConfigError, match="threshold=2"):
        KeywordMapper(embedder, VOCAB, threshold=2)


def test_normalise_keyword() -> None:
    assert normalise_keyword("  Organic \t Chemistry ") == "organic chemistry"
