"""Stage 2, recruit: route every question with the pool's fitted policy.

Question embeddings are computed here when the method needs them (the policy, or the local accuracy of
a weighted or stacked vote), and kept on the job for the aggregation.
"""

from __future__ import annotations

import numpy as np

from orchestrator.pipeline.job import Job, n_options, texts_of
from orchestrator.policies import QueryBatch


class RecruitStage:
    """Fill ``job.decisions`` (and ``job.embeddings`` when the method needs them)."""

    name = "recruit"

    def run(self, job: Job) -> None:
        fitted = job.fitted
        if fitted.method.needs_embeddings:
            job.embeddings = job.session.embed(texts_of(job.instances))
        emb = job.embeddings if job.embeddings is not None else np.zeros((len(job.instances), 1))
        skills = job.skills or [[] for _ in job.instances]
        if fitted.method.use_category:
            skills = [
                [*s, f"category:{i.category}"] if i.category else s
                for s, i in zip(skills, job.instances, strict=True)
            ]
        queries = QueryBatch(
            [i.id for i in job.instances], emb, skills, np.array([n_options(i) for i in job.instances])
        )
        decisions = fitted.policy.recruit(queries, seed=job.session.pool.seed)
        keywords = job.keywords or [[] for _ in job.instances]
        job.decisions = [
            d.model_copy(update={"keywords": k}) for d, k in zip(decisions, keywords, strict=True)
        ]
