// The series catalogue's helpers: names, (kind, metric) groups, and the entity + metric picker
// of the explorer and the forecast page.

import {h} from "./util.js";

/** The (kind, metric) pairs of the catalogue's series with a nominal interval (coverage counts
 * intervals; a group analysis takes series of one unit). */
export function groups(series) {
  const seen = new Map();
  for (const s of series.filter((x) => x.interval_s)) seen.set(`${s.entity_kind}\u0000${s.metric}`, [s.entity_kind, s.metric]);
  return [...seen.values()].sort((a, b) => a.join("/").localeCompare(b.join("/")));
}

/** "meter m-01 · kwh (kWh)" */
export function seriesName(s) {
  return `${s.entity_kind} ${s.entity_id} · ${s.metric}${s.unit ? ` (${s.unit})` : ""}`;
}

/**
 * Two labelled selects, entity (grouped by kind) and metric, over `series`; `onChange(series)`
 * is called when the choice changes. Returns {el, selected()}.
 */
export function seriesPicker(series, selectedId, onChange, idPrefix = "pick") {
  const byEntity = new Map();
  for (const s of series) {
    const key = `${s.entity_kind}:${s.entity_id}`;
    if (!byEntity.has(key)) byEntity.set(key, []);
    byEntity.get(key).push(s);
  }
  const kinds = [...new Set(series.map((s) => s.entity_kind))].sort();
  let chosen = series.find((s) => s.series_id === selectedId)
    || series.find((s) => (s.unit || "").toLowerCase() === "kwh" && s.entity_kind === "meter") || series[0];

  const entity = h("select", {id: `${idPrefix}-entity`});
  for (const kind of kinds) {
    const group = h("optgroup", {label: kind});
    for (const key of [...byEntity.keys()].filter((k) => k.startsWith(`${kind}:`)).sort()) {
      group.append(h("option", {value: key}, key.slice(kind.length + 1)));
    }
    entity.append(group);
  }
  const metric = h("select", {id: `${idPrefix}-metric`});

  function fillMetrics() {
    metric.replaceChildren(...byEntity.get(entity.value).map((s) =>
      h("option", {value: String(s.series_id)}, `${s.metric}${s.unit ? ` (${s.unit})` : ""}`)));
  }
  if (chosen) {
    entity.value = `${chosen.entity_kind}:${chosen.entity_id}`;
    fillMetrics();
    metric.value = String(chosen.series_id);
  }
  entity.addEventListener("change", () => {
    fillMetrics();
    chosen = series.find((s) => String(s.series_id) === metric.value);
    onChange(chosen);
  });
  metric.addEventListener("change", () => {
    chosen = series.find((s) => String(s.series_id) === metric.value);
    onChange(chosen);
  });
  const el = h("div", {class: "picker"},
    h("div", {class: "field"}, h("label", {for: entity.id}, "Entity"), entity),
    h("div", {class: "field"}, h("label", {for: metric.id}, "Metric"), metric));
  return {el, selected: () => chosen};
}
