"""create_app(settings, store): the FastAPI application. Nothing is created at import time."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from fastapi import FastAPI

from gridpulse import __version__
from gridpulse.alerts.engine import AlertEngine
from gridpulse.api.auth import LocalOnly, TokenCheck
from gridpulse.api.deps import AppState
from gridpulse.api.errors import install_error_handlers
from gridpulse.api.hot_routes import install_hot_routes
from gridpulse.api.observe import ObserveMiddleware
from gridpulse.api.routes import alerts as alert_routes
from gridpulse.api.routes import analytics, files, health, influx, ingest, maintenance, readings, series
from gridpulse.api.routes import anomalies as anomaly_routes
from gridpulse.api.routes import forecasts as forecast_routes
from gridpulse.api.routes import jobs as job_routes
from gridpulse.api.routes import metrics as metric_routes
from gridpulse.api.routes import quality as quality_routes
from gridpulse.api.routes import sources as source_routes
from gridpulse.config import Settings
from gridpulse.demo_load import load_demo_once
from gridpulse.ingest.ilp_tcp import LineProtocolServer
from gridpulse.ingest.warmup import warm_up_parsers, warm_up_streams
from gridpulse.ingest.writer import Writer
from gridpulse.jobs.anomalies import scheduled_scan
from gridpulse.jobs.forecasts import scheduled_forecasts
from gridpulse.jobs.history import JobHistory
from gridpulse.jobs.maintenance import expire_old_data, refresh_rollups, retention_policy
from gridpulse.jobs.monitoring import scheduled_monitoring
from gridpulse.jobs.periodic import Periodic
from gridpulse.jobs.quality import scheduled_quality
from gridpulse.jobs.scheduler import attach_history
from gridpulse.jobs.sources import make_source_jobs
from gridpulse.sources import parse_sources
from gridpulse.store import open_store, store_options
from gridpulse.store.base import Store
from gridpulse.web import install_dashboard

__all__ = ["create_app"]

log = logging.getLogger(__name__)


def _busy_ingest(writer: Writer | None, rows_per_s: int) -> Callable[[], bool] | None:
    """True while the writer commits more than `rows_per_s` (a bulk load): the rollup refresh,
    which wants the same cores and would redo buckets the load is still filling, waits."""
    if writer is None or rows_per_s <= 0:
        return None
    return lambda: writer.rows_per_s() > rows_per_s


def _start_jobs(settings: Settings, store: Store, writer: Writer | None = None) -> dict[str, Periodic]:
    """The jobs that run while serving: rollup refresh, expiry when rules exist, forecasts
    when `[forecast]` names series and a schedule, validation (and estimation through `writer`)
    and anomaly scans when `[quality]` and `[anomaly]` have a schedule, and forecast monitoring
    (live error and drift) unless `[forecast] monitor_interval_s` is 0."""
    jobs: dict[str, Periodic] = {}
    if settings.rollups.refresh_interval_s:
        jobs["rollups"] = Periodic(
            "rollup-refresh",
            settings.rollups.refresh_interval_s,
            lambda: refresh_rollups(store),
            first_delay_s=1.0,
            hold=_busy_ingest(writer, settings.rollups.hold_above_rows_per_s),
            max_hold_s=settings.rollups.max_hold_s,
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
    q = settings.quality
    if writer is not None and (q.interval_s or q.cron):
        jobs["quality"] = Periodic(
            "quality",
            q.interval_s,
            lambda: scheduled_quality(store, settings, lambda req: writer.submit(req).result()),
            first_delay_s=15.0,
            cron=q.cron,
        ).start()
    an = settings.anomaly
    if an.interval_s or an.cron:
        jobs["anomalies"] = Periodic(
            "anomalies", an.interval_s, lambda: scheduled_scan(store, settings), first_delay_s=20.0, cron=an.cron
        ).start()
    if fc.monitor_interval_s:
        # cheap when nothing is forecast: one query finds no run
        jobs["forecast-monitor"] = Periodic(
            "forecast-monitor",
            fc.monitor_interval_s,
            lambda: scheduled_monitoring(store, settings),
            first_delay_s=30.0,
        ).start()
    return jobs


def create_app(
    settings: Settings,
    store: Store | None = None,
    *,
    ilp_socket: socket.socket | None = None,
    warm_up: bool = False,
) -> FastAPI:
    """The gridpulse HTTP app on `store` (opened from settings at start-up when None).

    The app owns the writer thread; a store it opened itself it also closes at shutdown. With
    `ilp_socket` (bound by the caller) it also takes line protocol over TCP on that socket.
    With `warm_up`, start-up parses `ingest.warm_up_streams` full-size bodies of each format
    first (`gridpulse serve` asks for it; tests' apps start without).
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own_store = store is None
        warm_up_parsers()  # the lazy imports of the parsers, before the first request rather than in it
        if warm_up:  # and full-size bodies on the worker threads the first requests will use
            await warm_up_streams(settings.ingest.batch_rows, settings.ingest.warm_up_streams)
        st_store = store or open_store(settings.store_url, store_options(settings))
        writer = Writer(st_store)
        alerts: AlertEngine | None = None
        if settings.alerts.enabled:
            # the tap goes on before the writer starts: every commit, from every route, is seen
            alerts = AlertEngine.from_settings(settings, st_store).start()
            alerts.attach(writer)
        writer.start()
        st = AppState(settings=settings, store=st_store, writer=writer, auth=TokenCheck(settings), alerts=alerts)
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
        # runs a crash or kill cut short are marked before any job records a new one
        JobHistory(st_store).interrupt_stale(datetime.now(UTC))
        st.jobs = _start_jobs(settings, st_store, writer)
        if alerts is not None:
            # the first evaluation after start-up settles, or sooner when the interval is shorter
            first_s = min(5.0, float(settings.alerts.interval_s))
            st.jobs["alerts"] = Periodic(
                "alerts", settings.alerts.interval_s, alerts.evaluate_scheduled, first_delay_s=first_s
            ).start()
        source_jobs, source_runners = make_source_jobs(settings, st_store, writer)
        app.state.gridpulse_sources = (parse_sources(settings.sources), source_runners)
        st.jobs.update(source_jobs)
        attach_history(st.jobs, st_store, settings)  # every job's runs go to job_runs
        for job in source_jobs.values():
            job.start()
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
            if alerts is not None:
                alerts.stop()  # after the writer: the last commits' rows are evaluated too
            if own_store:
                st_store.close()

    app = FastAPI(
        title="gridpulse",
        version=__version__,
        description="Interval data for electric utilities: ingest with revisions, query in any time zone.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    if not settings.auth.tokens:
        app.add_middleware(LocalOnly)  # no tokens: nothing forwarded from beyond this machine
    app.add_middleware(ObserveMiddleware)  # request id, HTTP latency metric, access log
    install_dashboard(app, auth=bool(settings.auth.tokens))  # before health's plain landing page at /
    for module in (health, ingest, influx, readings, series, files):
        app.include_router(module.router)
    app.include_router(analytics.router)
    app.include_router(maintenance.router)
    app.include_router(forecast_routes.router)
    app.include_router(quality_routes.router)
    app.include_router(anomaly_routes.router)
    app.include_router(alert_routes.router)
    app.include_router(job_routes.router)
    app.include_router(source_routes.router)
    app.include_router(metric_routes.router)
    install_hot_routes(app)  # ahead of the routes above, which still document the two endpoints
    return app
