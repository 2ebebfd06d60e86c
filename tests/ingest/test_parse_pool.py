"""Ingest parses on a pool of one thread per core, shared by every route, with the caller's context."""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time

import pytest

from gridpulse.ingest.parse_pool import in_parse_thread, parse_threads

REQUEST = contextvars.ContextVar("request", default="none")


def _where(pause_s: float) -> tuple[str, str]:
    time.sleep(pause_s)  # holds its thread, so concurrent calls need others
    return threading.current_thread().name, REQUEST.get()


def test_many_concurrent_parses_share_one_thread_per_core() -> None:
    async def main() -> list[tuple[str, str]]:
        REQUEST.set("req-7")
        return await asyncio.gather(*(in_parse_thread(_where, 0.02) for _ in range(4 * parse_threads())))

    done = asyncio.run(main())
    names = {name for name, _ in done}
    assert all(n.startswith("gridpulse-parse") for n in names)
    assert 1 <= len(names) <= parse_threads()
    assert {ctx for _, ctx in done} == {"req-7"}  # request ids reach the parse threads' log lines


def test_keyword_arguments_and_errors_come_back() -> None:
    def divide(a: int, *, by: int) -> float:
        return a / by

    assert asyncio.run(in_parse_thread(divide, 6, by=3)) == 2
    with pytest.raises(ZeroDivisionError):  # the call's error is raised in the caller
        asyncio.run(in_parse_thread(divide, 1, by=0))
