// Forecast against actual: the stored forecast of a series with its 80 % and 95 % intervals, the
// actual readings over the same steps and the week before, and how well it did where they overlap.

import * as api from "../api.js";
import {timeChart} from "../chart.js";
import {seriesPicker} from "../picker.js";
import {epoch, h, isoUtc, localTime, note, num, panel} from "../util.js";

const STEP_RESOLUTION = {900: "15min", 1800: "30min", 3600: "hour", 86400: "day"};
const WEEK = 7 * 86400;

function yLabel(s, stepS) {
  const per = {900: "15 min", 1800: "30 min", 3600: "hour", 86400: "day"}[stepS] || `${stepS} s`;
  if ((s.unit || "").toLowerCase() === "kwh") return `Energy per ${per} [kWh]`;
  return `${s.metric} [${s.unit || "no unit"}]`;
}

/** The forecast's accuracy over the steps that have an actual: MAE and interval coverage. */
export function accuracy(rows) {
  const both = rows.filter((r) => r.actual !== null && r.actual !== undefined && r.mean !== null && r.mean !== undefined);
  if (!both.length) return null;
  const mae = both.reduce((a, r) => a + Math.abs(r.actual - r.mean), 0) / both.length;
  const inside = (lo, hi) => both.filter((r) => r[lo] !== null && r.actual >= r[lo] && r.actual <= r[hi]).length / both.length;
  return {n: both.length, mae, cover80: 100 * inside("lo80", "hi80"), cover95: 100 * inside("lo95", "hi95")};
}

/** One line on the live error of the recent window (GET /api/v1/forecasts/{id}/error). */
export function liveText(body, unit) {
  const w = body.window;
  if (!w.steps) return `Live error: no step of the last ${w.days} days has both an actual and a stored forecast yet.`;
  const share = (x) => (x === null ? "–" : `${num(100 * x)} %`);
  const mape = w.mape === null ? "–" : `${num(w.mape)} %`;
  return `Live error over the last ${w.days} days (${num(w.steps)} steps, each against the forecast current for it): ` +
    `MAE ${num(w.mae)} ${unit}, MAPE ${mape}, bias ${num(w.bias)} ${unit} (forecast − actual); ` +
    `the 80 % interval held ${share(w.coverage80)}, the 95 % interval ${share(w.coverage95)}.`;
}

