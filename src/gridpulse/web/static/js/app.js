// The dashboard shell: hash routes (#/explorer?series=3), the time-zone choice, the token prompt,
// and the series catalogue the pages share.

import * as api from "./api.js";
import {destroyAll} from "./chart.js";
import {h, note} from "./util.js";
import overview from "./pages/overview.js";
import explorer from "./pages/explorer.js";
import forecast from "./pages/forecast.js";
import load from "./pages/load.js";
import coverage from "./pages/coverage.js";
import alerts from "./pages/alerts.js";
import status from "./pages/status.js";

const PAGES = {overview, explorer, forecast, load, coverage, alerts, status};
const TZ_KEY = "gridpulse.tz";

let catalogue = null;
let current = null; // {name, abort}

function route() {
  const raw = location.hash.replace(/^#\/?/, "");
  const [path, query] = raw.split("?");
  const name = path || "overview";
  return {name: PAGES[name] ? name : "overview", params: new URLSearchParams(query || "")};
}

function tzMode() {
  return localStorage.getItem(TZ_KEY) === "UTC" ? "UTC" : "site";
}

/** The most common zone of the catalogue: the fleet's "site zone". */
function siteZone(series) {
  const counts = new Map();
  for (const s of series) if (s.tz) counts.set(s.tz, (counts.get(s.tz) || 0) + 1);
  let best = "UTC";
  let most = 0;
  for (const [tz, n] of counts) if (n > most) [best, most] = [tz, n];
  return best;
}

function makeContext(name, params, abort) {
  const ctx = {
    name,
    params,
    signal: abort.signal,
    tzMode: tzMode(),
    siteZone: "UTC",
    /** The zone charts of `series` use: its own zone, or UTC when the user chose UTC. */
    zone(series) {
      if (ctx.tzMode === "UTC") return "UTC";
      return (series && series.tz) || ctx.siteZone;
    },
    async catalogue() {
      if (!catalogue) catalogue = api.get("/api/v1/series").then((d) => d.series);
      try {
        const series = await catalogue;
        ctx.siteZone = siteZone(series);
        return series;
      } catch (err) {
        catalogue = null;
        throw err;
      }
    },
    /** Change the query of the current page without rendering it again. */
    setParams(next) {
      const q = new URLSearchParams(next).toString();
      history.replaceState(null, "", `#/${name === "overview" ? "" : name}${q ? `?${q}` : ""}`);
      ctx.params = new URLSearchParams(q);
    },
  };
  return ctx;
}

async function render() {
  const {name, params} = route();
  if (current) current.abort.abort();
  destroyAll();
  const abort = new AbortController();
  current = {name, abort};
  const main = document.getElementById("page");
  document.body.removeAttribute("data-ready");
  document.body.dataset.page = name;
  for (const a of document.querySelectorAll("#nav a")) {
    if (a.dataset.page === name) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  main.replaceChildren(h("p", {class: "loading"}, "Loading…"));
  const page = PAGES[name];
  document.title = `${page.title} · gridpulse`;
  const ctx = makeContext(name, params, abort);
  try {
    await ctx.catalogue();
    main.replaceChildren(h("h1", {}, page.title));
    await page.render(main, ctx);
  } catch (err) {
    if (abort.signal.aborted) return;
    const text = err instanceof api.ApiError ? `${err.path}: ${err.message}` : String(err.message || err);
    main.append(note(text, "error"));
    document.body.dataset.error = text;
  }
  if (!abort.signal.aborted) document.body.dataset.ready = name;
}

function showTokenPanel(message) {
  const panel = document.getElementById("token-panel");
  panel.hidden = false;
  const old = panel.querySelector(".note");
  if (old) old.remove();
  if (message) panel.querySelector("form").prepend(note(message, "warn"));
  document.getElementById("token-input").focus();
}

function setUp() {
  const tz = document.getElementById("tz-mode");
  tz.value = tzMode();
  tz.addEventListener("change", () => {
    localStorage.setItem(TZ_KEY, tz.value);
    render();
  });
  const menu = document.querySelector(".menu");
  const nav = document.getElementById("nav");
  menu.addEventListener("click", () => {
    const open = menu.getAttribute("aria-expanded") !== "true";
    menu.setAttribute("aria-expanded", String(open));
    nav.classList.toggle("open", open);
  });
  nav.addEventListener("click", () => {
    menu.setAttribute("aria-expanded", "false");
    nav.classList.remove("open");
  });
  const button = document.getElementById("token-button");
  button.hidden = !api.authRequired();
  button.addEventListener("click", () => showTokenPanel());
  document.getElementById("token-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    api.setToken(document.getElementById("token-input").value.trim());
    document.getElementById("token-panel").hidden = true;
    catalogue = null;
    render();
  });
  api.whenAuthNeeded((message) => showTokenPanel(message));
  window.addEventListener("hashchange", render);
  if (api.authRequired() && !api.token()) {
    showTokenPanel("Enter a token to see this server's data.");
    document.getElementById("page").replaceChildren(note("Waiting for a token.", "info"));
    return;
  }
  render();
}

setUp();
