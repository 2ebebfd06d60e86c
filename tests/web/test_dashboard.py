"""The dashboard against a live demo server: pages render real data without console errors,
the explorer fetches finer data as the user zooms, alerts can be acknowledged, and a phone-sized
screen gets every page without sideways scrolling."""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from gridpulse.web import STATIC_DIR
from tests.conftest import LiveServer
from tests.web.conftest import PAGES, PHONE, Tab, iso_now, poll

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(demo_server: LiveServer) -> Iterator[LiveServer]:
    """The demo server with a stored forecast of m-01 and one firing alert."""
    url = demo_server.url
    resp = httpx.post(url + "/api/v1/forecasts/run", params={"entity": "m-01", "model": "seasonal-naive"}, timeout=60)
    assert resp.status_code == 201, resp.text
    rule = {"name": "web-hot-cell", "metric": "temperature_c", "op": ">", "threshold": 45}
    assert httpx.post(url + "/api/v1/alerts/rules", json=rule).status_code == 201
    row = [{"recorded_at": iso_now(-60), "device_id": "cell-web", "metric_name": "temperature_c", "value": 51.5}]
    assert httpx.post(url + "/ingest/telemetry", json=row).status_code == 200
    poll(lambda: httpx.get(url + "/api/v1/alerts", params={"state": "firing"}).json()["alerts"], "the alert firing")
    yield demo_server


def _finite(values: list[float | None]) -> list[float]:
    return [v for v in values if v is not None and math.isfinite(v)]


def _readings_params(tab: Tab) -> list[dict[str, str]]:
    """The query of each /api/v1/readings request the page made, in order."""
    out = []
    for url in tab.requests:
        u = urlparse(url)
        if u.path == "/api/v1/readings":
            out.append({k: v[0] for k, v in parse_qs(u.query).items()})
    return out


@pytest.mark.parametrize("route", list(PAGES))
def test_every_page_renders_without_console_errors(
    server: LiveServer, open_tab: Callable[..., Tab], route: str
) -> None:
    tab = open_tab(server)
    tab.open(route)
    tab.shot(f"laptop-{PAGES[route]}")
    assert tab.page.evaluate("document.body.dataset.error || ''") == ""
    assert tab.errors == []
    # every axis names its unit, or is a time axis naming its zone
    for label in (x for labels in tab.axis_labels().values() for x in labels):
        assert re.search(r"\[.+\]", label) or re.fullmatch(r"Time \([A-Za-z_/+-]+\)", label), label


def test_charts_hold_the_demo_data_points(server: LiveServer, open_tab: Callable[..., Tab]) -> None:
    tab = open_tab(server)
    tab.open("")
    (xs, total) = tab.charts()["overview"]
    assert len(xs) >= 24 * 6 and min(_finite(total)) > 0  # a week of hourly fleet energy, all positive
    tab.open("load")
    charts = tab.charts()
    slots, *profiles = charts["profile"]
    assert slots == list(range(24)) and len(profiles) == 2  # weekday and weekend average days
    assert all(len(_finite(p)) == 24 for p in profiles)
    share, demand = charts["load-duration"]
    assert share == sorted(share) and _finite(demand) == sorted(_finite(demand), reverse=True)
    days, feeder, meters, losses = charts["feeder-balance"]
    # the head measures its meters plus 3-6 % losses; the demo's faults on meter rows (m-05 stuck
    # for 12 h, m-07's spike of 25x + 4 kWh) can outweigh a quiet day's losses, on at most 3 days
    below = [d for d, f, m in zip(days, feeder, meters, strict=True) if f is not None and m is not None and f < m]
    assert len(days) >= 30 and len(below) <= 3, below
    assert all(abs(f - m - x) < 1e-6 for f, m, x in zip(feeder, meters, losses, strict=True) if x is not None)
    tab.open("forecast?series=1")
    xs, actual, mean, hi95, lo95, hi80, lo80 = tab.charts()["forecast"]
    assert len(_finite(mean)) == 168 and len(_finite(actual)) >= 7 * 24  # a week ahead, a week before
    for row in zip(lo95, lo80, mean, hi80, hi95, strict=True):
        if row[2] is not None:
            assert row[0] <= row[1] <= row[2] <= row[3] <= row[4]
    # the live error of the recent window, from GET /api/v1/forecasts/{id}/error: the demo's only
    # forecast starts after the newest reading, so nothing is scored yet, and the line says so
    live = poll(lambda: tab.page.text_content("#forecast-live"), "the live error line")
    assert live == "Live error: no step of the last 7 days has both an actual and a stored forecast yet.", live
    assert tab.errors == []


