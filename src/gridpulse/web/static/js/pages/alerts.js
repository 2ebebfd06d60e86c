// Alerts and anomalies: what is firing, what the detectors found, and acknowledging them.

import * as api from "../api.js";
import {epoch, h, localTime, note, num, panel, table} from "../util.js";

const SEVERITY_ORDER = {critical: 0, warning: 1, info: 2};

function badge(text, kind) {
  return h("span", {class: `badge ${kind}`}, text);
}

function stateKind(state) {
  return {firing: "bad", acknowledged: "warn", silenced: "muted", resolved: "ok", open: "bad", dismissed: "muted"}[state] || "";
}

/** "2026-11-26 03:00–03:15 (Europe/Amsterdam)", the date repeated only when it changes. */
function window_(start, end, tz) {
  const a = localTime(epoch(start), tz);
  const b = localTime(epoch(end), tz);
  return `${a}–${a.slice(0, 10) === b.slice(0, 10) ? b.slice(11) : b} (${tz})`;
}

function writeHint(err) {
  return err.status === 401 || err.status === 403 ? `${err.message} (acknowledging needs a token with the write scope)` : err.message;
}

async function alertsPanel(ctx) {
  const box = h("div", {id: "alerts-list"});
  const all = h("input", {type: "checkbox", id: "alerts-all"});
  const out = panel("Alerts", h("div", {class: "field inline"}, all, h("label", {for: "alerts-all"}, "Show resolved too")), box);
  if (!(await api.has("/api/v1/alerts"))) {
    box.append(note("Alerts are not available on this server (no /api/v1/alerts).", "info"));
    return out;
  }
  const tz = ctx.zone(null);
  const ackable = await api.has("/api/v1/alerts/{alert_id}/ack", "POST");

  async function show() {
    const body = await api.get("/api/v1/alerts", {state: all.checked ? undefined : "open", limit: 500});
    const rows = body.alerts.sort((a, b) => (SEVERITY_ORDER[a.severity] ?? 9) - (SEVERITY_ORDER[b.severity] ?? 9) || epoch(b.started_at) - epoch(a.started_at));
    window.gridpulse.alerts = rows.map((a) => ({alert_id: a.alert_id, state: a.state}));
    box.replaceChildren(table([
      {key: "severity", label: "Severity", format: (v) => badge(v || "–", v === "critical" ? "bad" : v === "warning" ? "warn" : "")},
      {key: "rule", label: "Rule"},
      {key: "summary", label: "Summary"},
      {key: "series", label: "Series", format: (v) => (v || []).slice(0, 3).join(", ") + ((v || []).length > 3 ? ` and ${v.length - 3} more` : "")},
      {key: "value", label: "Value", cls: "num"},
      {key: "started_at", label: `Since (${tz})`, format: (v) => (v ? localTime(epoch(v), tz) : "–")},
      {key: "state", label: "State", format: (v, r) => h("span", {class: "state", "data-alert": r.alert_id}, badge(v, stateKind(v)),
        r.acknowledged_by ? ` by ${r.acknowledged_by}` : "")},
      {key: "alert_id", label: "Action", format: (id, r) => (ackable && r.state === "firing"
        ? h("button", {type: "button", class: "ack", "data-alert": id, onclick: (ev) => ack(id, ev.currentTarget)}, "Acknowledge")
        : "")},
    ], rows, {empty: all.checked ? "No alerts yet." : "No open alerts."}));
  }

  async function ack(id, button) {
    button.disabled = true;
    try {
      await api.post(`/api/v1/alerts/${id}/ack`, undefined, {by: "dashboard"});
      await show();
    } catch (err) {
      button.disabled = false;
      box.prepend(note(writeHint(err), "error"));
    }
  }

  all.addEventListener("change", () => show().catch((err) => box.replaceChildren(note(err.message, "error"))));
  await show();
  return out;
}

async function anomaliesPanel(ctx) {
  const box = h("div", {id: "anomalies-list"});
  const out = panel("Anomalies", box);
  if (!(await api.has("/api/v1/anomalies"))) {
    box.append(note("Anomalies are not available on this server (no /api/v1/anomalies).", "info"));
    return out;
  }
  const tz = ctx.zone(null);
  const settable = await api.has("/api/v1/anomalies/{anomaly_id}", "PATCH");

  async function show() {
    const body = await api.get("/api/v1/anomalies", {status: "open,acknowledged", limit: 500, tz: ctx.tzMode === "UTC" ? "UTC" : undefined});
    const rows = body.anomalies;
    window.gridpulse.anomalies = rows.map((a) => ({anomaly_id: a.anomaly_id, status: a.status}));
    box.replaceChildren(table([
      {key: "severity", label: "Severity", format: (v) => badge(v, v === "critical" ? "bad" : v === "warning" ? "warn" : "")},
      {key: "entity_id", label: "Series", format: (v, r) => h("a", {href: `#/explorer?series=${r.series_id}&from=${Math.round(epoch(r.start) - 86400)}&to=${Math.round(epoch(r.end) + 86400)}`}, `${r.entity_kind} ${v} · ${r.metric}`)},
      {key: "start", label: "Window", format: (v, r) => window_(v, r.end, ctx.zone(r))},
      {key: "kind", label: "Kind"},
      {key: "value", label: "Value", cls: "num"},
      {key: "expected", label: "Expected", cls: "num"},
      {key: "score", label: "Score", cls: "num", format: (v) => num(v)},
      {key: "detector", label: "Detector"},
      {key: "status", label: "Status", format: (v, r) => h("span", {class: "state", "data-anomaly": r.anomaly_id}, badge(v, stateKind(v)))},
      {key: "anomaly_id", label: "Action", format: (id, r) => (settable
        ? h("span", {class: "actions"},
          r.status === "open" ? h("button", {type: "button", onclick: (ev) => set(id, "acknowledged", ev.currentTarget)}, "Acknowledge") : "",
          h("button", {type: "button", onclick: (ev) => set(id, "dismissed", ev.currentTarget)}, "Dismiss"))
        : "")},
    ], rows, {empty: "No open anomalies."}));
  }

  async function set(id, status, button) {
    button.disabled = true;
    try {
      await api.patch(`/api/v1/anomalies/${id}`, {status});
      await show();
    } catch (err) {
      button.disabled = false;
      box.prepend(note(writeHint(err), "error"));
    }
  }

  await show();
  return out;
}

export default {
  title: "Alerts and anomalies",
  async render(main, ctx) {
    const [alerts, anomalies] = await Promise.all([alertsPanel(ctx), anomaliesPanel(ctx)]);
    main.append(alerts, anomalies);
  },
};
