// Ingestion and job status: the store's counts, the line-protocol listener, every scheduled job
// (schedule, last run, failure streak, run now), the job history, and each source's health.

import * as api from "../api.js";
import {ago, epoch, h, localTime, note, num, panel, table} from "../util.js";

const STATUS_KIND = {ok: "ok", partial: "warn", failed: "bad", interrupted: "warn", running: ""};

function badge(status) {
  return status ? h("span", {class: `badge ${STATUS_KIND[status] ?? ""}`}, status) : "–";
}

function when(iso, tz) {
  return iso ? localTime(epoch(iso), tz) : "–";
}

function schedule(r) {
  return r.cron || (r.interval_s ? `every ${ago(r.interval_s)}` : "on demand");
}

/** The jobs table from GET /api/v1/jobs, with a Run-now button when the server has that route. */
async function jobsPanel(status, tz) {
  const box = h("div", {id: "status-jobs"});
  const out = panel(`Jobs (${tz})`, box);
  if (!(await api.has("/api/v1/jobs"))) {
    // an older server: the counters /api/v1/status carries
    const rows = Object.entries(status.jobs || {}).map(([name, j]) => ({name, ...j}));
    box.append(table([
      {key: "name", label: "Job"},
      {key: "interval_s", label: "Schedule", format: (v, r) => schedule(r)},
      {key: "runs", label: "Runs", cls: "num"},
      {key: "failures", label: "Failures", cls: "num"},
      {key: "last_run_at", label: "Last run", format: (v) => when(v, tz)},
      {key: "last_error", label: "Last error", format: (v) => v || "–"},
    ], rows, {empty: "No scheduled jobs on this server."}));
    return out;
  }
  const runnable = await api.has("/api/v1/jobs/{name}/run", "POST");

  async function show() {
    const {jobs} = await api.get("/api/v1/jobs");
    window.gridpulse.jobs = jobs.map((j) => ({name: j.name, last_status: j.last_status}));
    box.replaceChildren(table([
      {key: "name", label: "Job"},
      {key: "scheduled", label: "Schedule", format: (v, r) => (v ? schedule(r) : "no longer scheduled")},
      {key: "last_status", label: "Last run", format: (v, r) => (r.last_run
        ? h("span", {}, badge(v), ` ${when(r.last_run.started_at, tz)}, ${r.last_run.duration_s === null ? "running" : `${num(r.last_run.duration_s)} s`}`)
        : "not yet")},
      {key: "last_run", label: "Rows", cls: "num", format: (v) => (v && v.rows !== null ? num(v.rows) : "–")},
      {key: "last_success_at", label: "Last success", format: (v) => when(v, tz)},
      {key: "consecutive_failures", label: "Failures in a row", cls: "num",
        format: (v) => h("span", {class: v ? "badge bad" : ""}, num(v))},
      {key: "next_run_at", label: "Next run", format: (v, r) => (r.running_since ? "running now" : when(v, tz))},
      {key: "last_run", label: "Last error", format: (v) => (v && v.error) || "–"},
      {key: "name", label: "", format: (name, r) => (runnable && r.scheduled
        ? h("button", {type: "button", "data-job": name, onclick: (ev) => runNow(name, ev.currentTarget)}, "Run now")
        : "")},
    ], jobs, {empty: "No jobs on this server."}));
  }

  async function runNow(name, button) {
    button.disabled = true;
    button.textContent = "Running…";
    try {
      await api.post(`/api/v1/jobs/${encodeURIComponent(name)}/run`);
      await show();
    } catch (err) {
      button.disabled = false;
      button.textContent = "Run now";
      box.prepend(note(err.status === 401 || err.status === 403 ? `${err.message} (running a job needs the write scope)` : err.message, "error"));
    }
  }

  await show();
  return out;
}

