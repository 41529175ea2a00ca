"""Hiding secrets that users put in URLs and text (tokens in a query, passwords in a URL's userinfo,
``Authorization`` headers) before anything is logged, stored or reported.

A query parameter is secret when its name, URL-decoded and lower-cased, is one of :data:`SECRET_PARAMS`
or ends in ``_key``/``-key``/``token``/``secret``/``password`` (``api_key``, ``api%5Fkey``, ``X-Api-Key``,
``access_token``, ``client_secret``...). Its value becomes :data:`REDACTED`.

Example::

    redact_url("https://bob:pw@host/v1?token=abc&x=1")   # 'https://bob:REDACTED@host/v1?token=REDACTED&x=1'
    redact_text("GET /v1/models?api%5Fkey=abc HTTP/1.1")  # 'GET /v1/models?api%5Fkey=REDACTED HTTP/1.1'
"""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import unquote

REDACTED = "REDACTED"
"""What replaces a secret (a plain word, so a redacted URL stays a valid URL)."""
SECRET_PARAMS = frozenset(
    {"key", "apikey", "api_key", "api-key", "token", "access_token", "auth", "authorization", "secret",
     "password", "passwd", "pwd", "sig", "signature", "code", "session", "sessionid", "credential",
     "credentials", "private_key", "client_secret", "refresh_token", "id_token", "x-api-key"}
)  # fmt: skip
_SECRET_SUFFIXES = ("_key", "-key", "token", "secret", "password")

# name=value inside a query string (or a form body): the name is checked after URL-decoding
_PARAM = re.compile(r"(?P<lead>[?&;])(?P<name>[^=&;#\s\"'<>]+)=(?P<value>[^&;#\s\"'<>]*)")
# userinfo of a URL: scheme://user:password@host
_USERINFO = re.compile(r"(?P<lead>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^/@:\s\"'<>]*:)(?P<pw>[^/@\s\"'<>]+)(?=@)")
_HEADER = re.compile(
    r"((?:authorization|x-api-key|api-key)[\"']?\s*[:=,]\s*[\"']?(?:bearer\s+|basic\s+)?)[^\s\"',]+",
    re.IGNORECASE,
)


def is_secret_param(name: str) -> bool:
    """True when a query parameter named ``name`` (maybe URL-encoded, any case) carries a secret."""
    plain = unquote(unquote(name)).strip().lower()
    return plain in SECRET_PARAMS or plain.endswith(_SECRET_SUFFIXES)


def redact_text(text: str) -> str:
    """``text`` with secret query values, URL passwords and Authorization/API-key headers replaced."""

    def param(m: re.Match[str]) -> str:
        if not is_secret_param(m["name"]) or not m["value"]:
            return m[0]
        return f"{m['lead']}{m['name']}={REDACTED}"

    text = _PARAM.sub(param, text)
    text = _USERINFO.sub(lambda m: f"{m['lead']}{REDACTED}", text)
    return _HEADER.sub(rf"\g<1>{REDACTED}", text)


def redact_url(url: str) -> str:
    """``url`` with its userinfo password and secret query values replaced (:func:`redact_text`)."""
    return redact_text(url)


def redact_tree(value: Any) -> Any:
    """A JSON-like value (dicts, lists, strings) with :func:`redact_text` applied to every string."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: redact_tree(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_tree(v) for v in value]
    return value


def has_redactions(value: Any) -> bool:
    """True when a JSON-like value holds a string that :func:`redact_tree` redacted."""
    if isinstance(value, str):
        return REDACTED in value
    if isinstance(value, dict):
        return any(has_redactions(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(has_redactions(v) for v in value)
    return False


class RedactingFilter(logging.Filter):
    """Redacts secrets (:func:`redact_text`) in a record's message and string arguments; install it on a
    handler (every record it writes) or a logger (every record logged there)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact_text(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_redact_arg(a) for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: _redact_arg(v) for k, v in record.args.items()}
        return True


def _redact_arg(arg: Any) -> Any:
    """A log argument, redacted when its text holds a secret: strings, and objects such as ``httpx.URL``
    that httpx's own request log passes (numbers stay numbers for %d)."""
    if arg is None or isinstance(arg, int | float):
        return arg
    text = str(arg)
    redacted = redact_text(text)
    return arg if redacted == text else redacted
