"""Shared CLI plumbing: settings from options, and reaching the store or the server that holds it.

The embedded store has one writer. When `gridpulse serve` runs on a data folder it leaves a
server record (`server.json`) there; other commands then talk to it over HTTP instead of
opening the file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gridpulse.config import Settings, load_settings, validate
from gridpulse.errors import GridpulseError, ServerUnreachable, StoreUnavailable

if TYPE_CHECKING:
    import httpx

    from gridpulse.store.base import Store

__all__ = [
    "ServerRecord",
    "client_for",
    "make_settings",
    "raise_for_api",
    "read_server_record",
    "remove_server_record",
    "server_or_local",
    "write_server_record",
]

RECORD = "server.json"


def make_settings(config: Path | None, data_dir: Path | None = None, **server: Any) -> Settings:
    settings = load_settings(config)
    if data_dir is not None:
        settings = settings.replace(store={"data_dir": str(data_dir)})
    given = {k: v for k, v in server.items() if v is not None}
    if given:
        settings = settings.replace(server=given)
    return validate(settings)


@dataclass(frozen=True)
class ServerRecord:
    pid: int
    url: str
    urls: list[str]
    ilp: str | None = None


def write_server_record(data_dir: Path, urls: list[str], *, ilp: str | None = None) -> None:
    """Say where this server listens: HTTP URLs and the line-protocol TCP address (host:port)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    tmp = data_dir / (RECORD + ".tmp")
    tmp.write_text(json.dumps({"pid": os.getpid(), "url": urls[0], "urls": urls, "ilp": ilp}))
    tmp.replace(data_dir / RECORD)


def remove_server_record(data_dir: Path) -> None:
    path = data_dir / RECORD
    try:
        if json.loads(path.read_text()).get("pid") == os.getpid():
            path.unlink()
    except (OSError, ValueError):
        pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_server_record(data_dir: Path) -> ServerRecord | None:
    """The record of a live server on this data folder, or None (stale records are ignored)."""
    try:
        raw = json.loads((data_dir / RECORD).read_text())
    except (OSError, ValueError):
        return None
    if not _alive(int(raw.get("pid", -1))):
        return None
    return ServerRecord(int(raw["pid"]), str(raw["url"]), list(raw.get("urls", [raw["url"]])), raw.get("ilp"))


def client_for(settings: Settings, token: str | None) -> httpx.Client | None:
    """An HTTP client on the running server of this data folder, or None when none runs."""
    rec = read_server_record(settings.data_dir)
    if rec is None:
        return None
    import httpx  # only when a server runs: local commands start ~0.1 s sooner

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        httpx.get(rec.url + "/healthz", timeout=5).raise_for_status()
    except httpx.HTTPError as exc:
        raise ServerUnreachable(
            f"a server (pid {rec.pid}) holds {settings.data_dir} but {rec.url} does not answer: {exc}"
        ) from exc
    return httpx.Client(base_url=rec.url, headers=headers, timeout=120)


def raise_for_api(resp: httpx.Response) -> None:
    """Turn an API error response into a GridpulseError with the server's message."""
    if resp.status_code < 400:
        return
    try:
        body = resp.json()
        msg = body.get("error", resp.text)
        for e in body.get("errors", [])[:10]:
            msg += (
                f"\n  line {e['line']}"
                + (f", field '{e['field']}'" if e.get("field") else "")
                + f": {e['reason']}"
            )
    except ValueError:
        msg = resp.text
    raise GridpulseError(f"server answered {resp.status_code}: {msg}")


def server_or_local(
    settings: Settings,
    token: str | None,
    ask: Callable[[httpx.Client], httpx.Response],
    local: Callable[[], Any],
) -> Any:
    """The running server's JSON answer to `ask` when one holds this data folder (its errors
    raised as GridpulseError), else `local()`, which works on the store file itself."""
    client = client_for(settings, token)
    if client is None:
        return local()
    with client:
        resp = ask(client)
        raise_for_api(resp)
        return resp.json()


def open_local_store(settings: Settings, *, read_only: bool = True) -> Store:
    """The store file of this data folder, for commands run while no server holds it.

    Raises:
        StoreUnavailable: there is no store yet (`gridpulse init` or `serve` creates it).
    """
    path = settings.data_dir / "gridpulse.duckdb"
    if not settings.store.url and not path.exists():
        raise StoreUnavailable(f"no store at {path}: run `gridpulse init` or `gridpulse serve` first")
    from gridpulse.store import open_store, store_options  # the store loads only when used

    return open_store(settings.store_url, store_options(settings), read_only=read_only)
