"""The HTTP service: OpenAI-compatible chat completions, batch jobs, auth, limits and metrics.

It needs the ``serve`` extra (FastAPI, uvicorn, python-multipart, prometheus-client); importing any of
its modules without it raises :class:`~common.errors.MissingExtraError` naming the extra.
"""

from __future__ import annotations

from common.extras import require_extra

require_extra("serve", "the HTTP service (symoe serve)")
