// Series explorer: pick an entity and metric; a zoomable time chart that asks the server for the
// resolution the visible span needs (raw when zoomed in, rollups when zoomed out), so a view never
// holds more than a few thousand points.

import * as api from "../api.js";
import {timeChart} from "../chart.js";
import {seriesPicker} from "../picker.js";
import {bucketSeconds, pickResolution, rank} from "../resolution.js";
import {epoch, h, isoUtc, localTime, note, num} from "../util.js";

const DAY = 86400;
const PRESETS = [["All", null], ["1 y", 365 * DAY], ["90 d", 90 * DAY], ["30 d", 30 * DAY], ["7 d", 7 * DAY], ["1 d", DAY]];

/** How values are shown: interval kWh as average kW (comparable at every zoom), others as stored. */
function display(s) {
  const unit = (s.unit || "").toLowerCase();
  const interval = s.interval_s || 0;
  if (unit === "kwh" && interval > 0) {
    return {factor: 3600 / interval, label: "Average power [kW]", legend: `${s.entity_id} (kW from kWh)`};
  }
  return {factor: 1, label: `${s.metric} [${s.unit || "no unit"}]`, legend: `${s.entity_id} ${s.metric}`};
}

export default {
  title: "Series explorer",
  async render(main, ctx) {
    const series = await ctx.catalogue();
    if (!series.length) {
      main.append(note("No series yet: ingest some readings or start the server with --demo.", "info"));
      return;
    }
    const wanted = Number(ctx.params.get("series"));
    const chartBox = h("div", {class: "chart", id: "explorer-chart"});
    const info = h("p", {class: "chart-info", id: "explorer-info", "aria-live": "polite"});
    const buttons = h("div", {class: "buttons", role: "group", "aria-label": "Visible range"});
    const picker = seriesPicker(series, wanted, (s) => show(s).catch((err) => info.replaceChildren(note(err.message, "error"))), "explorer");
    main.append(
      h("div", {class: "controls"}, picker.el, buttons),
      h("section", {class: "panel"}, chartBox, info,
        h("p", {class: "hint"}, "Drag across the chart or use the mouse wheel to zoom (on a touch screen, the buttons), ",
          "double-click for all data; the resolution follows the visible span.")),
    );

    const state = {s: null, tz: "UTC", extent: null, loaded: null, chart: null, seq: 0, timer: 0, want: null, abort: null};
    window.gridpulse.explorer = {requests: [], resolution: null, points: 0};

    function setView(min, max) {
      const [lo, hi] = state.extent;
      const span = Math.min(max - min, hi - lo);
      min = Math.max(lo, Math.min(min, hi - span));
      state.chart.setScale("x", {min, max: min + span});
    }

    for (const [label, span] of PRESETS) {
      buttons.append(h("button", {type: "button", onclick: () => {
        if (!state.extent) return;
        const [lo, hi] = state.extent;
        setView(span ? Math.max(lo, hi - span) : lo, hi);
      }}, label));
    }
    const zoomBy = (f) => {
      const {min, max} = state.chart.scales.x;
      const mid = (min + max) / 2;
      setView(mid - ((max - min) * f) / 2, mid + ((max - min) * f) / 2);
    };
    const panBy = (f) => {
      const {min, max} = state.chart.scales.x;
      setView(min + (max - min) * f, max + (max - min) * f);
    };
    buttons.append(
      h("button", {type: "button", "aria-label": "Zoom in", onclick: () => zoomBy(0.5)}, "+"),
      h("button", {type: "button", "aria-label": "Zoom out", onclick: () => zoomBy(2)}, "−"),
      h("button", {type: "button", "aria-label": "Earlier", onclick: () => panBy(-0.5)}, "◀"),
      h("button", {type: "button", "aria-label": "Later", onclick: () => panBy(0.5)}, "▶"),
    );

    async function fetchView(min, max) {
      const s = state.s;
      const resolution = pickResolution(max - min, s.interval_s);
      const pad = bucketSeconds(resolution, s.interval_s);
      const params = {
        series: s.series_id, resolution, tz: state.tz,
        start: isoUtc(Math.floor(min - pad)), end: isoUtc(Math.ceil(max + pad)),
        agg: resolution === "raw" ? undefined : "avg",
      };
      state.want = {min, max};
      if (state.abort) state.abort.abort();
      state.abort = new AbortController();
      const seq = ++state.seq;
      window.gridpulse.explorer.requests.push(resolution);
      chartBox.classList.add("busy");
      let body;
      try {
        body = await api.get("/api/v1/readings", params, {signal: state.abort.signal});
      } catch (err) {
        if (err.name === "AbortError") return;
        info.replaceChildren(note(err.message, "error"));
        throw err;
      } finally {
        if (seq === state.seq) chartBox.classList.remove("busy");
      }
      if (seq !== state.seq || ctx.signal.aborted) return;
      const {factor} = display(s);
      const xs = body.points.map((p) => epoch(p.ts));
      const ys = body.points.map((p) => (p.value === null ? null : p.value * factor));
      state.loaded = {resolution, min: min - pad, max: max + pad};
      state.chart.setData([xs, ys], false);
      state.chart.setScale("x", {min, max});
      Object.assign(window.gridpulse.explorer, {resolution, points: xs.length, seriesId: s.series_id});
      const what = resolution === "raw" ? "raw readings" : `${resolution} averages`;
      info.replaceChildren(
        `${num(xs.length)} points · ${what} · ${localTime(min, state.tz)} to ${localTime(max, state.tz)} · zone ${state.tz}`);
      ctx.setParams({series: s.series_id, from: Math.round(min), to: Math.round(max)});
    }

    // uPlot reports scale changes after a microtask, ours included: a change to the view last
    // asked for (loaded or on its way) is not a zoom
    function scaleChanged(u) {
      if (!state.extent) return;
      clearTimeout(state.timer);
      state.timer = setTimeout(() => {
        const {min, max} = u.scales.x;
        if (!Number.isFinite(min) || !Number.isFinite(max)) return;
        const w = state.want;
        if (w && Math.abs(w.min - min) < 1 && Math.abs(w.max - max) < 1) return;
        const need = pickResolution(max - min, state.s.interval_s);
        const l = state.loaded;
        const covered = l && min >= l.min && max <= l.max;
        if (!covered || rank(need) !== rank(l.resolution)) fetchView(min, max).catch(() => {});
        else {
          state.want = {min, max};
          ctx.setParams({series: state.s.series_id, from: Math.round(min), to: Math.round(max)});
        }
      }, 200);
    }

    function wheel(ev) {
      ev.preventDefault();
      const u = state.chart;
      const {min, max} = u.scales.x;
      const rect = u.over.getBoundingClientRect();
      const at = u.posToVal(ev.clientX - rect.left, "x");
      const f = ev.deltaY < 0 ? 0.7 : 1 / 0.7;
      setView(at - (at - min) * f, at + (max - at) * f);
    }

    async function show(s) {
      state.s = s;
      state.tz = ctx.zone(s);
      state.loaded = null;
      state.want = null;
      const {label, legend} = display(s);
      // the extent: first monthly bucket to the newest reading
      const months = await api.get("/api/v1/readings", {series: s.series_id, resolution: "month", agg: "count", tz: state.tz});
      if (ctx.signal.aborted) return;
      if (!months.points.length) {
        state.extent = null;
        chartBox.replaceChildren();
        info.replaceChildren(note("This series holds no readings yet.", "info"));
        return;
      }
      // the first month's days narrow the start to the first local day with data
      const firstMonth = epoch(months.points[0].ts);
      const [days, latest] = await Promise.all([
        api.get("/api/v1/readings", {
          series: s.series_id, resolution: "day", agg: "count", tz: state.tz,
          start: isoUtc(firstMonth), end: isoUtc(firstMonth + 32 * DAY),
        }),
        api.get("/api/v1/latest", {kind: s.entity_kind, entity: s.entity_id, metric: s.metric}),
      ]);
      if (ctx.signal.aborted) return;
      const first = days.points.find((p) => p.value > 0);
      const newest = latest.latest.length ? epoch(latest.latest[0].ts) : Date.now() / 1000;
      state.extent = [first ? epoch(first.ts) : firstMonth, newest + (s.interval_s || 60)];
      chartBox.replaceChildren();
      state.chart = timeChart(chartBox, "explorer", [[], []], {
        tz: state.tz,
        yLabel: label,
        series: [{label: legend, width: 1.25}],
        hooks: {setScale: [(u, key) => key === "x" && scaleChanged(u)]},
        cursor: {drag: {x: true, y: false}, bind: {dblclick: () => () => null}},
      });
      state.chart.over.addEventListener("wheel", wheel, {passive: false});
      state.chart.over.addEventListener("dblclick", () => setView(...state.extent));
      let [min, max] = state.extent;
      const from = Number(ctx.params.get("from"));
      const to = Number(ctx.params.get("to"));
      if (s.series_id === wanted && from && to && to > from) [min, max] = [Math.max(min, from), Math.min(max, to)];
      await fetchView(min, max);
    }

    await show(picker.selected());
  },
};