def test_axes_carry_units_and_the_chosen_time_zone(server: LiveServer, open_tab: Callable[..., Tab]) -> None:
    tab = open_tab(server)
    tab.open("explorer?series=1")
    assert tab.axis_labels()["explorer"] == ["Time (Europe/Amsterdam)", "Average power [kW]"]
    tab.page.select_option("#tz-mode", "UTC")
    tab.page.wait_for_selector("body[data-ready='explorer']")
    assert tab.axis_labels()["explorer"][0] == "Time (UTC)"
    assert _readings_params(tab)[-1]["tz"] == "UTC"
    tab.page.select_option("#tz-mode", "site")
    assert tab.errors == []


def test_zooming_the_explorer_fetches_a_finer_resolution(server: LiveServer, open_tab: Callable[..., Tab]) -> None:
    tab = open_tab(server)
    tab.open("explorer?series=1")
    first = _readings_params(tab)[-1]
    assert first["resolution"] == "30min"  # 35 days of 15-min data: raw would be 3360 points
    (xs, ys) = tab.charts()["explorer"]
    assert 1000 < len(xs) <= 3000 and len(_finite(ys)) > 1000
    # drag across a tenth of the chart: a few days, where the raw intervals fit
    box = tab.page.locator("#explorer-chart .u-over").bounding_box()
    y = box["y"] + box["height"] / 2
    x0 = box["x"] + box["width"] * 0.45
    tab.page.mouse.move(x0, y)
    tab.page.mouse.down()
    tab.page.mouse.move(x0 + box["width"] * 0.05, y, steps=5)
    tab.page.mouse.move(x0 + box["width"] * 0.1, y, steps=5)
    tab.page.mouse.up()
    poll(lambda: tab.page.evaluate("window.gridpulse.explorer.resolution") == "raw", "a raw-resolution fetch")
    zoomed = _readings_params(tab)[-1]
    assert zoomed["resolution"] == "raw" and zoomed["start"] > first.get("start", "")
    (xs, ys) = tab.charts()["explorer"]
    steps = {round(b - a) for a, b in itertools.pairwise(xs)}
    assert steps == {900}  # the raw 15-minute readings, every one
    assert 100 < len(xs) < 3000
    # the mouse wheel zooms back out: a coarser resolution again
    tab.page.mouse.move(box["x"] + box["width"] / 2, y)
    for _ in range(8):
        tab.page.mouse.wheel(0, 300)
    poll(lambda: tab.page.evaluate("window.gridpulse.explorer.resolution") in ("30min", "hour"), "a coarser fetch")
    tab.shot("laptop-explorer-zoomed-out")
    assert tab.errors == []


def test_resolution_choice_keeps_every_view_under_the_point_budget(
    server: LiveServer, open_tab: Callable[..., Tab]
) -> None:
    tab = open_tab(server)
    tab.open("")
    picked = tab.page.evaluate(
        """async () => {
            const {pickResolution} = await import('/static/js/resolution.js');
            const day = 86400, year = 365.25 * day;
            return {
              oneDay: pickResolution(day, 900), month: pickResolution(35 * day, 900),
              year: pickResolution(year, 900), decade: pickResolution(10 * year, 900),
              fiveMinWeek: pickResolution(7 * day, 300), fiveMinMonth: pickResolution(30 * day, 300),
              quarter: pickResolution(90 * day, 900), century: pickResolution(100 * year, 900),
            };
        }"""
    )
    assert picked == {
        "oneDay": "raw",  # 96 points
        "month": "30min",  # 1680 points; raw would be 3360
        "year": "day",  # 365; hourly would be 8766
        "decade": "week",  # 522; daily would be 3653
        "fiveMinWeek": "raw",  # 2016 five-minute readings
        "fiveMinMonth": "15min",  # 2880; raw would be 8640
        "quarter": "hour",  # 2160
        "century": "month",  # the coarsest there is
    }


