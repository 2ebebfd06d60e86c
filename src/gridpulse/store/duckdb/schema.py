"""DuckDB schema and its migrations, applied in order at open.

Points hold plain TIMESTAMP values that are UTC instants: grouping on a plain timestamp is about
5x faster than on TIMESTAMPTZ in DuckDB (docs/design-decisions.md). There is deliberately no
uniqueness constraint on points (it costs about 10x on insert); the writer keeps (series, ts)
unique instead.
"""

from __future__ import annotations

__all__ = ["MIGRATIONS", "SCHEMA_VERSION"]

_V1 = [
    """CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR)""",
    """CREATE SEQUENCE IF NOT EXISTS series_id_seq START 1""",
    """CREATE TABLE IF NOT EXISTS series (
        series_id INTEGER PRIMARY KEY,
        entity_kind VARCHAR NOT NULL,
        entity_id VARCHAR NOT NULL,
        metric VARCHAR NOT NULL,
        unit VARCHAR NOT NULL DEFAULT '',
        interval_s INTEGER,
        tz VARCHAR NOT NULL DEFAULT 'UTC',
        tags VARCHAR NOT NULL DEFAULT '{}',
        organisation_id VARCHAR,
        site_id VARCHAR,
        device_id VARCHAR,
        channel_id VARCHAR,
        hwm_ts TIMESTAMP,
        created_at TIMESTAMP NOT NULL,
        UNIQUE (entity_kind, entity_id, metric))""",
    """CREATE TABLE IF NOT EXISTS points (
        series_id INTEGER NOT NULL,
        ts TIMESTAMP NOT NULL,
        value DOUBLE,
        version INTEGER NOT NULL,
        inserted_at TIMESTAMP NOT NULL,
        quality TINYINT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS points_history (
        series_id INTEGER NOT NULL,
        ts TIMESTAMP NOT NULL,
        value DOUBLE,
        version INTEGER NOT NULL,
        inserted_at TIMESTAMP NOT NULL,
        quality TINYINT NOT NULL,
        superseded_at TIMESTAMP NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS organisations (
        organisation_id VARCHAR PRIMARY KEY, name VARCHAR, parent_id VARCHAR,
        attrs VARCHAR NOT NULL DEFAULT '{}', updated_at TIMESTAMP)""",
    """CREATE TABLE IF NOT EXISTS sites (
        site_id VARCHAR PRIMARY KEY, organisation_id VARCHAR, name VARCHAR, tz VARCHAR,
        attrs VARCHAR NOT NULL DEFAULT '{}', updated_at TIMESTAMP)""",
    """CREATE TABLE IF NOT EXISTS devices (
        device_id VARCHAR PRIMARY KEY, site_id VARCHAR, organisation_id VARCHAR, name VARCHAR,
        device_type VARCHAR, attrs VARCHAR NOT NULL DEFAULT '{}', updated_at TIMESTAMP)""",
    """CREATE TABLE IF NOT EXISTS channels (
        channel_id VARCHAR PRIMARY KEY, device_id VARCHAR, organisation_id VARCHAR, name VARCHAR,
        tariff_id VARCHAR, attrs VARCHAR NOT NULL DEFAULT '{}', updated_at TIMESTAMP)""",
    """CREATE TABLE IF NOT EXISTS meters (
        meter_id VARCHAR PRIMARY KEY, site_id VARCHAR, name VARCHAR,
        attrs VARCHAR NOT NULL DEFAULT '{}', updated_at TIMESTAMP)""",
    """CREATE TABLE IF NOT EXISTS plants (
        plant_id VARCHAR PRIMARY KEY, site_id VARCHAR, name VARCHAR, capacity_mw DOUBLE,
        attrs VARCHAR NOT NULL DEFAULT '{}', updated_at TIMESTAMP)""",
    """CREATE TABLE IF NOT EXISTS feeders (
        feeder_id VARCHAR PRIMARY KEY, site_id VARCHAR, name VARCHAR,
        attrs VARCHAR NOT NULL DEFAULT '{}', updated_at TIMESTAMP)""",
    """CREATE TABLE IF NOT EXISTS meter_feeder_map (
        meter_id VARCHAR NOT NULL, feeder_id VARCHAR NOT NULL, scaling_factor DOUBLE NOT NULL DEFAULT 1.0,
        valid_from TIMESTAMP NOT NULL DEFAULT TIMESTAMP '1970-01-01', valid_to TIMESTAMP,
        attrs VARCHAR NOT NULL DEFAULT '{}', updated_at TIMESTAMP,
        PRIMARY KEY (meter_id, feeder_id, valid_from))""",
]