export default {
  title: "Forecast vs actual",
  async render(main, ctx) {
    const series = await ctx.catalogue();
    if (!series.length) {
      main.append(note("No series yet.", "info"));
      return;
    }
    const wanted = Number(ctx.params.get("series"));
    const runsBox = h("div", {class: "field"});
    const body = h("div", {id: "forecast-body"});
    const picker = seriesPicker(series, wanted, (s) => show(s).catch(fail), "forecast");
    main.append(h("div", {class: "controls"}, picker.el, runsBox), body);

    function fail(err) {
      body.append(note(err.message, "error"));
    }

    async function runNow(s, button) {
      button.disabled = true;
      button.textContent = "Forecasting…";
      try {
        await api.post("/api/v1/forecasts/run", {series: s.series_id});
        await show(s);
      } catch (err) {
        button.disabled = false;
        button.textContent = "Run a forecast now";
        body.append(note(`${err.message}${err.status === 401 || err.status === 403 ? " (running a forecast needs the write scope)" : ""}`, "error"));
      }
    }

    async function show(s, forecastId) {
      ctx.setParams({series: s.series_id, ...(forecastId ? {forecast: forecastId} : {})});
      body.replaceChildren();
      runsBox.replaceChildren();
      const tz = ctx.zone(s);
      const runs = (await api.get("/api/v1/forecasts/runs",
        {kind: s.entity_kind, entity: s.entity_id, metric: s.metric, limit: 50, tz})).runs;
      const button = h("button", {type: "button", class: "primary"}, "Run a forecast now");
      button.addEventListener("click", () => runNow(s, button));
      if (!runs.length) {
        body.append(note(`No forecast stored for ${s.entity_id} ${s.metric} yet.`, "info"), button);
        return;
      }
      const select = h("select", {id: "forecast-run"}, runs.map((r) =>
        h("option", {value: String(r.forecast_id)}, `${localTime(epoch(r.origin), tz)} · ${r.model}`)));
      const chosen = runs.find((r) => r.forecast_id === forecastId) || runs[0];
      select.value = String(chosen.forecast_id);
      select.addEventListener("change", () => show(s, Number(select.value)).catch(fail));
      runsBox.append(h("label", {for: "forecast-run"}, "Forecast made at"), select);

      const fc = await api.get("/api/v1/forecasts", {series: s.series_id, forecast_id: chosen.forecast_id, tz});
      if (ctx.signal.aborted) return;
      const step = fc.forecast.step_s;
      const origin = epoch(fc.forecast.origin);
      const last = fc.rows.length ? epoch(fc.rows[fc.rows.length - 1].ts) + step : origin;
      const actual = await api.get("/api/v1/readings", {
        series: s.series_id, resolution: STEP_RESOLUTION[step] || "hour", tz,
        start: isoUtc(origin - WEEK), end: isoUtc(Math.min(last, Date.now() / 1000 + step)),
      });
      if (ctx.signal.aborted) return;
      const rows = new Map();
      const at = (t) => {
        if (!rows.has(t)) rows.set(t, {t, actual: null, mean: null, lo80: null, hi80: null, lo95: null, hi95: null});
        return rows.get(t);
      };
      // a step still filling (the current hour) is not an actual yet: it would read low
      const full = s.interval_s ? Math.round(step / s.interval_s) : 0;
      for (const p of actual.points) if (!full || p.count === undefined || p.count >= full) at(epoch(p.ts)).actual = p.value;
      for (const r of fc.rows) Object.assign(at(epoch(r.ts)), {mean: r.mean, lo80: r.lo80, hi80: r.hi80, lo95: r.lo95, hi95: r.hi95});
      const sorted = [...rows.values()].sort((a, b) => a.t - b.t);
      const cols = ["actual", "mean", "hi95", "lo95", "hi80", "lo80"];
      const data = [sorted.map((r) => r.t), ...cols.map((c) => sorted.map((r) => r[c]))];
      const box = h("div", {class: "chart", id: "forecast-chart"});
      const m = fc.forecast;
      body.append(panel(`${s.entity_id} ${s.metric}: ${m.model} forecast from ${localTime(origin, tz)} (${tz})`, box,
        h("p", {class: "chart-info", id: "forecast-info"}), h("p", {class: "chart-info", id: "forecast-live"}), button));
      const none = "transparent";
      timeChart(box, "forecast", data, {
        tz,
        yLabel: yLabel(s, step),
        series: [
          {label: "actual", color: "#111827", width: 1.5},
          {label: "forecast", color: "#c2410c", width: 2},
          {label: "95 % high", color: none, width: 0},
          {label: "95 % low", color: none, width: 0},
          {label: "80 % high", color: none, width: 0},
          {label: "80 % low", color: none, width: 0},
        ],
        bands: [[3, 4, "#c2410c22"], [5, 6, "#c2410c44"]],
      });
      const acc = accuracy(sorted);
      const unit = (s.unit || "").toLowerCase() === "kwh" ? "kWh" : s.unit;
      body.querySelector("#forecast-info").replaceChildren(acc
        ? `Over the ${num(acc.n)} steps with actuals: MAE ${num(acc.mae)} ${unit}; the 80 % interval held ${num(acc.cover80)} %, the 95 % interval ${num(acc.cover95)} %.`
        : `No actuals yet inside the forecast's ${num(m.steps)} steps: the chart shows the week before its origin.`);
      button.textContent = "Run a new forecast now";
      const live = body.querySelector("#forecast-live");
      try {
        const err = await api.get(`/api/v1/forecasts/${s.series_id}/error`, {days: 1, tz});
        if (ctx.signal.aborted) return;
        live.replaceChildren(liveText(err, unit));
      } catch (e) {
        live.replaceChildren(`Live error: ${e.message}`);
      }
    }

    await show(picker.selected(), Number(ctx.params.get("forecast")) || undefined);
  },
};
