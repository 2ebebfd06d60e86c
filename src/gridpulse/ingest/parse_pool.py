"""The worker threads every ingest route cuts and parses on: one per core, shared.

asyncio's default executor (`asyncio.to_thread`) grows to min(32, cores + 4) threads, and work
goes to whichever is idle. Each thread's allocator (mimalloc, pyarrow's pool) keeps memory that
was allocated on it, so parses spread over six threads held more than parses on two: a 305 MiB
NDJSON body streamed with +60-67 MiB of resident memory after four bodies had been parsed at
once (six threads in use) against +41-45 with two. Parsing is CPU work: more threads than
cores add no speed.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

__all__ = ["in_parse_thread", "parse_threads"]

P = ParamSpec("P")
T = TypeVar("T")

_pool: ThreadPoolExecutor | None = None
_lock = threading.Lock()


def parse_threads() -> int:
    """How many parse threads there are: the cores, at least two."""
    return max(2, os.cpu_count() or 2)


def _executor() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        with _lock:
            if _pool is None:
                _pool = ThreadPoolExecutor(max_workers=parse_threads(), thread_name_prefix="gridpulse-parse")
    return _pool


async def in_parse_thread(fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
    """`fn(*args, **kwargs)` on a parse thread, with the caller's context (as asyncio.to_thread)."""
    loop = asyncio.get_running_loop()
    call = functools.partial(contextvars.copy_context().run, fn, *args, **kwargs)
    return await loop.run_in_executor(_executor(), call)
