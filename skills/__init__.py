"""Skills: annotating questions with skills, embeddings, expert profiles and the aggregator benchmark.

Pure data and math over engines it is handed; importing this package never imports torch or
sentence-transformers (the embedding model loads on first use).
"""

from __future__ import annotations

from skills.aggregator_bench import (
    AggregatorBenchItem,
    AggregatorScore,
    PromptBuilder,
    ReasoningChain,
    build_bench_items,
    exact_match,
    score_aggregator,
)
from skills.annotator import KEYWORD_PROMPT, KeywordAnnotation, LLMKeywordAnnotator, SkillAnnotator
from skills.embedding import Embedder
from skills.embedding_cache import EmbeddingCache
from skills.keyword_map import KeywordMapper, normalise_keyword
from skills.keyword_parse import clean_keyword, parse_keywords
from skills.profile import (
    PROFILE_VERSION,
    ExpertProfile,
    ProfileSet,
    add_expert,
    build_profiles,
    calibrated_skill_accuracy,
    global_strength,
    global_strengths,
    paper_skill_score,
    profile_expert,
)
from skills.similarity import top_k_cosine
from skills.similarity_annotator import EmbeddingSkillAnnotator, NeighbourSkillAnnotator
from skills.vocabulary import DEFAULT_VOCABULARY_PATH, SkillVocabulary, load_vocabulary

__all__ = [
    "PromptBuilder",
    "DEFAULT_VOCABULARY_PATH",
    "KEYWORD_PROMPT",
    "PROFILE_VERSION",
    "AggregatorBenchItem",
    "AggregatorScore",
    "Embedder",
    "EmbeddingCache",
    "EmbeddingSkillAnnotator",
    "ExpertProfile",
    "KeywordAnnotation",
    "KeywordMapper",
    "LLMKeywordAnnotator",
    "NeighbourSkillAnnotator",
    "ProfileSet",
    "ReasoningChain",
    "SkillAnnotator",
    "SkillVocabulary",
    "add_expert",
    "build_bench_items",
    "build_profiles",
    "calibrated_skill_accuracy",
    "clean_keyword",
    "exact_match",
    "global_strength",
    "global_strengths",
    "load_vocabulary",
    "normalise_keyword",
    "paper_skill_score",
    "parse_keywords",
    "profile_expert",
    "score_aggregator",
    "top_k_cosine",
]