# Continuous rollups (store/duckdb/rollups.py): one row per series, grain and bucket, kept up to
# date from rollup_dirty, which every commit appends the (series, time range) it wrote to.
_V2 = [
    """CREATE TABLE IF NOT EXISTS rollups (
        grain TINYINT NOT NULL,
        series_id INTEGER NOT NULL,
        bucket TIMESTAMP NOT NULL,
        sum DOUBLE,
        count BIGINT NOT NULL,
        min DOUBLE,
        max DOUBLE,
        first_ts TIMESTAMP,
        first DOUBLE,
        last_ts TIMESTAMP,
        last DOUBLE,
        rows BIGINT NOT NULL)""",
    """CREATE SEQUENCE IF NOT EXISTS rollup_dirty_seq START 1""",
    """CREATE TABLE IF NOT EXISTS rollup_dirty (
        id BIGINT NOT NULL DEFAULT nextval('rollup_dirty_seq'),
        series_id INTEGER NOT NULL,
        ts_min TIMESTAMP NOT NULL,
        ts_max TIMESTAMP NOT NULL)""",
    # raw points before raw_floor were expired by retention; their rollups are kept as they were
    """ALTER TABLE series ADD COLUMN IF NOT EXISTS raw_floor TIMESTAMP""",
    # a store written before rollups existed: everything it holds is still to be rolled up
    """INSERT INTO rollup_dirty (series_id, ts_min, ts_max)
       SELECT series_id, min(ts), max(ts) FROM points GROUP BY series_id""",
]

# When each bucket's minimum and maximum first happened, so peak demand and daily state-of-charge
# extremes come from the rollups with their time. Every series is rolled up again.
_V3 = [
    """ALTER TABLE rollups ADD COLUMN IF NOT EXISTS min_at TIMESTAMP""",
    """ALTER TABLE rollups ADD COLUMN IF NOT EXISTS max_at TIMESTAMP""",
    """INSERT INTO rollup_dirty (series_id, ts_min, ts_max)
       SELECT series_id, min(ts), max(ts) FROM points GROUP BY series_id""",
]

# Stored forecasts (store/duckdb/forecasts.py): one row per run, saying which model made it from
# which training window, and one row per step of it. Never updated: a new run is a new row.
_V4 = [
    """CREATE SEQUENCE IF NOT EXISTS forecast_id_seq START 1""",
    """CREATE TABLE IF NOT EXISTS forecast_runs (
        forecast_id BIGINT PRIMARY KEY,
        series_id INTEGER NOT NULL,
        model VARCHAR NOT NULL,
        model_version VARCHAR NOT NULL,
        step_s INTEGER NOT NULL,
        steps INTEGER NOT NULL,
        origin TIMESTAMP NOT NULL,
        train_start TIMESTAMP NOT NULL,
        train_end TIMESTAMP NOT NULL,
        created_at TIMESTAMP NOT NULL,
        params VARCHAR NOT NULL DEFAULT '{}')""",
    """CREATE TABLE IF NOT EXISTS forecast_values (
        forecast_id BIGINT NOT NULL,
        ts TIMESTAMP NOT NULL,
        mean DOUBLE,
        lo80 DOUBLE,
        hi80 DOUBLE,
        lo95 DOUBLE,
        hi95 DOUBLE)""",
]

