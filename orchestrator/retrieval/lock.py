"""One writer at a time per knowledge store: a file lock inside a local store's directory.

Every write (``kb add``, ``kb remove``, ``kb repair``, the index repair on open) holds the lock, so two
``kb add`` started together run one after the other instead of both inserting the same chunks. The lock
is ``filelock``'s (an OS lock on ``.symoe-write.lock``): a process killed while holding it releases it.
Object storage and remote LanceDB have no directory to lock; there the writes' upserts keyed by chunk id
are the only protection (see :mod:`.store`).

Example::

    with write_lock(config):
        ...  # write
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

from common.errors import DataError
from common.settings import expand_path
from orchestrator.retrieval.config import KnowledgeConfig

logger = logging.getLogger(__name__)

LOCK_NAME = ".symoe-write.lock"


@contextlib.contextmanager
def write_lock(config: KnowledgeConfig, *, timeout_s: float | None = None) -> Iterator[bool]:
    """Hold the store's write lock for the block (nothing to hold for a remote store).

    Args:
        config: the store.
        timeout_s: how long to wait for another writer (``config.lock_timeout_s`` when None); 0 tries
            once.

    Yields:
        True (the lock is held, or there is none to hold).

    Raises:
        DataError: another process held the lock for longer than the timeout.
    """
    if not config.is_local:
        yield True
        return
    from filelock import FileLock, Timeout

    folder = expand_path(config.uri)
    folder.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(folder / LOCK_NAME), is_singleton=True)  # re-entrant within a process
    wait = config.lock_timeout_s if timeout_s is None else timeout_s
    try:
        lock.acquire(timeout=0)
    except Timeout:
        if wait == 0:
            raise DataError(
                f"knowledge store {config.uri} is being written by another process", path=config.uri
            ) from None
        logger.warning("knowledge store %s: waiting for another writer (up to %.0fs)", config.uri, wait)
        try:
            lock.acquire(timeout=wait)
        except Timeout as exc:
            raise DataError(
                f"knowledge store {config.uri}: another process has been writing for over {wait:.0f}s; "
                "wait for it to finish or raise lock_timeout_s",
                path=config.uri,
            ) from exc
    try:
        yield True
    finally:
        lock.release()


def is_locked(config: KnowledgeConfig) -> bool:
    """True when another process holds the store's write lock right now."""
    try:
        with write_lock(config, timeout_s=0):
            return False
    except DataError:
        return True