def test_acknowledging_an_alert_changes_its_state(server: LiveServer, open_tab: Callable[..., Tab]) -> None:
    (alert,) = [
        a for a in httpx.get(server.url + "/api/v1/alerts", params={"state": "firing"}).json()["alerts"]
        if a["rule"] == "web-hot-cell"
    ]
    tab = open_tab(server)
    tab.open("alerts")
    state = tab.page.locator(f".state[data-alert='{alert['alert_id']}']")
    assert "firing" in state.inner_text()
    tab.page.locator(f"button.ack[data-alert='{alert['alert_id']}']").click()
    tab.page.wait_for_function(
        f"document.querySelector(\".state[data-alert='{alert['alert_id']}']\")?.innerText.includes('acknowledged')"
    )
    tab.shot("laptop-alerts-acknowledged")
    stored = httpx.get(f"{server.url}/api/v1/alerts/{alert['alert_id']}").json()
    assert (stored["state"], stored["acknowledged_by"]) == ("acknowledged", "dashboard")
    assert tab.errors == []


def test_every_page_fits_a_phone_screen(server: LiveServer, open_tab: Callable[..., Tab]) -> None:
    tab = open_tab(server, PHONE)
    for route, name in PAGES.items():
        tab.open(route)
        tab.shot(f"phone-{name}")
        width = tab.page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"{name} is {width} px wide on a {PHONE['width']} px screen"
        for chart, data in tab.charts().items():
            assert len(data[0]) > 0, f"{name}: chart {chart} is empty on a phone"
    # the menu opens and leads to a page
    tab.page.locator("button.menu").click()
    tab.page.locator("#nav a[data-page='coverage']").click()
    tab.page.wait_for_selector("body[data-ready='coverage']")
    assert tab.errors == []


def test_every_file_the_shell_names_is_served(server: LiveServer) -> None:
    assert f"dashboard  {server.url}/" in server.log.read_text()  # what `make run` prints
    html = httpx.get(server.url + "/").text
    assert 'name="gridpulse-auth" content="none"' in html
    for ref in re.findall(r"""(?:src|href)="(/static/[^"]+)\"""", html):
        resp = httpx.get(server.url + ref)
        assert resp.status_code == 200, ref
        assert resp.headers["cache-control"] == "no-cache"
    modules = [p for p in (STATIC_DIR / "js").rglob("*.js")]
    for module in modules:
        for imported in re.findall(r"""from\s+["'](\.{1,2}/[^"']+)["']""", module.read_text()):
            assert (module.parent / imported).resolve().is_file(), f"{module.name} imports a missing {imported}"


def test_day_windows_count_calendar_dates_and_a_first_day_splits_what_it_received(
    server: LiveServer, open_tab: Callable[..., Tab]
) -> None:
    # the pages' "last N days" windows: 34 dates before 2026-11-27 is 2026-10-24, although 34 x 24 h
    # before 22:30 UTC is 2026-10-25 00:30 in Amsterdam (summer time ended in between)
    tab = open_tab(server)
    tab.open("coverage")  # the app's own origin: its modules import from there
    got = tab.page.evaluate(
        "(url) => import(url).then((m) => [m.daysBefore('2026-11-27', 34), "
        "m.daysBefore('2024-03-01', 1), m.daysBefore('2025-01-01', 1), m.daysBefore('2025-03-30', 0)])",
        f"{server.url}/static/js/util.js",
    )
    assert got == ["2026-10-24", "2024-02-29", "2024-12-31", "2025-03-30"]
    # a series' first day: the validation counts no gap before its first read, so what the day
    # lacks before it is neither actual nor estimated
    split = tab.page.evaluate(
        "(url) => import(url).then((m) => [m.split({expected: 96, received: 95}, 0), "
        "m.split({expected: 96, received: 96}, 4), m.split({expected: 96, received: 90}, 10), "
        "m.split({expected: 96, received: 95}, null)])",
        f"{server.url}/static/js/pages/coverage.js",
    )
    assert split == [
        {"actual": 95, "estimated": 0},
        {"actual": 92, "estimated": 4},
        {"actual": 86, "estimated": 4},
        {"actual": None, "estimated": None},
    ]


