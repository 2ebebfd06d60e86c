"""`gridpulse serve`: the HTTP service on one or more ports, with the embedded store."""

from __future__ import annotations

import signal
import socket
from pathlib import Path

import typer
from rich.console import Console

from gridpulse.cli.context import make_settings, read_server_record, remove_server_record, write_server_record
from gridpulse.cli.options import DATA_DIR
from gridpulse.config import Settings, validate
from gridpulse.errors import ConfigError, StoreUnavailable
from gridpulse.logs import configure_logging

__all__ = ["serve"]

console = Console(soft_wrap=True)


def _bind(host: str, port: int, *, required: bool) -> socket.socket | None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if required:
            raise ConfigError(
                f"cannot listen on {host}:{port}: {exc.strerror}; choose another --port"
            ) from None
        console.print(f"[yellow]skipping extra port {port}: {exc.strerror}[/yellow]")
        return None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def run_server(settings: Settings) -> None:
    """Bind, print the URLs, serve until interrupted; the server record lives as long as the server."""
    host = settings.server.host
    from gridpulse.api.auth import is_loopback  # here: fastapi stays out of every other command's start-up

    if not is_loopback(host) and not settings.auth.tokens:
        raise ConfigError(
            f"server.host={host!r} is reachable from other machines: configure auth.tokens "
            "(e.g. GRIDPULSE_AUTH_TOKENS='s3cret=read,write') or bind to 127.0.0.1"
        )
    if (rec := read_server_record(settings.data_dir)) is not None:
        raise StoreUnavailable(f"a server (pid {rec.pid}) already serves {settings.data_dir} at {rec.url}")
    main = _bind(host, settings.server.port, required=True)
    assert main is not None
    socks = [main]
    for port in settings.server.extra_ports:
        if port != settings.server.port and (extra := _bind(host, port, required=False)) is not None:
            socks.append(extra)
    ilp_sock = _bind(host, settings.ilp.tcp_port, required=True) if settings.ilp.enabled else None
    shown = f"[{host}]" if ":" in host else host
    urls = [f"http://{shown}:{s.getsockname()[1]}" for s in socks]
    ilp_addr = f"{shown}:{ilp_sock.getsockname()[1]}" if ilp_sock is not None else None
    # imported here: the web stack costs ~0.7 s that every other command should not pay
    import uvicorn

    from gridpulse.api.app import create_app

    app = create_app(settings, ilp_socket=ilp_sock, warm_up=True)
    # log_config=None: uvicorn's own lines go through the root handler configure_logging set up;
    # the access log is gridpulse's (api/observe.py), with the route template and request id
    config = uvicorn.Config(
        app,
        log_config=None,
        log_level=settings.log.level,
        access_log=False,
        timeout_graceful_shutdown=10,
        timeout_keep_alive=settings.server.keep_alive_s,
    )
    server = uvicorn.Server(config)
    write_server_record(settings.data_dir, urls, ilp=ilp_addr)
    base = urls[0]
    console.print(f"[bold green]gridpulse[/] serving store {settings.store_url}")
    for u in urls:
        console.print(f"  dashboard  {u}/        API docs  {u}/docs")
    console.print(
        "  try:\n"
        f"    curl -sS -X POST -H 'Content-Type: application/x-ndjson' --data-binary "
        f'\'{{"ts":"2024-01-01T00:00:00Z","meter_id":"m-1","kwh":1.25}}\' {base}/ingest/meter_usage/ndjson\n'
        f"    curl -sS '{base}/api/v1/readings?entity=m-1&metric=kwh&tz=Europe/Amsterdam'"
    )
    if ilp_addr:
        console.print(
            f"  line protocol over TCP on {ilp_addr} (and over HTTP at {base}/write, {base}/api/v2/write)"
        )
    if settings.demo.load:
        console.print(f"  demo data loads in the background: {base}/api/v1/status")

    def _exit(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    # uvicorn shuts down gracefully, then re-raises SIGTERM to the handler that was there before:
    # make that one exit through `finally`, so the server record is removed
    previous = signal.signal(signal.SIGTERM, _exit)
    try:
        server.run(sockets=socks)
    except SystemExit as exc:
        if exc.code != 128 + signal.SIGTERM:
            raise
    finally:
        signal.signal(signal.SIGTERM, previous)
        remove_server_record(settings.data_dir)
        for s in [*socks, *([ilp_sock] if ilp_sock is not None else [])]:
            s.close()


def serve(
    data_dir: Path | None = DATA_DIR,
    host: str | None = typer.Option(None, help="Address to bind (default 127.0.0.1)."),
    port: int | None = typer.Option(None, help="HTTP port (default 7001; 0 picks a free one)."),
    extra_port: list[int] | None = typer.Option(
        None, "--extra-port", help="More ports serving the same app (default 7002). Repeatable."
    ),
    no_extra_ports: bool = typer.Option(False, "--no-extra-ports", help="Serve on --port only."),
    demo: bool | None = typer.Option(
        None, "--demo/--no-demo", help="Load the demo fleet once (default off)."
    ),
    ilp_port: int | None = typer.Option(
        None, "--ilp-port", help="TCP port for line protocol (default 9009; 0: free)."
    ),
    no_ilp: bool = typer.Option(False, "--no-ilp", help="Do not listen for line protocol over TCP."),
    config: Path | None = typer.Option(None, "--config", help="TOML config file."),
) -> None:
    """Run the HTTP service: ingest routes, line protocol, query API, OpenAPI docs."""
    extra: list[int] | None = [] if no_extra_ports else (extra_port or None)
    settings = make_settings(config, data_dir, host=host, port=port, extra_ports=extra)
    if demo is not None:
        settings = settings.replace(demo={"load": demo})
    if ilp_port is not None or no_ilp:
        ilp: dict[str, object] = {"enabled": not no_ilp}
        if ilp_port is not None:
            ilp["tcp_port"] = ilp_port
        settings = settings.replace(ilp=ilp)
    settings = validate(settings)
    configure_logging(settings.log.format, settings.log.level)
    run_server(settings)
