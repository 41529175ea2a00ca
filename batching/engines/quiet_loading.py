"""Weight loading without transformers' per-file tqdm bars ("Loading weights 20/20"): the caller's own
progress (a rich bar, the service's logs) reports loads; the library's setting is restored afterwards."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


@contextlib.contextmanager
def quiet_weight_loading() -> Iterator[None]:
    """Turn transformers' progress bars off inside the block, then back to what they were."""
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()  # type: ignore[no-untyped-call]
