"""Online micro-batching: requests that arrive within a short window are handled as one batch.

:class:`WindowBatcher` queues items from concurrent coroutines. The first item to arrive waits
``window_s`` for others; everything queued by then (up to ``max_batch``) goes to ``handle`` in one call,
run in a single worker thread, so batches run one at a time and a resident model serves each batch
together. Used by the project's OpenAI-compatible servers: per model in
:mod:`orchestrator.service.openai_stub`, per pool (one ``solve`` call) in :mod:`orchestrator.service.app`.

Example::

    batcher = WindowBatcher("model-a", engine.generate, window_s=0.02, max_batch=64)  # in a running loop
    result, batch_size = await batcher.submit(request)
    await batcher.close()
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Generic, TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")


class WindowBatcher(Generic[T, R]):
    """Groups items arriving within ``window_s`` into one ``handle`` call, one call at a time.

    Args:
        name: for logs and the worker thread's name.
        handle: answers a batch, in order; an entry may be an exception, which only its caller receives.
            Runs in a worker thread. If it raises, every caller of the batch receives ``on_error(exc)``.
        window_s: how long the first item of a batch waits for others.
        max_batch: the most items per batch.
        on_error: turns an unexpected exception of ``handle`` into the one the callers receive.
        on_queue: called with the queue depth whenever it changes (e.g. a metrics gauge).
    """

    def __init__(
        self,
        name: str,
        handle: Callable[[list[T]], Sequence[R | BaseException]],
        window_s: float,
        max_batch: int,
        *,
        on_error: Callable[[Exception], BaseException] = lambda exc: exc,
        on_queue: Callable[[int], None] | None = None,
    ) -> None:
        self.name, self.handle, self.window_s, self.max_batch = name, handle, window_s, max_batch
        self.on_error, self.on_queue = on_error, on_queue
        self.queue: asyncio.Queue[tuple[T, asyncio.Future[tuple[R, int]]]] = asyncio.Queue()
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"batch-{name}")
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def submit(self, item: T) -> tuple[R, int]:
        """Queue one item; returns its result and the size of the batch it was handled in."""
        future: asyncio.Future[tuple[R, int]] = asyncio.get_running_loop().create_future()
        self.queue.put_nowait((item, future))
        self._queued()
        return await future

    def _queued(self) -> None:
        if self.on_queue is not None:
            self.on_queue(self.queue.qsize())

    async def _next_batch(self) -> list[tuple[T, asyncio.Future[tuple[R, int]]]]:
        items = [await self.queue.get()]
        await asyncio.sleep(self.window_s)  # let concurrent requests join this batch
        while len(items) < self.max_batch and not self.queue.empty():
            items.append(self.queue.get_nowait())
        self._queued()
        return [(x, f) for x, f in items if not f.done()]  # drop requests whose client left

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            items = await self._next_batch()
            if not items:
                continue
            batch = [x for x, _ in items]
            try:
                results = await loop.run_in_executor(self.executor, self.handle, batch)
            except Exception as exc:  # handler boundary: any failure must reach the waiting requests
                logger.exception("%s: a batch of %d failed", self.name, len(batch))
                err = self.on_error(exc)
                for _, fut in items:
                    if not fut.done():
                        fut.set_exception(err)
                continue
            logger.debug("%s: handled a batch of %d", self.name, len(batch))
            for (_, fut), result in zip(items, results, strict=True):
                if fut.done():
                    continue
                if isinstance(result, BaseException):
                    fut.set_exception(result)
                else:
                    fut.set_result((result, len(items)))

    async def close(self) -> None:
        """Stop taking batches and wait for the worker thread."""
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        self.executor.shutdown(wait=True)