async function historyPanel(tz) {
  const box = h("div", {id: "status-history"});
  const out = panel("Job history (newest first)", box);
  if (!(await api.has("/api/v1/jobs/runs"))) {
    box.append(note("Not available on this server (it has no /api/v1/jobs/runs).", "info"));
    return out;
  }
  const {runs} = await api.get("/api/v1/jobs/runs", {limit: 50});
  box.append(table([
    {key: "job", label: "Job"},
    {key: "cause", label: "Cause"},
    {key: "started_at", label: `Started (${tz})`, format: (v) => when(v, tz)},
    {key: "duration_s", label: "Duration [s]", cls: "num", format: (v) => (v === null ? "running" : num(v))},
    {key: "status", label: "Status", format: (v) => badge(v)},
    {key: "rows", label: "Rows", cls: "num"},
    {key: "rejects", label: "Rejects", cls: "num"},
    {key: "failures", label: "Failures", cls: "num"},
    {key: "error", label: "Error", format: (v) => v || "–"},
  ], runs, {empty: "No job runs recorded yet."}));
  return out;
}

async function sourcesPanel(tz) {
  const box = h("div", {id: "status-sources"});
  const out = panel("Sources", box);
  if (!(await api.has("/api/v1/sources"))) {
    box.append(note("Not available on this server (it has no /api/v1/sources).", "info"));
    return out;
  }
  const {sources} = await api.get("/api/v1/sources");
  if (!sources.length) {
    box.append(h("p", {class: "empty"}, "No sources configured: data arrives only through the ingest routes. [[sources]] tables in the config add pollers (docs/configuration.md)."));
    return out;
  }
  box.append(table([
    {key: "name", label: "Source"},
    {key: "type", label: "Type"},
    {key: "enabled", label: "Schedule", format: (v, r) => (v ? schedule(r) : "disabled")},
    {key: "last_run", label: "Last run", format: (v) => (v ? h("span", {}, badge(v.status), ` ${when(v.started_at, tz)}`) : "not yet")},
    {key: "last_run", label: "Rows / rejects", cls: "num", format: (v) => (v ? `${num(v.rows)} / ${num(v.rejects)}` : "–")},
    {key: "last_success_at", label: "Last success", format: (v) => when(v, tz)},
    {key: "consecutive_failures", label: "Failures in a row", cls: "num"},
    {key: "failing", label: "Health", format: (v) => h("span", {class: `badge ${v ? "bad" : "ok"}`}, v ? "failing" : "healthy")},
  ], sources));
  for (const s of sources.filter((x) => (x.keys || []).length)) {
    box.append(h("details", {},
      h("summary", {}, `${s.name}: ${s.keys.length} keys, their watermark and freshness`),
      table([
        {key: "key", label: "Key"},
        {key: "watermark", label: `Watermark (${tz})`, format: (v) => when(v, tz)},
        {key: "freshness_s", label: "Freshness", cls: "num", format: (v) => ago(v)},
        {key: "last_success_at", label: "Last success", format: (v) => when(v, tz)},
        {key: "last_error", label: "Last error", format: (v) => v || "–"},
      ], s.keys)));
  }
  return out;
}

export default {
  title: "Ingestion and jobs",
  async render(main, ctx) {
    const tz = ctx.zone(null);
    const status = await api.get("/api/v1/status");
    const facts = [
      ["Store", status.store],
      ["Series", num(status.series)],
      ["Points", num(status.points)],
      ["Superseded versions", num(status.superseded_versions)],
      ["Rollup ranges pending", num(status.rollup_ranges_pending)],
      ["Commits since start", num(status.commits)],
      ["Demo data", status.demo],
    ];
    main.append(panel("Store and writer",
      h("dl", {class: "facts", id: "status-facts"}, facts.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v ?? "–")]))));
    if (status.line_protocol_tcp) {
      const lp = status.line_protocol_tcp;
      main.append(panel("Line protocol over TCP",
        h("dl", {class: "facts"}, Object.entries(lp).flatMap(([k, v]) => [h("dt", {}, k.replaceAll("_", " ")), h("dd", {}, typeof v === "number" ? num(v) : String(v))]))));
    }
    const [jobs, sources, history] = await Promise.all([jobsPanel(status, tz), sourcesPanel(tz), historyPanel(tz)]);
    main.append(jobs, sources, history);
  },
};
