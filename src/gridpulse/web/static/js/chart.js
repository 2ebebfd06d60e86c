// uPlot charts with the units on the y axis and the time zone on the x axis. Every chart is
// registered under a name in window.gridpulse.charts, so its data can be read back (tests do).

/* global uPlot */

import {localTime} from "./util.js";

export const COLORS = ["#0b5cad", "#c2410c", "#15803d", "#7c3aed", "#b91c1c", "#0e7490", "#a16207", "#be185d"];

window.gridpulse = window.gridpulse || {charts: {}};

function register(name, chart) {
  const old = window.gridpulse.charts[name];
  if (old && old !== chart) old.destroy();
  window.gridpulse.charts[name] = chart;
}

/** Destroy every registered chart (a page is left). */
export function destroyAll() {
  for (const chart of Object.values(window.gridpulse.charts)) chart.destroy();
  window.gridpulse.charts = {};
}

function widthOf(el) {
  return Math.max(260, Math.floor(el.clientWidth || el.parentElement?.clientWidth || 600));
}

/** The chart's container names what it shows, for screen readers (the canvas cannot). */
function describe(el, text) {
  el.setAttribute("role", "figure");
  el.setAttribute("aria-label", text);
}

function follow(el, chart, height) {
  const ro = new ResizeObserver(() => {
    const w = widthOf(el);
    if (Math.abs(w - chart.width) > 2) chart.setSize({width: w, height});
  });
  ro.observe(el);
  const destroy = chart.destroy.bind(chart);
  chart.destroy = () => {
    ro.disconnect();
    destroy();
  };
}

const DAY = 86400;

/** Tick labels of a time axis in `tz`, 24-hour clock: "14:00", a date under midnight, "11-26" for
 * daily ticks, "2026-11" for monthly ones (a year shown where it changes). */
export function timeTicks(tz) {
  return (u, splits, axisIdx, space, incr) => {
    let lastYear = null;
    return splits.map((ts) => {
      const [date, time] = localTime(ts, tz).split(" ");
      const year = date.slice(0, 4);
      const newYear = year !== lastYear;
      lastYear = year;
      if (incr >= 28 * DAY) return date.slice(0, 7);
      if (incr >= DAY) return newYear ? `${date.slice(5)}\n${year}` : date.slice(5);
      return time === "00:00" || newYear ? `${time}\n${date}` : time;
    });
  };
}

/** The x-axis caption of a time chart: "Time (Europe/Amsterdam)". */
export function timeLabel(tz) {
  return `Time (${tz})`;
}

function phone() {
  return window.matchMedia("(max-width: 600px)").matches;
}

/**
 * A time chart in `el`, registered as `name`.
 *
 * options: tz (IANA zone of the x axis), yLabel (with the unit), series ([{label, color, width,
 * dash, fill, points}]), bands ([[hiIndex, loIndex, fill]]), height, hooks, cursor, paths.
 * data: [xs (epoch seconds), ys1, ys2, ...].
 */
export function timeChart(el, name, data, options) {
  const height = options.height || (phone() ? 240 : 320);
  const opts = {
    width: widthOf(el),
    height,
    tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), options.tz),
    scales: {x: {time: true}},
    axes: [
      {label: timeLabel(options.tz), labelSize: 20, size: 50, values: timeTicks(options.tz)},
      {label: options.yLabel, labelSize: 20, size: 60},
    ],
    series: [
      {label: `Time (${options.tz})`, value: (u, ts) => (ts === null || ts === undefined ? "–" : localTime(ts, options.tz))},
      ...options.series.map((s, i) => ({
        label: s.label,
        stroke: s.color || COLORS[i % COLORS.length],
        width: s.width ?? 1.5,
        dash: s.dash,
        fill: s.fill,
        points: s.points || {show: false},
        spanGaps: false,
        paths: s.paths,
        show: s.show ?? true,
      })),
    ],
    bands: (options.bands || []).map(([hi, lo, fill]) => ({series: [hi, lo], fill})),
    cursor: options.cursor || {drag: {x: true, y: false}},
    hooks: options.hooks || {},
    legend: {live: !phone()},
  };
  const chart = new uPlot(opts, data, el);
  follow(el, chart, height);
  describe(el, `${options.series.map((s) => s.label).join(", ")}: ${options.yLabel} against time (${options.tz})`);
  register(name, chart);
  return chart;
}

/**
 * A chart with a numeric x axis (hour of day, share of time): xLabel and yLabel carry the units.
 * `bars` draws the series as bars.
 */
export function xyChart(el, name, data, options) {
  const height = options.height || (phone() ? 240 : 300);
  const bars = options.bars ? uPlot.paths.bars({size: [0.7, 40]}) : undefined;
  const opts = {
    width: widthOf(el),
    height,
    scales: {x: {time: false, range: options.xRange}},
    axes: [
      {label: options.xLabel, labelSize: 20, size: 40, values: options.xValues},
      {label: options.yLabel, labelSize: 20, size: 60},
    ],
    series: [
      {label: options.xLabel, value: options.xLegend},
      ...options.series.map((s, i) => ({
        label: s.label,
        stroke: s.color || COLORS[i % COLORS.length],
        fill: s.fill ?? (options.bars ? `${s.color || COLORS[i % COLORS.length]}99` : undefined),
        width: s.width ?? 2,
        paths: options.bars ? bars : undefined,
        points: {show: false},
      })),
    ],
    cursor: {drag: {x: false, y: false}},
    legend: {live: !phone()},
  };
  const chart = new uPlot(opts, data, el);
  follow(el, chart, height);
  describe(el, `${options.series.map((s) => s.label).join(", ")}: ${options.yLabel} against ${options.xLabel}`);
  register(name, chart);
  return chart;
}
