"""Process helpers for the benchmarks: free ports, started servers stopped by PID, RSS polling, sizes."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

import psutil

__all__ = [
    "RssPoller",
    "Server",
    "Skip",
    "dir_size",
    "disk_bytes",
    "free_port",
    "stop_all",
    "wait_for",
]


class Skip(Exception):
    """The engine cannot run here (binary or server missing); reported, never fatal."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def disk_bytes(*paths: Path) -> int:
    """Bytes allocated on disk to these files, as `du` counts them. [B]

    Allocated, not apparent size: InfluxDB preallocates sparse 4 MiB series files, which hold
    a few kilobytes.
    """
    total = 0
    for p in paths:
        with contextlib.suppress(OSError):
            total += os.lstat(p).st_blocks * 512
    return total


def dir_size(path: Path) -> int:
    """Bytes allocated on disk to all regular files below `path`, as `du` counts them. [B]"""
    return sum(disk_bytes(*(Path(root, n) for n in files)) for root, _, files in os.walk(path))


def wait_for(check: Callable[[], Any], *, timeout: float, interval: float = 0.05, what: str = "") -> Any:
    """Call `check` until it returns something truthy; raise TimeoutError after `timeout` s."""
    deadline = time.monotonic() + timeout
    last_exc: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            got = check()
            if got:
                return got
        except Exception as exc:  # e.g. connection refused while the server starts
            last_exc = exc
        time.sleep(interval)
    raise TimeoutError(
        f"timed out after {timeout:.0f} s waiting for {what}" + (f" ({last_exc})" if last_exc else "")
    )


class RssPoller:
    """Polls the resident set size of some processes every `interval` s in a thread; keeps the peak.

    The peak is of the sum over the watched processes; PIDs may be added while it runs.
    """

    def __init__(self, pids: Sequence[int] = (), *, interval: float = 0.1) -> None:
        self.pids = list(pids)
        self.interval = interval
        self.peak_bytes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        total = 0
        for pid in list(self.pids):
            with contextlib.suppress(psutil.Error):
                total += psutil.Process(pid).memory_info().rss
        self.peak_bytes = max(self.peak_bytes, total)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self.interval)

    def __enter__(self) -> RssPoller:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    @property
    def peak_mb(self) -> float:
        return round(self.peak_bytes / 2**20, 1)


_STARTED: dict[int, subprocess.Popen[bytes]] = {}


class Server:
    """A process the benchmark started; its output goes to a log file; stopped by its PID."""

    def __init__(
        self, argv: Sequence[str], *, log: Path, env: dict[str, str] | None = None, cwd: Path | None = None
    ) -> None:
        self.argv = list(argv)
        self.log = log
        self._log_file: IO[bytes] = log.open("wb")
        self.proc = subprocess.Popen(
            self.argv,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
        _STARTED[self.proc.pid] = self.proc

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def check_alive(self) -> None:
        if not self.alive():
            raise RuntimeError(f"{self.argv[0]} exited with {self.proc.returncode}: {self.last_line()}")

    def last_line(self) -> str:
        """The last non-blank line of the log: usually the error. The whole log stays in the run folder."""
        if not self._log_file.closed:
            self._log_file.flush()
        lines = [ln.strip() for ln in self.log.read_text(errors="replace").splitlines() if ln.strip()]
        return lines[-1][:400] if lines else "(no output)"

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int | None:
        """Signal the process by PID, wait for it, kill it if it does not go. Returns its exit code."""
        try:
            if self.proc.poll() is None:
                os.kill(self.proc.pid, sig)
                try:
                    self.proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    os.kill(self.proc.pid, signal.SIGKILL)
                    self.proc.wait(10)
        finally:
            _STARTED.pop(self.proc.pid, None)
            self._log_file.close()
        return self.proc.returncode


def stop_all() -> None:
    """Kill, by PID, whatever the benchmark started and has not stopped (on failure or Ctrl-C)."""
    for pid, proc in list(_STARTED.items()):
        if proc.poll() is None:
            try:
                os.kill(pid, signal.SIGKILL)
                proc.wait(10)
            except (OSError, subprocess.TimeoutExpired):
                pass
        _STARTED.pop(pid, None)