# Anomalies and validation (store/duckdb/anomalies.py, store/duckdb/quality.py): one row per
# anomaly window a detector found (its status changes, its finding is re-scored in place on a
# re-scan), and one row per series, local day and validation rule (replaced by each check run).
_V5 = [
    """CREATE SEQUENCE IF NOT EXISTS anomaly_id_seq START 1""",
    """CREATE TABLE IF NOT EXISTS anomalies (
        anomaly_id BIGINT NOT NULL,
        series_id INTEGER NOT NULL,
        ts_start TIMESTAMP NOT NULL,
        ts_end TIMESTAMP NOT NULL,
        kind VARCHAR NOT NULL,
        score DOUBLE NOT NULL,
        severity VARCHAR NOT NULL,
        detector VARCHAR NOT NULL,
        model_version VARCHAR NOT NULL,
        forecast_id BIGINT,
        value DOUBLE,
        expected DOUBLE,
        status VARCHAR NOT NULL,
        detected_at TIMESTAMP NOT NULL,
        updated_at TIMESTAMP NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS validation_results (
        series_id INTEGER NOT NULL,
        day DATE NOT NULL,
        rule VARCHAR NOT NULL,
        status VARCHAR NOT NULL,
        count INTEGER NOT NULL,
        expected INTEGER,
        first_ts TIMESTAMP,
        detail VARCHAR NOT NULL DEFAULT '',
        checked_at TIMESTAMP NOT NULL)""",
]

# Alerting (store/duckdb/alerts.py): rules made through the API (config rules are not stored),
# one row per alert (a rule's group from firing to resolved, its current state), the history of
# every alert's transitions and notifications, and silences.
_V6 = [
    """CREATE TABLE IF NOT EXISTS alert_rules (
        name VARCHAR PRIMARY KEY,
        spec VARCHAR NOT NULL,
        created_at TIMESTAMP NOT NULL)""",
    """CREATE SEQUENCE IF NOT EXISTS alert_id_seq START 1""",
    """CREATE TABLE IF NOT EXISTS alerts (
        alert_id BIGINT NOT NULL,
        rule VARCHAR NOT NULL,
        kind VARCHAR NOT NULL,
        group_key VARCHAR NOT NULL,
        series VARCHAR NOT NULL DEFAULT '[]',
        state VARCHAR NOT NULL,
        severity VARCHAR NOT NULL,
        summary VARCHAR NOT NULL DEFAULT '',
        labels VARCHAR NOT NULL DEFAULT '{}',
        value DOUBLE,
        value_ts TIMESTAMP,
        started_at TIMESTAMP NOT NULL,
        resolved_at TIMESTAMP,
        updated_at TIMESTAMP NOT NULL,
        acknowledged_by VARCHAR,
        acknowledged_at TIMESTAMP,
        silence_id BIGINT,
        notifications_sent INTEGER NOT NULL DEFAULT 0)""",
    """CREATE TABLE IF NOT EXISTS alert_events (
        alert_id BIGINT NOT NULL,
        "at" TIMESTAMP NOT NULL,
        event VARCHAR NOT NULL,
        detail VARCHAR NOT NULL DEFAULT '{}')""",
    """CREATE SEQUENCE IF NOT EXISTS silence_id_seq START 1""",
    """CREATE TABLE IF NOT EXISTS alert_silences (
        silence_id BIGINT PRIMARY KEY,
        rule VARCHAR NOT NULL DEFAULT '',
        series VARCHAR NOT NULL DEFAULT '',
        starts_at TIMESTAMP NOT NULL,
        until TIMESTAMP NOT NULL,
        created_by VARCHAR NOT NULL DEFAULT '',
        comment VARCHAR NOT NULL DEFAULT '',
        created_at TIMESTAMP NOT NULL)""",
]

# Job history and source state (store/duckdb/jobs.py): one row per run of a scheduled job,
# inserted when it starts (a crash leaves it `running`, marked `interrupted` at the next start);
# per source and key (vendor channel, series), the watermark its committed rows reach.
_V7 = [
    """CREATE SEQUENCE IF NOT EXISTS job_run_id_seq START 1""",
    """CREATE TABLE IF NOT EXISTS job_runs (
        run_id BIGINT PRIMARY KEY,
        job VARCHAR NOT NULL,
        cause VARCHAR NOT NULL,
        started_at TIMESTAMP NOT NULL,
        ended_at TIMESTAMP,
        status VARCHAR NOT NULL,
        rows BIGINT,
        rejects BIGINT,
        failures INTEGER,
        error VARCHAR,
        detail VARCHAR NOT NULL DEFAULT '{}')""",
    """CREATE TABLE IF NOT EXISTS source_state (
        source VARCHAR NOT NULL,
        key VARCHAR NOT NULL,
        watermark TIMESTAMP,
        last_success_at TIMESTAMP,
        detail VARCHAR NOT NULL DEFAULT '{}',
        PRIMARY KEY (source, key))""",
]

