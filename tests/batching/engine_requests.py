"""The request mix the transformers and vLLM engine tests send: plain prompts and chats, interleaved."""

from __future__ import annotations

from common.generation import GenRequest, SamplingParams

GREEDY = SamplingParams(temperature=0.0, max_tokens=12)

PROMPTS = (
    "What is 12 plus 7?",
    "The following is a multiple choice question about law. (A) court (B) king (C) proof (D) gene. "
    "Let's think step by step.",
    "Hi",
    "Expert 3 says: the answer is (B). Expert 4 says: the answer is (C). The final answer is",
)
MESSAGES = (
    (("system", "You are a helpful assistant."), ("user", "What is 3 times 4?")),
    (("user", "Which gene changes the cell? (A) atom (B) gene"),),
)


def mixed_requests(sampling: SamplingParams = GREEDY) -> list[GenRequest]:
    """``PROMPTS`` as ``p0..p3`` and ``MESSAGES`` as ``m0, m1``, all with ``sampling``.

    Prompts and chats are interleaved, so input order differs from an engine's length order.
    """
    reqs = [GenRequest(request_id=f"p{i}", prompt=p, sampling=sampling) for i, p in enumerate(PROMPTS)]
    reqs += [GenRequest(request_id=f"m{i}", messages=m, sampling=sampling) for i, m in enumerate(MESSAGES)]
    return [reqs[i] for i in (4, 0, 2, 5, 1, 3)]
