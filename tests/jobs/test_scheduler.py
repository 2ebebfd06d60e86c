"""Periodic jobs with a history: never two runs at once, every run recorded, misfires, interruptions."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from gridpulse.jobs.history import JobHistory
from gridpulse.jobs.periodic import HOLD_POLL_S, JobBusy, Periodic
from gridpulse.store.base import Store


def _wait_for(predicate, what: str, timeout: float = 30) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"{what} did not happen within {timeout} s"
        time.sleep(0.01)


def test_runs_of_one_job_never_overlap_scheduled_or_asked_for() -> None:
    active = 0
    most = 0
    lock = threading.Lock()
    calls = 0

    def work() -> int:
        nonlocal active, most, calls
        with lock:
            active += 1
            calls += 1
            most = max(most, active)
        time.sleep(0.02)
        with lock:
            active -= 1
        return 1

    job = Periodic("busy", 0.03, work).start()  # scheduled runs leave gaps the askers hit
    busy = 0
    manual = 0

    def ask() -> None:
        nonlocal busy, manual
        for _ in range(20):
            try:
                job.run_now()
                manual += 1
            except JobBusy as exc:
                assert "is running" in str(exc)
                busy += 1
            time.sleep(0.003)

    askers = [threading.Thread(target=ask) for _ in range(4)]
    for t in askers:
        t.start()
    for t in askers:
        t.join()
    job.stop()
    assert most == 1
    assert busy > 0 and manual > 0 and calls == job.runs


def test_every_run_is_recorded_with_its_rows_status_and_error(store: Store) -> None:
    results: list[object] = [7, RuntimeError("vendor down"), {"rows": 3, "rejects": 1, "failures": 1, "status": "partial", "error": "c3: HTTP 500"}]

    def work() -> object:
        r = results.pop(0)
        if isinstance(r, Exception):
            raise r
        return r

    job = Periodic("poll", 3600, work).attach(JobHistory(store), job="source:test")
    for _ in range(3):
        job.run_now()
    runs = store.list_job_runs("source:test")
    assert [r.status for r in runs] == ["partial", "failed", "ok"]
    assert runs[2].rows == 7 and runs[2].cause == "manual" and runs[2].duration_s is not None
    assert runs[1].error == "vendor down" and runs[1].rows is None
    assert (runs[0].rows, runs[0].rejects, runs[0].failures, runs[0].error) == (3, 1, 1, "c3: HTTP 500")
    newest, ok, streak = store.latest_job_runs()["source:test"]
    assert newest.run_id == runs[0].run_id and ok is not None and ok.run_id == runs[0].run_id and streak == 0
    assert job.status()["last_status"] == "partial"


def test_failed_runs_in_a_row_are_counted_back_from_the_newest(store: Store) -> None:
    outcomes = iter([1, RuntimeError("a"), RuntimeError("b"), RuntimeError("c")])

    def work() -> object:
        r = next(outcomes)
        if isinstance(r, Exception):
            raise r
        return r

    job = Periodic("x", 3600, work).attach(JobHistory(store), job="x")
    for _ in range(4):
        job.run_now()
    assert store.latest_job_runs()["x"][2] == 3 and job.consecutive_failures == 3


def test_a_cron_time_missed_while_down_runs_once_at_start_up_within_the_grace(store: Store) -> None:
    history = JobHistory(store)
    long_ago = datetime.now(UTC) - timedelta(hours=3)
    run_id = store.start_job_run("every5", "schedule", long_ago)
    store.finish_job_run(run_id, ended_at=long_ago + timedelta(seconds=1), status="ok")
    ran = threading.Event()
    job = Periodic("every5", 0, ran.set, cron="*/5 * * * *").start()
    try:
        job.attach(history, job="every5", misfire_grace_s=3600)
        _wait_for(ran.is_set, "the missed run")
        _wait_for(lambda: job.runs == 1, "recording")
    finally:
        job.stop()
    runs = store.list_job_runs("every5")
    assert [r.cause for r in runs] == ["misfire", "schedule"]  # one run for the 36 missed times


def test_a_miss_older_than_the_grace_is_skipped(store: Store) -> None:
    two_years = datetime.now(UTC) - timedelta(days=800)
    run_id = store.start_job_run("yearly", "schedule", two_years)
    store.finish_job_run(run_id, ended_at=two_years, status="ok")
    job = Periodic("yearly", 0, lambda: None, cron="0 0 1 1 *")
    missed = job.missed_fire_time(two_years, datetime.now(UTC))
    assert missed is not None and missed.month == 1 and missed.day == 1 and missed.year == datetime.now(UTC).year
    job.attach(JobHistory(store), job="yearly", misfire_grace_s=3600)
    assert not job._wake.is_set()  # nothing asked to run
    assert job.missed_fire_time(None, datetime.now(UTC)) is None  # never ran: nothing was missed


def test_runs_left_running_by_a_dead_process_become_interrupted(store: Store) -> None:
    started = datetime.now(UTC) - timedelta(minutes=5)
    store.start_job_run("source:eniscope", "schedule", started)
    assert JobHistory(store).interrupt_stale(datetime.now(UTC)) == 1
    (run,) = store.list_job_runs("source:eniscope")
    assert run.status == "interrupted" and run.ended_at is not None and "stopped during this run" in (run.error or "")
    assert store.latest_job_runs()["source:eniscope"][2] == 1


def test_stop_waits_for_the_run_in_progress_and_tells_it_to_end() -> None:
    told = threading.Event()
    inside = threading.Event()
    finished = threading.Event()

    def work() -> None:
        inside.set()
        told.wait(10)
        finished.set()

    job = Periodic("long", 3600, work, on_stop=told.set).start()
    assert inside.wait(10)
    job.stop()
    assert told.is_set() and finished.is_set()


def test_history_pruning_keeps_the_newest_runs_per_job(store: Store) -> None:
    history = JobHistory(store, keep_per_job=3)
    job = Periodic("p", 3600, lambda: 1).attach(history, job="p")
    other = Periodic("q", 3600, lambda: 2).attach(history, job="q")
    for _ in range(5):
        job.run_now()
    other.run_now()
    assert len(store.list_job_runs("p")) == 3 and len(store.list_job_runs("q")) == 1
    with pytest.raises(Exception, match="status"):
        store.list_job_runs("p", status="exploded")


def test_a_huge_report_keeps_only_its_numbers_in_the_history(store: Store) -> None:
    report = {"rows": 5, "status": "ok", "per_series": [{"series": f"meter:m-{i}/kwh", "mae": 0.1} for i in range(5000)]}
    Periodic("big", 3600, lambda: report).attach(JobHistory(store), job="big").run_now()
    (run,) = store.list_job_runs("big")
    assert run.rows == 5 and "per_series" not in run.detail and run.detail["detail_truncated_bytes"] > 64 * 1024


def test_a_held_scheduled_run_waits_until_the_hold_clears() -> None:
    busy = threading.Event()
    busy.set()
    ran = threading.Event()
    job = Periodic("refresh", 3600, ran.set, first_delay_s=0.0, hold=busy.is_set, max_hold_s=60).start()
    try:
        _wait_for(lambda: job.held == 1, "the first run being held")
        time.sleep(HOLD_POLL_S * 3)  # several re-checks while the hold stands
        assert not ran.is_set() and job.runs == 0
        busy.clear()
        assert ran.wait(30), "the run did not go once the hold cleared"
        _wait_for(lambda: job.runs == 1, "the run being counted")
        assert job.last_run is not None and job.last_run.cause == "schedule"
        assert job.status()["held"] == 1
    finally:
        job.stop()


def test_a_hold_that_never_clears_delays_a_run_by_max_hold_s_only() -> None:
    ran = threading.Event()
    job = Periodic("refresh", 3600, ran.set, hold=lambda: True, max_hold_s=0.5).start()
    try:
        assert ran.wait(30), "the held run never went"
        assert job.held == 1 and job.runs == 1
    finally:
        job.stop()


def test_runs_asked_for_are_never_held_and_end_a_hold() -> None:
    calls: list[str] = []
    job = Periodic("refresh", 3600, lambda: calls.append("run"), hold=lambda: True, max_hold_s=3600).start()
    try:
        _wait_for(lambda: job.held == 1, "the scheduled run being held")
        assert job.run_now().status == "ok"  # on this thread, no hold
        job.trigger("manual")  # the held scheduled run goes now, as the asked-for one
        _wait_for(lambda: job.runs == 2, "the triggered run")
        assert job.last_run is not None and job.last_run.cause == "manual"
    finally:
        job.stop()


def test_a_failing_hold_predicate_lets_the_run_go() -> None:
    def broken() -> bool:
        raise RuntimeError("boom")

    ran = threading.Event()
    job = Periodic("refresh", 3600, ran.set, hold=broken, max_hold_s=3600).start()
    try:
        assert ran.wait(30)
        assert job.held == 0
    finally:
        job.stop()
