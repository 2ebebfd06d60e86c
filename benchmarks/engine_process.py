"""Each engine of the query benchmark in a process of its own; the harness sends it the queries.

Why: with every embedded engine and every HTTP client in the harness's one process, each ran
beside the others' answers and heaps. The figures moved with whatever ran before: gridpulse's Q5
took 0.166 s in process where the same analysis over HTTP, its client in that same process, took
0.056 s (page faults after other engines trimmed the heap), and Q1 over HTTP moved 1.37-1.71x the
in-process call over four runs. Users run these engines in processes of their own.

The harness (`EngineProcess`) starts `python engine_process.py NAME CMD_FD ANSWER_FD` with two
pipes and sends pickled requests; the process (`serve`) builds its engine from
`query_engines.make_engines()` by name and answers each request with ("ok", value) or ("raise",
exception class name, message):

- ("load", (ds, work, shared)): load the data set (`shared`: the state of the gridpulse folder the
  harness prepared, for the gridpulse engines); value: {"version", "notes"}.
- ("prepare", (q, spec)): prepare query q; value: the query as sent.
- ("run", (q, with_rows)): run it once on the clock, timed here, with the garbage collector
  collected before and paused during the run, as timeit does; value: (seconds, the rows for the
  agreement check or None). The answer is freed before the reply.
- ("close", (keep,)): release the engine, stop what it started; the process then exits.

The pause before each timed run (query_peers.SETTLE_S) stays with the harness.
"""

from __future__ import annotations

import gc
import os
import signal
import subprocess
import sys
import time
import traceback
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from procs import Skip, stop_all
from query_engines import CannotExpress, Engine, NoEndpoint, Prepared, make_engines

__all__ = ["EngineFailed", "EngineProcess"]

#: exceptions that cross the pipe as themselves; anything else arrives as EngineFailed
_KNOWN: dict[str, type[Exception]] = {c.__name__: c for c in (Skip, CannotExpress, NoEndpoint)}
#: how long a process may take to close its engine (stop a server, drop a table) [s]
CLOSE_TIMEOUT_S = 120.0


class EngineFailed(Exception):
    """The engine's process raised something else, or died; the message names it."""


class EngineProcess:
    """The harness's end: one engine's process, its requests and answers."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        cmd_read, cmd_write = os.pipe()
        answer_read, answer_write = os.pipe()
        argv = [sys.executable, __file__, engine.name, str(cmd_read), str(answer_write)]
        self.proc = subprocess.Popen(argv, pass_fds=(cmd_read, answer_write))
        os.close(cmd_read)
        os.close(answer_write)
        self._send = Connection(cmd_write, readable=False)
        self._answers = Connection(answer_read, writable=False)

    def _call(self, op: str, *args: Any) -> Any:
        try:
            self._send.send((op, args))
            kind, *rest = self._answers.recv()
        except (EOFError, BrokenPipeError, ConnectionResetError) as exc:
            try:
                how = f"exited with {self.proc.wait(10)}"
            except subprocess.TimeoutExpired:
                how = "closed its pipe"
            raise EngineFailed(f"{self.engine.name}'s process {how} during {op!r}") from exc
        if kind == "ok":
            return rest[0]
        name, message = rest
        raise _KNOWN.get(name, EngineFailed)(message if name in _KNOWN else f"{name}: {message}")

    def load(self, ds: Any, work: Path, shared: dict[str, Any] | None) -> None:
        """Load the data set in the process; the engine's version and notes come back."""
        got = self._call("load", ds, work, shared)
        self.engine.version = got["version"]
        self.engine.notes[:] = got["notes"]

    def prepare(self, q: str, spec: Any) -> str:
        """Prepare q; returns the query as sent. Raises CannotExpress or NoEndpoint as the engine does."""
        text: str = self._call("prepare", q, spec)
        return text

    def run(self, q: str, *, with_rows: bool = False) -> tuple[float, list[tuple[Any, ...]] | None]:
        """One timed run of q: (seconds, the answer's rows when asked for)."""
        seconds, rows = self._call("run", q, with_rows)
        return float(seconds), rows

    def close(self, keep: bool = False) -> None:
        """Release the engine and end the process; terminated, then killed, if it does not go."""
        if self.proc.poll() is None:
            try:
                self._call("close", keep)
            except Exception as exc:  # the engine's own error, or its process gone: stop it below
                print(f"{self.engine.name}: close failed ({exc})", flush=True)
            try:
                self.proc.wait(CLOSE_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.terminate()  # its SIGTERM handler still stops what it started
                try:
                    self.proc.wait(30)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(10)
        self._send.close()
        self._answers.close()


# ------------------------------------------------------------------------------ the process's end
class _Worker:
    """The engine and its prepared queries, in the engine's process."""

    def __init__(self, name: str) -> None:
        found = [e for e in make_engines() if e.name == name]
        if not found:
            raise SystemExit(f"no engine named {name!r}")
        self.engine = found[0]
        self.prepared: dict[str, Prepared] = {}
        self.closed = False

    def load(self, ds: Any, work: Path, shared: dict[str, Any] | None) -> dict[str, Any]:
        if shared is not None and self.engine.shared is not None:
            self.engine.shared.attach(**shared)
        self.engine.load(ds, work)
        return {"version": self.engine.version, "notes": list(self.engine.notes)}

    def prepare(self, q: str, spec: Any) -> str:
        p = self.engine.prepare(q, spec)
        self.prepared[q] = p
        return p.text

    def run(self, q: str, with_rows: bool) -> tuple[float, list[tuple[Any, ...]] | None]:
        p = self.prepared[q]
        gc.collect()
        gc.disable()
        try:
            t0 = time.perf_counter()
            result = p.run()
            seconds = time.perf_counter() - t0
        finally:
            gc.enable()
        rows = p.rows(result) if with_rows else None
        del result  # freed here, before the reply, not on the next engine's clock
        return seconds, rows

    def close(self, keep: bool) -> None:
        self.closed = True
        self.engine.close(keep=keep)


def serve(name: str, cmd_fd: int, answer_fd: int) -> None:
    """Answer the harness's requests until it asks to close or goes away."""
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    requests = Connection(cmd_fd, writable=False)
    answers = Connection(answer_fd, readable=False)
    worker = _Worker(name)
    try:
        while True:
            try:
                op, args = requests.recv()
            except EOFError:  # the harness is gone
                return
            try:
                answers.send(("ok", getattr(worker, op)(*args)))
            except Exception as exc:
                if type(exc).__name__ not in _KNOWN:
                    traceback.print_exc()
                answers.send(("raise", type(exc).__name__, str(exc)))
            if op == "close":
                return
    finally:
        if not worker.closed:
            try:
                worker.engine.close()
            except Exception:
                traceback.print_exc()
        stop_all()


if __name__ == "__main__":
    serve(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