# How many of each rollup bucket's values are estimates (quality 1), so every bucketed read says
# how much of a bucket was estimated (gridpulse.quality). Every series is rolled up again.
_V8 = [
    """ALTER TABLE rollups ADD COLUMN IF NOT EXISTS estimated BIGINT""",
    """INSERT INTO rollup_dirty (series_id, ts_min, ts_max)
       SELECT series_id, min(ts), max(ts) FROM points GROUP BY series_id""",
]

# Estimates in the analytics (docs/analytics.md): `estimated` counts only non-null estimates (a
# part of `count`, so estimated / count is a share), and each bucket says whether its minimum and
# its maximum are estimates (a peak from the rollups says whether the peak interval was
# estimated). Every series is rolled up again; from an older release with v8 it is one re-roll.
_V9 = [
    """ALTER TABLE rollups ADD COLUMN IF NOT EXISTS min_estimated BOOLEAN""",
    """ALTER TABLE rollups ADD COLUMN IF NOT EXISTS max_estimated BOOLEAN""",
    """INSERT INTO rollup_dirty (series_id, ts_min, ts_max)
       SELECT series_id, min(ts), max(ts) FROM points GROUP BY series_id""",
]

# Forecast monitoring (store/duckdb/monitoring.py): one row per series per monitoring run, the
# live error of its stored forecasts over the recent window and the drift (PSI) of its recent
# values against the training window; alert rules of kinds forecast_error and forecast_drift
# read them. The training window itself was recorded with each run since v4.
_V10 = [
    """CREATE TABLE IF NOT EXISTS forecast_checks (
        series_id INTEGER NOT NULL,
        checked_at TIMESTAMP NOT NULL,
        window_start TIMESTAMP NOT NULL,
        window_end TIMESTAMP NOT NULL,
        forecast_id BIGINT,
        steps INTEGER NOT NULL,
        mae DOUBLE,
        mape DOUBLE,
        bias DOUBLE,
        coverage80 DOUBLE,
        coverage95 DOUBLE,
        psi DOUBLE,
        detail VARCHAR NOT NULL DEFAULT '{}')""",
]

# Fleet totals (store/duckdb/rollups.py): per grain, entity kind, metric and bucket the sum of
# every such series' rollup sums, so a total over a whole fleet reads one row per bucket. `series`
# counts the series with a value in the bucket; `rows` and `count` are the rollups' summed.
_V11 = [
    """CREATE TABLE IF NOT EXISTS rollup_fleet (
        grain TINYINT NOT NULL,
        entity_kind VARCHAR NOT NULL,
        metric VARCHAR NOT NULL,
        bucket TIMESTAMP NOT NULL,
        sum DOUBLE,
        count BIGINT NOT NULL,
        series BIGINT NOT NULL,
        rows BIGINT NOT NULL,
        estimated BIGINT)""",
    """INSERT INTO rollup_fleet
       SELECT r.grain, s.entity_kind, s.metric, r.bucket, sum(r.sum), sum(r.count), count(r.sum),
              sum(r.rows), sum(r.estimated)
       FROM rollups r JOIN series s ON s.series_id = r.series_id
       GROUP BY r.grain, s.entity_kind, s.metric, r.bucket
       ORDER BY r.grain, r.bucket, s.entity_kind, s.metric""",
]

#: (version, statements), applied in order; each version in one transaction.
MIGRATIONS: list[tuple[int, list[str]]] = [
    (1, _V1), (2, _V2), (3, _V3), (4, _V4), (5, _V5), (6, _V6), (7, _V7), (8, _V8), (9, _V9), (10, _V10),
    (11, _V11),
]
SCHEMA_VERSION = MIGRATIONS[-1][0]
