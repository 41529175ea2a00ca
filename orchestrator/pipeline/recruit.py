"""Stage 2, recruit: route every question with the pool's fitted policy.

Question embeddings are computed here when the method needs them (the policy, or the local accuracy of
a weighted or stacked vote), and kept on the job for the aggregation.
"""

from __future__ import annotations

from dataclasses import replace

from orchestrator.pipeline.job import Job, texts_of


class RecruitStage:
    """Fill ``job.decisions`` (and ``job.embeddings`` when the method needs them)."""

    name = "recruit"

    def run(self, job: Job) -> None:
        fitted = job.fitted
        if fitted.method.needs_embeddings:
            job.embeddings = job.session.embed(texts_of(job.instances))
        queries = job.queries()
        if fitted.method.use_category:
            skills = [
                [*s, f"category:{i.category}"] if i.category else s
                for s, i in zip(queries.skills, job.instances, strict=True)
            ]
            queries = replace(queries, skills=skills)
        decisions = fitted.policy.recruit(queries, seed=job.session.pool.seed)
        keywords = job.keywords or [[] for _ in job.instances]
        job.decisions = [
            d.model_copy(update={"keywords": k}) for d, k in zip(decisions, keywords, strict=True)
        ]
