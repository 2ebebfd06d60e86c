// Which resolution the explorer asks for: the finest one that keeps a view under a few thousand
// points, so years of data stay fluid and a zoom into one day shows the raw intervals.

/** Resolutions of GET /api/v1/readings and their nominal bucket length in seconds (month: 1/12 year). */
export const RESOLUTIONS = [
  ["15min", 900],
  ["30min", 1800],
  ["hour", 3600],
  ["day", 86400],
  ["week", 7 * 86400],
  ["month", 2629746],
];

/** Most points one view asks for. */
export const MAX_POINTS = 3000;

/**
 * The resolution for a view spanning `spanS` seconds of a series sampled every `intervalS` seconds:
 * "raw" when the raw points fit, else the finest coarser bucket that fits, else "month".
 */
export function pickResolution(spanS, intervalS, maxPoints = MAX_POINTS) {
  const step = intervalS > 0 ? intervalS : 60;
  if (spanS / step <= maxPoints) return "raw";
  for (const [name, bucketS] of RESOLUTIONS) {
    if (bucketS <= step) continue; // not coarser than the raw interval: raw already said no
    if (spanS / bucketS <= maxPoints) return name;
  }
  return "month";
}

/** Bucket length in seconds of a resolution name ("raw": the series' interval). */
export function bucketSeconds(resolution, intervalS) {
  if (resolution === "raw") return intervalS > 0 ? intervalS : 60;
  const found = RESOLUTIONS.find(([name]) => name === resolution);
  return found ? found[1] : 3600;
}

/** How fine a resolution is: smaller is finer. */
export function rank(resolution) {
  return resolution === "raw" ? -1 : RESOLUTIONS.findIndex(([name]) => name === resolution);
}
