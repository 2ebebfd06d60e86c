// Coverage heatmap: one row per series, one cell per local day, shaded by the share of expected
// intervals received; where the quality API has validated a day, the cell says how many of them
// are actual reads and how many estimates (hatched).

import * as api from "../api.js";
import {groups, seriesName} from "../picker.js";
import {daysBefore, h, isoUtc, localDate, note, num, panel} from "../util.js";

const SPANS = [["14", "14 days"], ["35", "35 days"], ["90", "90 days"]];

/** The shade class of a coverage percentage. */
export function shade(pct) {
  if (pct === null || pct === undefined) return "c-none";
  if (pct >= 100) return "c-100";
  if (pct >= 95) return "c-95";
  if (pct >= 80) return "c-80";
  if (pct >= 50) return "c-50";
  if (pct > 0) return "c-1";
  return "c-0";
}

/**
 * Intervals without an actual read per "series_id|day" (the missing_intervals validation rule of
 * the quality API, per local day of each series' zone), or null when the server has no quality API.
 */
async function missingActuals(start) {
  if (!(await api.has("/api/v1/quality"))) return null;
  const body = await api.get("/api/v1/quality", {rule: "missing_intervals", start});
  const out = new Map();
  for (const r of body.rows) out.set(`${r.series_id}|${r.day}`, r.count);
  return out;
}

/** Actual and estimated intervals of a coverage row, given the intervals without an actual read
 * (null when unknown): received counts both, estimates never replace a read. The validation
 * counts gaps from a series' first read on, so on the day a series starts the intervals before
 * it are neither: actual never exceeds what was received. */
export function split(row, missing) {
  if (missing === null || missing === undefined) return {actual: null, estimated: null};
  const actual = Math.max(0, Math.min(row.received, row.expected - missing));
  return {actual, estimated: Math.max(0, row.received - actual)};
}

export default {
  title: "Coverage",
  async render(main, ctx) {
    const series = await ctx.catalogue();
    if (!series.length) {
      main.append(note("No series yet.", "info"));
      return;
    }
    const tz = ctx.zone(null);
    const span = h("select", {id: "coverage-days"}, SPANS.map(([v, label]) => h("option", {value: v}, label)));
    span.value = ctx.params.get("days") || "35";
    const out = h("div", {id: "coverage-out"});
    main.append(h("div", {class: "controls"}, h("div", {class: "field"}, h("label", {for: "coverage-days"}, "Days"), span)), out);

    async function show() {
      ctx.setParams({days: span.value});
      const days = Number(span.value);
      const start = daysBefore(localDate(Date.now() / 1000, tz), days - 1);
      const problems = [];
      const answers = await Promise.all(groups(series).map(([kind, metric]) =>
        api.get("/api/v1/analytics/coverage", {kind, metric, start, end: isoUtc(Date.now() / 1000), tz}).catch((err) => {
          problems.push(`${kind} ${metric}: ${err.message}`);
          return {rows: []};
        })));
      const missing = await missingActuals(start).catch((err) => {
        problems.push(`quality: ${err.message}`);
        return null;
      });
      let validated = 0;
      const cells = new Map();
      const dates = new Set();
      for (const body of answers) {
        for (const r of body.rows) {
          cells.set(`${r.series_id}|${r.local_date}`, r);
          dates.add(r.local_date);
        }
      }
      const dayList = [...dates].sort();
      const shown = series.filter((s) => dayList.some((d) => cells.has(`${s.series_id}|${d}`)));
      const head = h("tr", {}, h("th", {scope: "col", class: "sticky"}, "Series"),
        dayList.map((d) => h("th", {scope: "col", class: "day"}, h("span", {}, d.slice(5)))));
      const readback = [];
      const rows = shown.map((s) => h("tr", {},
        h("th", {scope: "row", class: "sticky"}, h("a", {href: `#/explorer?series=${s.series_id}`}, seriesName(s))),
        dayList.map((d) => {
          const r = cells.get(`${s.series_id}|${d}`);
          // validation days are local days of the series' own zone: comparable only in that zone
          const known = missing && tz === s.tz && r ? missing.get(`${s.series_id}|${d}`) : undefined;
          const {actual, estimated} = r ? split(r, known) : {actual: null, estimated: null};
          if (actual !== null) validated += 1;
          const pct = r ? r.coverage_pct : null;
          readback.push({series_id: s.series_id, local_date: d, coverage_pct: pct, received: r ? r.received : 0, actual, estimated});
          const text = r
            ? `${s.entity_id} ${s.metric} ${d}: ${num(r.received)} of ${num(r.expected)} intervals (${num(pct)} %)` +
              (actual !== null ? `: ${num(actual)} actual, ${num(estimated)} estimated` : "")
            : `${s.entity_id} ${s.metric} ${d}: no data`;
          return h("td", {class: `cell ${shade(pct)}${estimated ? " est" : ""}`, title: text},
            h("span", {class: "sr"}, text));
        })));
      window.gridpulse.heatmap = {series: shown.length, days: dayList.length, validated, cells: readback};
      const legend = h("div", {class: "legend", "aria-label": "Legend"},
        [["c-100", "100 %"], ["c-95", "≥ 95 %"], ["c-80", "≥ 80 %"], ["c-50", "≥ 50 %"], ["c-1", "< 50 %"], ["c-0", "none received"]]
          .map(([c, label]) => h("span", {}, h("i", {class: `swatch ${c}`}), label)),
        h("span", {}, h("i", {class: "swatch c-100 est"}), "with estimated intervals"));
      const irregular = series.filter((s) => !s.interval_s).length;
      out.replaceChildren(
        ...problems.map((p) => note(p, "warn")),
        irregular ? note(`Left out: ${irregular} series without a nominal interval (coverage counts intervals).`, "info") : "",
        missing === null
          ? note("Estimated against actual intervals needs the quality API (/api/v1/quality), which this server does not have: cells show received intervals only.", "info")
          : validated === 0
            ? note("No validation results for these days yet (the quality check runs on its schedule, or POST /api/v1/quality/check): cells show received intervals, actual and estimated together.", "info")
            : "",
        panel(`Received intervals per local day (${tz}), ${dayList[0] || start} to ${dayList.at(-1) || ""}`,
          legend,
          h("div", {class: "table-wrap heat-wrap"},
            h("table", {class: "heatmap", id: "coverage-heatmap"},
              h("caption", {class: "sr"}, "Share of expected intervals received, per series and day"),
              h("thead", {}, head), h("tbody", {}, rows)))));
    }

    span.addEventListener("change", () => show());
    await show();
  },
};
