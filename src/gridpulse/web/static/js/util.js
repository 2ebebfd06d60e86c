// Small DOM and formatting helpers shared by the pages.

/** An element: h("p", {class: "x"}, "text", child). Attributes starting with "on" become listeners. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "text") el.textContent = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** A number for people: 3 significant digits under 1000, thousands separated above. */
export function num(value, digits = 3) {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  const abs = Math.abs(value);
  if (abs >= 1000) return Math.round(value).toLocaleString("en-US");
  if (abs === 0) return "0";
  return Number(value.toPrecision(digits)).toString();
}

/** Epoch seconds of an ISO 8601 instant with offset. */
export function epoch(iso) {
  return Date.parse(iso) / 1000;
}

/** ISO 8601 instant (UTC, "Z") of epoch seconds. */
export function isoUtc(seconds) {
  return new Date(Math.round(seconds) * 1000).toISOString().replace(".000Z", "Z");
}

const formats = new Map();

/** "2026-11-26 14:05" of epoch seconds in the IANA zone `tz` (dates only with `dateOnly`). */
export function localTime(seconds, tz, dateOnly = false) {
  const key = `${tz}|${dateOnly}`;
  if (!formats.has(key)) {
    formats.set(key, new Intl.DateTimeFormat("sv-SE", {
      timeZone: tz, year: "numeric", month: "2-digit", day: "2-digit",
      ...(dateOnly ? {} : {hour: "2-digit", minute: "2-digit", hourCycle: "h23"}),
    }));
  }
  return formats.get(key).format(new Date(seconds * 1000));
}

/** The local calendar date (YYYY-MM-DD) of epoch seconds in `tz`. */
export function localDate(seconds, tz) {
  return localTime(seconds, tz, true);
}

/** The calendar date `days` days before `date` (YYYY-MM-DD). Counted in dates, not in 24-hour
 * steps back from now: across a clock change those land on the wrong date for an hour a day. */
export function daysBefore(date, days) {
  const d = new Date(`${date}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() - days);
  return d.toISOString().slice(0, 10);
}

/** "3 min", "2.5 h", "4 d" of a duration in seconds. */
export function ago(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  const s = Math.max(0, seconds);
  if (s < 90) return `${Math.round(s)} s`;
  if (s < 90 * 60) return `${Math.round(s / 60)} min`;
  if (s < 36 * 3600) return `${num(s / 3600, 2)} h`;
  return `${num(s / 86400, 2)} d`;
}

/** A table of `rows` (objects) with `columns`: [{key, label, format?(value, row) -> Node|string, cls?}]. */
export function table(columns, rows, {caption, empty = "Nothing to show."} = {}) {
  if (!rows.length) return h("p", {class: "empty"}, empty);
  const head = h("tr", {}, columns.map((c) => h("th", {scope: "col", class: c.cls}, c.label)));
  const body = rows.map((row) => h("tr", {}, columns.map((c) => {
    const value = row[c.key];
    const shown = c.format ? c.format(value, row) : (typeof value === "number" ? num(value) : value ?? "–");
    return h("td", {class: c.cls}, shown);
  })));
  return h("div", {class: "table-wrap"},
    h("table", {}, caption ? h("caption", {}, caption) : null, h("thead", {}, head), h("tbody", {}, body)));
}

/** A titled panel: <section><h2>title</h2>…</section>. */
export function panel(title, ...children) {
  return h("section", {class: "panel"}, h("h2", {}, title), ...children);
}

/** A short message box; kind is "info", "warn" or "error". */
export function note(text, kind = "info") {
  return h("p", {class: `note ${kind}`, role: kind === "error" ? "alert" : "status"}, text);
}
