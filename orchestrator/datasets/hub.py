"""Loading MMLU-Pro-layout datasets from the Hugging Face Hub through the optional ``datasets`` library."""

from __future__ import annotations

import logging
from pathlib import Path

from common.errors import ConfigError, DataError
from orchestrator.datasets.mmlu_pro import mmlu_pro_from_rows
from orchestrator.datasets.readers import LoadResult

logger = logging.getLogger(__name__)

DEFAULT_HUB_DATASET = "TIGER-Lab/MMLU-Pro"
INSTALL_HINT = "pip install 'symbolic-moe[hub]'"


def load_from_hub(
    name: str = DEFAULT_HUB_DATASET,
    split: str = "test",
    *,
    config_name: str | None = None,
    revision: str | None = None,
    cache_dir: str | Path | None = None,
    skip_malformed: bool = False,
) -> LoadResult:
    """Download (or reuse the cache of) a Hub dataset in the MMLU-Pro column layout.

    Only called when a user asks for it: it needs the optional ``datasets`` package and, unless
    the dataset is cached, the network. Rows are converted as
    :func:`~orchestrator.datasets.mmlu_pro.load_mmlu_pro` converts file rows.

    Args:
        name: the Hub dataset id, e.g. ``TIGER-Lab/MMLU-Pro``.
        split: the split, e.g. ``test`` or ``validation``.
        config_name: the dataset configuration, when it has several.
        revision: a git revision (tag, branch or commit) to pin, for reproducible runs.
        cache_dir: where ``datasets`` caches downloads; its default when ``None``.
        skip_malformed: skip and count invalid rows instead of raising.

    Returns:
        The instances, the number skipped, and ``path="hf://datasets/<name>/<split>"``.

    Raises:
        ConfigError: ``datasets`` is not installed (the message gives the install command).
        DataError: the dataset or split cannot be loaded, or (without ``skip_malformed``) a row is
            invalid; names the dataset and row.

    Example:
        >>> result = load_from_hub("TIGER-Lab/MMLU-Pro", "validation")  # doctest: +SKIP
    """
    try:
        import datasets  # optional, heavy, and network-bound: import only when asked
    except ImportError as exc:
        raise ConfigError(
            f"loading {name!r} from the Hugging Face Hub needs the 'datasets' package; "
            f"install it with: {INSTALL_HINT}"
        ) from exc
    source = f"hf://datasets/{name}/{split}"
    logger.info("loading %s (config=%s, revision=%s) from the Hub", source, config_name, revision)
    try:
        dataset = datasets.load_dataset(
            name,
            config_name,
            split=split,
            revision=revision,
            cache_dir=str(cache_dir) if cache_dir is not None else None,
        )
    except (OSError, ValueError) as exc:  # DatasetNotFoundError is an OSError, an unknown split a ValueError
        raise DataError(f"cannot load the Hub dataset: {exc}", path=source) from exc
    rows = enumerate(dataset, start=1)
    return mmlu_pro_from_rows(rows, path=source, skip_malformed=skip_malformed)
