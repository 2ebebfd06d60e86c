"""create_app(settings, store): the FastAPI application. Nothing is created at import time."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from gridpulse import __version__
from gridpulse.api.auth import TokenCheck
from gridpulse.api.deps import AppState
from gridpulse.api.errors import install_error_handlers
from gridpulse.api.routes import analytics, files, health, influx, ingest, maintenance, readings, series
from gridpulse.api.routes import forecasts as forecast_routes
from gridpulse.config import Settings
from gridpulse.demo_load import load_demo_once
from gridpulse.ingest.ilp_tcp import LineProtocolServer
from gridpulse.ingest.warmup import warm_up_parsers
from gridpulse.ingest.writer import Writer
from gridpulse.jobs.forecasts import scheduled_forecasts
from gridpulse.jobs.maintenance import expire_old_data, refresh_rollups, retention_policy
from gridpulse.jobs.periodic import Periodic
from gridpulse.store import open_store, store_options
from gridpulse.store.base import Store

__all__ = ["create_app"]

log = logging.getLogger(__name__)


def _start_jobs(settings: Settings, store: Store) -> dict[str, Periodic]:
    """The jobs that run while serving: rollup refresh, expiry when rules exist, and forecasts
    when `[forecast]` names series and a schedule."""
    jobs: dict[str, Periodic] = {}
    if settings.rollups.refresh_interval_s:
        jobs["rollups"] = Periodic(
            "rollup-refresh",
            settings.rollups.refresh_interval_s,
            lambda: refresh_rollups(store),
            first_delay_s=1.0,
        ).start()
    retention = settings.retention
    if retention.interval_s and retention_policy(settings).limits_anything:
        jobs["retention"] = Periodic(
            "retention", retention.interval_s, lambda: expire_old_data(store, settings), first_delay_s=60.0
        ).start()
    fc = settings.forecast
    if fc.series and (fc.interval_s or fc.cron):
        jobs["forecasts"] = Periodic(
            "forecasts",
            fc.interval_s,
            lambda: scheduled_forecasts(store, settings),
            first_delay_s=5.0,
            cron=fc.cron,
        ).start()
    return jobs


def create_app(
    settings: Settings, store: Store | None = None, *, ilp_socket: socket.socket | None = None
) -> FastAPI:
    """The gridpulse HTTP app on `store` (opened from settings at start-up when None).

    The app owns the writer thread; a store it opened itself it also closes at shutdown. With
    `ilp_socket` (bound by the caller) it also takes line protocol over TCP on that socket.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own_store = store is None
        warm_up_parsers()  # the lazy imports of the parsers, before the first request rather than in it
        st_store = store or open_store(settings.store_url, store_options(settings))
        writer = Writer(st_store).start()
        st = AppState(settings=settings, store=st_store, writer=writer, auth=TokenCheck(settings))
        app.state.gridpulse = st
        if ilp_socket is not None:
            st.ilp = LineProtocolServer(writer, batch_rows=settings.ingest.batch_rows)
            await st.ilp.start(ilp_socket)
        loader: threading.Thread | None = None
        if settings.demo.load:

            def run_demo() -> None:
                def report(msg: str) -> None:
                    st.demo_status = msg
                    log.info("demo: %s", msg)

                try:
                    load_demo_once(st_store, writer, settings, report)
                except Exception as exc:
                    st.demo_status = f"failed: {exc}"
                    log.exception("loading demo data failed")

            st.demo_status = "starting"
            loader = threading.Thread(target=run_demo, name="gridpulse-demo", daemon=True)
            loader.start()
        st.jobs = _start_jobs(settings, st_store)
        try:
            yield
        finally:
            for job in st.jobs.values():
                job.stop()
            if loader is not None:
                loader.join(timeout=120)
            if st.ilp is not None:
                await st.ilp.stop()
            writer.stop()
            if own_store:
                st_store.close()

    app = FastAPI(
        title="gridpulse",
        version=__version__,
        description="Interval data for electric utilities: ingest with revisions, query in any time zone.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    for module in (health, ingest, influx, readings, series, files):
        app.include_router(module.router)
    app.include_router(analytics.router)
    app.include_router(maintenance.router)
    app.include_router(forecast_routes.router)
    return app
