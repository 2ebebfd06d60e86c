// Fleet overview: how many series, rows today, freshness, open alerts, job failures, and the
// metered load of the last week.

import * as api from "../api.js";
import {timeChart} from "../chart.js";
import {groups} from "../picker.js";
import {ago, daysBefore, epoch, h, isoUtc, localDate, localTime, note, num, panel, table} from "../util.js";

const DAY = 86400;

/** A series is stale when its newest reading is older than three intervals and at least an hour. */
export function staleAfter(s) {
  return Math.max(3 * (s.interval_s || 900), 3600);
}

function card(label, value, detail, id, kind = "") {
  return h("div", {class: `card ${kind}`, id},
    h("div", {class: "card-label"}, label),
    h("div", {class: "card-value"}, value),
    detail ? h("div", {class: "card-detail"}, detail) : null);
}

async function rowsToday(series, tz) {
  const today = localDate(Date.now() / 1000, tz);
  let received = 0;
  let expected = 0;
  const failed = [];
  await Promise.all(groups(series).map(async ([kind, metric]) => {
    try {
      // up to now: intervals due but not yet arrived count as missing
      const body = await api.get("/api/v1/analytics/coverage", {kind, metric, start: today, end: isoUtc(Date.now() / 1000), tz});
      for (const r of body.rows) {
        received += r.received;
        expected += r.expected;
      }
    } catch (err) {
      failed.push(`${kind} ${metric}: ${err.message}`);
    }
  }));
  return {today, received, expected, failed};
}

/** Open alerts (firing, acknowledged or silenced) and how many of them fire unacknowledged;
 * null when the server has no alerts API. */
async function openAlerts() {
  if (!(await api.has("/api/v1/alerts"))) return null;
  const {alerts} = await api.get("/api/v1/alerts", {state: "open", limit: 10000});
  return {open: alerts.length, firing: alerts.filter((a) => a.state === "firing").length};
}

/** Failed job runs of the last 24 h (the job history), or failures since start (older servers). */
async function failedJobs(status) {
  if (await api.has("/api/v1/jobs/runs")) {
    const {runs} = await api.get("/api/v1/jobs/runs", {status: "failed", limit: 1000});
    const day = Date.now() / 1000 - DAY;
    return {failures: runs.filter((r) => epoch(r.started_at) >= day).length, source: "failed runs, last 24 h"};
  }
  let failures = 0;
  for (const job of Object.values(status.jobs || {})) failures += job.failures || 0;
  return {failures, source: "since the server started"};
}

export default {
  title: "Fleet overview",
  async render(main, ctx) {
    const series = await ctx.catalogue();
    const tz = ctx.zone(null);
    const [status, latest] = await Promise.all([api.get("/api/v1/status"), api.get("/api/v1/latest")]);
    const now = Date.now() / 1000;
    const byId = new Map(series.map((s) => [s.series_id, s]));
    const fresh = latest.latest.map((r) => {
      const s = byId.get(r.series_id) || {};
      const age = now - epoch(r.ts);
      return {...r, age, stale: age > staleAfter(s), tz: ctx.zone(s)};
    });
    const stale = fresh.filter((r) => r.stale).length + Math.max(0, series.length - fresh.length);
    const [today, alerts, jobs] = await Promise.all([rowsToday(series, tz), openAlerts(), failedJobs(status)]);

    main.append(h("div", {class: "cards"},
      card("Series", num(series.length), `${num(status.points)} points stored`, "card-series"),
      card("Rows today", num(today.received),
        today.expected ? `${num((100 * today.received) / today.expected)} % of ${num(today.expected)} expected (${today.today}, ${tz})` : today.today,
        "card-rows-today"),
      card("Freshness", stale ? `${num(stale)} stale` : "all fresh",
        `${num(fresh.length - fresh.filter((r) => r.stale).length)} of ${num(series.length)} series current`,
        "card-freshness", stale ? "warn" : "ok"),
      card("Open alerts", alerts === null ? "n/a" : h("a", {href: "#/alerts"}, num(alerts.open)),
        alerts === null ? "not available on this server" : `${num(alerts.firing)} firing, not acknowledged`,
        "card-alerts", alerts && alerts.firing ? "warn" : ""),
      card("Job failures", num(jobs.failures), jobs.source, "card-jobs", jobs.failures ? "warn" : "ok"),
      card("Demo data", status.demo, status.store, "card-demo"),
    ));
    if (today.failed.length) main.append(note(`Rows today is partial: ${today.failed.join("; ")}`, "warn"));

    const meters = series.filter((s) => s.entity_kind === "meter" && (s.unit || "").toLowerCase() === "kwh");
    if (meters.length) {
      const box = h("div", {class: "chart", id: "overview-chart"});
      main.append(panel(`Metered energy, last 7 days (${meters.length} meters)`, box));
      const start = daysBefore(localDate(now, tz), 7);
      const body = await api.get("/api/v1/analytics/summary",
        {kind: "meter", metric: "kwh", period: "hour", by: "all", start, tz});
      // the hour still under way would read low: it is left out
      const rows = body.rows.filter((r) => r.total_kwh !== null && epoch(r.start) + 3600 <= now);
      timeChart(box, "overview", [rows.map((r) => epoch(r.start)), rows.map((r) => r.total_kwh)], {
        tz, yLabel: "Energy per hour [kWh]", series: [{label: "all meters", fill: "#0b5cad22"}],
      });
    }

    fresh.sort((a, b) => b.age - a.age);
    main.append(panel("Freshness per series", table([
      {key: "entity_id", label: "Entity", format: (v, r) => h("a", {href: `#/explorer?series=${r.series_id}`}, `${r.entity_kind} ${v}`)},
      {key: "metric", label: "Metric", format: (v, r) => `${v} (${r.unit})`},
      {key: "ts", label: "Newest reading", format: (v, r) => `${localTime(epoch(v), r.tz)} ${r.tz}`},
      {key: "age", label: "Age", format: (v) => ago(v), cls: "num"},
      {key: "stale", label: "State", format: (v) => h("span", {class: `badge ${v ? "warn" : "ok"}`}, v ? "stale" : "fresh")},
    ], fresh, {empty: "No readings yet."})));
  },
};
