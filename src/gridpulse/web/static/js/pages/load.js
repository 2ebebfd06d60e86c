// Load shape: the average day (time-of-use profile by day type), the load duration curve, and
// the feeder balance (head energy against its meters, and the losses).

/* global uPlot */

import * as api from "../api.js";
import {timeChart, xyChart} from "../chart.js";
import {seriesName} from "../picker.js";
import {daysBefore, epoch, h, localDate, note, num, panel, table} from "../util.js";

const RANGES = [["30", "last 30 days"], ["90", "last 90 days"], ["365", "last year"]];

async function profile(box, s, start, tz) {
  if ((s.unit || "").toLowerCase() !== "kwh") {
    box.replaceChildren();
    throw new Error(`The average-day profile needs interval energy (kWh); ${s.entity_id} ${s.metric} is in ${s.unit}.`);
  }
  const body = await api.get("/api/v1/analytics/profile", {entity: `${s.entity_kind}:${s.entity_id}`, metric: s.metric, start, tz});
  const types = [...new Set(body.rows.map((r) => r.day_type))];
  const slots = [...new Set(body.rows.map((r) => r.slot))].sort((a, b) => a - b);
  const value = (t, slot) => body.rows.find((r) => r.day_type === t && r.slot === slot)?.energy_kwh ?? null;
  const per = slots.length === 24 ? "hour" : `${(24 * 60) / slots.length} min`;
  xyChart(box, "profile", [slots.map((x) => (x * 24) / slots.length), ...types.map((t) => slots.map((x) => value(t, x)))], {
    xLabel: `Local time of day [h] (${tz})`,
    yLabel: `Average energy per ${per} [kWh]`,
    xRange: [0, 24],
    series: types.map((t) => ({label: t})),
  });
  return body;
}

async function duration(box, s, start, tz) {
  const body = await api.get("/api/v1/analytics/load-duration",
    {entity: `${s.entity_kind}:${s.entity_id}`, metric: s.metric, start, tz, points: 200});
  xyChart(box, "load-duration", [body.rows.map((r) => 100 * r.share), body.rows.map((r) => r.demand_kw)], {
    xLabel: "Share of the time demand is at or above [%]",
    yLabel: `Demand, ${body.params.window} average [kW]`,
    xRange: [0, 100],
    series: [{label: s.entity_id}],
  });
  return body;
}

async function feederBalance(box, tableBox, feeder, start, tz) {
  const body = await api.get("/api/v1/analytics/feeder-balance", {feeder, period: "day", start, tz});
  const rows = body.rows;
  const xs = rows.map((r) => epoch(r.start));
  timeChart(box, "feeder-balance", [xs, rows.map((r) => r.feeder_kwh), rows.map((r) => r.meters_kwh), rows.map((r) => r.losses_kwh)], {
    tz,
    yLabel: "Energy per local day [kWh]",
    series: [
      {label: "feeder head"},
      {label: "meters (sum)"},
      {label: "losses", paths: uPlot.paths.bars({size: [0.6, 30]}), fill: "#b91c1c66", color: "#b91c1c"},
    ],
  });
  tableBox.replaceChildren(
    ...body.notes.map((n) => note(n, "warn")),
    table([
      {key: "start", label: `Day (${tz})`, format: (v) => localDate(epoch(v), tz)},
      {key: "feeder_kwh", label: "Feeder [kWh]", cls: "num"},
      {key: "meters_kwh", label: "Meters [kWh]", cls: "num"},
      {key: "losses_kwh", label: "Losses [kWh]", cls: "num"},
      {key: "losses_pct", label: "Losses [%]", cls: "num"},
      {key: "meters_reporting", label: "Meters reporting", cls: "num", format: (v, r) => `${num(v)} / ${num(r.meters_expected)}`},
    ], rows.slice(-14).reverse(), {caption: "The last 14 days"}));
  return body;
}