def test_coverage_heatmap_tells_actual_from_estimated_intervals(
    server: LiveServer, open_tab: Callable[..., Tab]
) -> None:
    tab = open_tab(server)
    paths = httpx.get(server.url + "/openapi.json").json()["paths"]
    if "/api/v1/quality/estimate" not in paths:  # a server without the quality API
        tab.open("coverage")
        assert "needs the quality API" in tab.page.inner_text("#coverage-out")
        return
    start = (datetime.now(UTC) - timedelta(days=40)).date().isoformat()
    for step in ("estimate", "check"):  # fill the demo's gaps, then validate the days
        resp = httpx.post(f"{server.url}/api/v1/quality/{step}", params={"kind": "meter", "start": start}, timeout=120)
        assert resp.status_code == 200, resp.text
    tab.open("coverage")
    heat = tab.page.evaluate("window.gridpulse.heatmap")
    tab.shot("laptop-coverage-estimated")
    assert heat["series"] >= 21 and heat["days"] >= 35 and heat["validated"] >= 12 * 35
    today = tab.page.evaluate("new Intl.DateTimeFormat('sv-SE', {timeZone: 'Europe/Amsterdam'}).format(new Date())")
    checked = [c for c in heat["cells"] if c["actual"] is not None and c["local_date"] < today]
    assert checked and all(c["actual"] + c["estimated"] == c["received"] for c in checked)
    assert any(c["estimated"] > 0 for c in checked)  # the demo's gaps, filled by estimates
    assert tab.page.locator("td.cell.est").count() == sum(1 for c in heat["cells"] if c["estimated"])
    assert tab.errors == []


def test_acknowledging_an_anomaly_changes_its_status(server: LiveServer, open_tab: Callable[..., Tab]) -> None:
    paths = httpx.get(server.url + "/openapi.json").json()["paths"]
    tab = open_tab(server)
    if "/api/v1/anomalies/scan" not in paths:  # a server without anomaly detection
        tab.open("alerts")
        assert "not available on this server" in tab.page.inner_text("#anomalies-list")
        return
    start = (datetime.now(UTC) - timedelta(days=7)).isoformat()
    resp = httpx.post(server.url + "/api/v1/anomalies/scan", params={"kind": "meter", "start": start}, timeout=120)
    assert resp.status_code == 200, resp.text
    found = [a for a in resp.json()["anomalies"] if a["status"] == "open"]
    assert found, "a week of the demo meters holds no anomaly"
    tab.open("alerts")
    shown = {a["anomaly_id"]: a["status"] for a in tab.page.evaluate("window.gridpulse.anomalies")}
    target = found[0]["anomaly_id"]
    assert shown[target] == "open"
    row = tab.page.locator("tr", has=tab.page.locator(f".state[data-anomaly='{target}']"))
    row.get_by_role("button", name="Acknowledge").click()
    tab.page.wait_for_function(
        f"document.querySelector(\".state[data-anomaly='{target}']\")?.innerText.includes('acknowledged')"
    )
    stored = httpx.get(server.url + "/api/v1/anomalies", params={"status": "acknowledged"}).json()["anomalies"]
    assert target in {a["anomaly_id"] for a in stored}
    assert tab.errors == []


def test_running_a_job_from_the_status_page_records_a_manual_run(
    server: LiveServer, open_tab: Callable[..., Tab]
) -> None:
    paths = httpx.get(server.url + "/openapi.json").json()["paths"]
    tab = open_tab(server)
    tab.open("status")
    if "/api/v1/jobs/{name}/run" not in paths:  # a server without the job table
        assert "Not available on this server" in tab.page.inner_text("#status-history")
        return

    def manual_runs() -> list[dict[str, object]]:
        runs = httpx.get(server.url + "/api/v1/jobs/runs", params={"job": "rollups", "limit": 1000}).json()["runs"]
        return [r for r in runs if r["cause"] == "manual"]

    def rollups_idle_for_a_while() -> bool:
        # the scheduled refresh runs every 10 s, and a click during it is answered 409 (no run)
        (job,) = [j for j in httpx.get(server.url + "/api/v1/jobs").json()["jobs"] if j["name"] == "rollups"]
        if job["running_since"]:
            return False
        nxt = job["next_run_at"]
        return nxt is None or datetime.fromisoformat(nxt) - datetime.now(UTC) > timedelta(seconds=3)

    before = len(manual_runs())
    assert "rollups" in {j["name"] for j in tab.page.evaluate("window.gridpulse.jobs")}
    poll(rollups_idle_for_a_while, "the scheduled rollups refresh more than 3 s away")
    tab.page.locator("button[data-job='rollups']").click()
    poll(lambda: len(manual_runs()) > before, "a manual rollups run in the history")
    tab.page.wait_for_selector("button[data-job='rollups']:not([disabled])")
    tab.shot("laptop-status-after-run")
    assert tab.errors == []
