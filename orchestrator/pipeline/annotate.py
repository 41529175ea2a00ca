"""Stage 1, annotate: the skills of each question, from the pool's LLM annotator or the embedding one.

The LLM annotator (the paper's) writes keywords that are then mapped onto the profiles' skill
vocabulary; the embedding annotator picks the nearest names of a skill vocabulary (no LLM needed).
"""

from __future__ import annotations

from common.generation import SamplingParams
from orchestrator.pipeline.job import Job, texts_of
from skills.annotator import LLMKeywordAnnotator
from skills.keyword_map import KeywordMapper
from skills.similarity_annotator import EmbeddingSkillAnnotator
from skills.vocabulary import load_vocabulary


class AnnotateStage:
    """Fill ``job.keywords`` (what the annotator said) and ``job.skills`` (mapped onto the vocabulary)."""

    name = "annotate"

    def run(self, job: Job) -> None:
        annotate(job, job.fitted.vocabulary)


def annotate(job: Job, vocabulary: list[str] | None) -> None:
    """Annotate ``job``'s questions; LLM keywords are mapped onto ``vocabulary`` (the profiles' skills).

    The embedding annotator always picks from the configured vocabulary file, the one ``symoe profile``
    annotated the profiling questions with, so profiles and questions share one set of skill names.
    """
    session, ann = job.session, job.session.pool.annotation
    if ann.annotator == "embedding":
        vocab = load_vocabulary(ann.vocabulary).skills
        with session.lock:
            skills = EmbeddingSkillAnnotator(session.embedder(), vocab, top_n=ann.top_n).annotate(
                texts_of(job.instances)
            )
        job.keywords, job.skills = skills, skills
        return
    sampling = SamplingParams(temperature=0.7, max_tokens=ann.max_tokens, seed=session.pool.seed)
    llm = LLMKeywordAnnotator(
        job.engines[ann.annotator], n_samples=ann.n_samples, min_count=ann.min_count, sampling=sampling
    )
    with session.lock:
        result = llm.annotate_with_stats([i.prompt_text() for i in job.instances])
    if job.progress is not None:
        job.progress("annotate", ann.annotator, len(job.instances), len(job.instances))
    job.counts["annotation_parse_failures"] = int(sum(result.parse_failures))
    job.keywords = result.keywords
    if vocabulary:
        with session.lock:
            job.skills = KeywordMapper(session.embedder(), list(vocabulary)).map_many(result.keywords)
    else:
        job.skills = result.keywords