export default {
  title: "Load shape",
  async render(main, ctx) {
    const series = await ctx.catalogue();
    const energy = series.filter((s) => ["kwh", "kw"].includes((s.unit || "").toLowerCase()) && s.entity_kind !== "feeder");
    const feeders = [...new Set(series.filter((s) => s.entity_kind === "feeder").map((s) => s.entity_id))].sort();
    if (!energy.length && !feeders.length) {
      main.append(note("No kWh or kW series yet: these charts need interval energy or demand.", "info"));
      return;
    }
    const pick = h("select", {id: "load-series"}, energy.map((s) => h("option", {value: String(s.series_id)}, seriesName(s))));
    const range = h("select", {id: "load-range"}, RANGES.map(([v, label]) => h("option", {value: v}, label)));
    const wanted = ctx.params.get("series");
    const meter = energy.find((s) => s.entity_kind === "meter" && (s.unit || "").toLowerCase() === "kwh");
    if (wanted && energy.some((s) => String(s.series_id) === wanted)) pick.value = wanted;
    else if (meter) pick.value = String(meter.series_id);
    range.value = ctx.params.get("days") || "90";
    const profileBox = h("div", {class: "chart", id: "profile-chart"});
    const durationBox = h("div", {class: "chart", id: "duration-chart"});
    const profileInfo = h("p", {class: "chart-info"});
    const durationInfo = h("p", {class: "chart-info"});
    main.append(
      h("div", {class: "controls"},
        h("div", {class: "field"}, h("label", {for: "load-series"}, "Series"), pick),
        h("div", {class: "field"}, h("label", {for: "load-range"}, "Range"), range)),
      h("div", {class: "grid2"},
        panel("Time-of-use profile: the average day", profileBox, profileInfo),
        panel("Load duration curve", durationBox, durationInfo)));

    let feederSelect = null;
    const balanceBox = h("div", {class: "chart", id: "balance-chart"});
    const balanceTable = h("div");
    if (feeders.length) {
      feederSelect = h("select", {id: "load-feeder"}, feeders.map((f) => h("option", {value: f}, f)));
      main.append(panel("Feeder balance",
        h("div", {class: "field"}, h("label", {for: "load-feeder"}, "Feeder"), feederSelect), balanceBox, balanceTable));
    }

    async function showSeries() {
      const s = energy.find((x) => String(x.series_id) === pick.value);
      if (!s) return;
      const tz = ctx.zone(s);
      const start = daysBefore(localDate(Date.now() / 1000, tz), Number(range.value));
      ctx.setParams({series: s.series_id, days: range.value});
      profileInfo.replaceChildren();
      durationInfo.replaceChildren();
      await Promise.all([
        profile(profileBox, s, start, tz)
          .then((b) => profileInfo.replaceChildren(`Averaged over ${num(Math.max(...b.rows.map((r) => r.days)))} days of each type since ${start}; zone ${tz}.`))
          .catch((err) => profileInfo.replaceChildren(note(err.message, "warn"))),
        duration(durationBox, s, start, tz)
          .then((b) => durationInfo.replaceChildren(`Peak ${num(b.rows[0]?.demand_kw)} kW; ${num(b.rows.at(-1)?.hours)} h of demand windows since ${start}; zone ${tz}.`))
          .catch((err) => durationInfo.replaceChildren(note(err.message, "warn"))),
      ]);
    }

    async function showFeeder() {
      const tz = ctx.zone(series.find((s) => s.entity_kind === "feeder" && s.entity_id === feederSelect.value));
      const start = daysBefore(localDate(Date.now() / 1000, tz), Number(range.value));
      await feederBalance(balanceBox, balanceTable, feederSelect.value, start, tz)
        .catch((err) => balanceTable.replaceChildren(note(err.message, "warn")));
    }

    pick.addEventListener("change", () => showSeries());
    range.addEventListener("change", () => Promise.all([showSeries(), feederSelect && showFeeder()]));
    if (feederSelect) feederSelect.addEventListener("change", () => showFeeder());
    await Promise.all([energy.length ? showSeries() : null, feederSelect ? showFeeder() : null]);
  },
};
