"""Prompt token ids for the local engines: a request's chat turns rendered with a chat template, or its plain
prompt; and the cut-down prompt their error messages quote.

Example::

    ids = prompt_token_ids(tokenizer, req, config, kind="vllm", map_errors=self._map_errors)
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, Protocol

from common.errors import ConfigError
from common.generation import GenRequest

MAX_PROMPT_CHARS_IN_ERROR = 500
"""Longest prompt an error message or log line quotes (Ray LLM's ``_MAX_PROMPT_LENGTH_IN_ERROR``)."""


class ChatTemplateConfig(Protocol):
    """What :func:`prompt_token_ids` reads of an expert config."""

    @property
    def name(self) -> str: ...

    @property
    def model_id(self) -> str: ...

    @property
    def chat_template(self) -> str | None: ...


def prompt_token_ids(
    tokenizer: Any,
    req: GenRequest,
    config: ChatTemplateConfig,
    *,
    kind: str,
    map_errors: Callable[[str, str | None], AbstractContextManager[None]],
) -> list[int]:
    """The token ids a local engine feeds its model for ``req``.

    A request with ``messages`` is rendered with ``config.chat_template`` (or the tokenizer's own) with
    ``add_generation_prompt=True`` and tokenized without extra special tokens (the template carries BOS);
    otherwise ``prompt`` is tokenized with the tokenizer's special tokens. ``verbose=False`` keeps an
    over-long prompt from raising a tokenizer warning: the engine turns it into an error result.

    Args:
        tokenizer: the engine's loaded Hugging Face tokenizer.
        req: the request.
        config: the expert's config (its name, model and chat-template override).
        kind: the engine's registry key, naming the engine in the error message.
        map_errors: the engine's error translator, entered as ``map_errors("chat template", request_id)``
            around template rendering.

    Returns:
        The prompt's token ids.

    Raises:
        ConfigError: the request has chat messages but neither the config nor the tokenizer has a chat
            template.
    """
    if not req.messages:
        return list(tokenizer(req.prompt, verbose=False)["input_ids"])
    template = config.chat_template or tokenizer.chat_template
    if template is None:
        raise ConfigError(
            f"{kind} expert {config.name!r}: request {req.request_id} has chat messages but "
            f"{config.model_id} has no chat template; set `chat_template` in the expert config"
        )
    messages = [{"role": role, "content": content} for role, content in req.messages]
    with map_errors("chat template", req.request_id):
        text = tokenizer.apply_chat_template(
            messages, chat_template=template, add_generation_prompt=True, tokenize=False
        )
    return list(tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"])


def prompt_excerpt(req: GenRequest) -> str:
    """``req``'s prompt (or chat turns) cut to :data:`MAX_PROMPT_CHARS_IN_ERROR` characters, for errors."""
    text = req.prompt or str(req.messages)
    if len(text) <= MAX_PROMPT_CHARS_IN_ERROR:
        return text
    return text[:MAX_PROMPT_CHARS_IN_ERROR] + "..."
