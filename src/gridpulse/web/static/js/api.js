// Every request the dashboard makes goes through here: the bearer token, error messages, and
// which optional routes this server has (from its OpenAPI document, so a missing route is never
// requested and never logs a 404).

const TOKEN_KEY = "gridpulse.token";

/** An answer other than 2xx; `message` is the server's own `error` text when it sent one. */
export class ApiError extends Error {
  constructor(status, message, path) {
    super(message);
    this.status = status;
    this.path = path;
  }
}

/** A route this server does not have (an older server, or a feature not installed). */
export class NotAvailable extends Error {
  constructor(path) {
    super(`${path} is not available on this server`);
    this.path = path;
  }
}

export function authRequired() {
  return document.querySelector('meta[name="gridpulse-auth"]')?.content === "token";
}

export function token() {
  return localStorage.getItem(TOKEN_KEY) || "";
}

export function setToken(value) {
  if (value) localStorage.setItem(TOKEN_KEY, value);
  else localStorage.removeItem(TOKEN_KEY);
}

let pathsPromise = null;

/** The set of "METHOD /path/{param}" this server serves, from /openapi.json (fetched once). */
function routes() {
  if (!pathsPromise) {
    pathsPromise = fetch("/openapi.json").then(async (res) => {
      if (!res.ok) return null;
      const doc = await res.json();
      const out = new Set();
      for (const [path, ops] of Object.entries(doc.paths || {})) {
        for (const method of Object.keys(ops)) out.add(`${method.toUpperCase()} ${path}`);
      }
      return out;
    }).catch(() => null);
  }
  return pathsPromise;
}

/** Whether the server has `path` (an OpenAPI template such as /api/v1/alerts/{alert_id}/ack). */
export async function has(path, method = "GET") {
  const known = await routes();
  return known === null || known.has(`${method} ${path}`);
}

/** The first of `paths` the server has, or null. */
export async function firstOf(paths, method = "GET") {
  for (const p of paths) if (await has(p, method)) return p;
  return null;
}

function url(path, params) {
  const u = new URL(path, location.origin);
  for (const [k, v] of Object.entries(params || {})) {
    if (v === undefined || v === null || v === "") continue;
    if (Array.isArray(v)) v.forEach((x) => u.searchParams.append(k, x));
    else u.searchParams.set(k, v);
  }
  return u;
}

let onAuthNeeded = () => {};

/** Called with a message whenever the server answers 401 or 403. */
export function whenAuthNeeded(callback) {
  onAuthNeeded = callback;
}

async function send(method, path, params, body, signal) {
  const headers = {Accept: "application/json"};
  if (token()) headers.Authorization = `Bearer ${token()}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(url(path, params), {
    method, headers, signal, body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!res.ok) {
    const message = (data && (data.error || data.detail)) || `${res.status} ${res.statusText}`;
    const err = new ApiError(res.status, typeof message === "string" ? message : JSON.stringify(message), path);
    if (res.status === 401 || res.status === 403) onAuthNeeded(err.message);
    throw err;
  }
  return data;
}

/** GET `path` with query `params`; the parsed JSON. Throws ApiError. */
export function get(path, params, {signal} = {}) {
  return send("GET", path, params, undefined, signal);
}

/** POST `path` with query `params` and an optional JSON `body`; the parsed JSON. Throws ApiError. */
export function post(path, params, body) {
  return send("POST", path, params, body, undefined);
}

/** PATCH `path` with a JSON `body`; the parsed JSON. Throws ApiError. */
export function patch(path, body) {
  return send("PATCH", path, undefined, body, undefined);
}

/** GET an optional route: throws NotAvailable when the server lacks it, without requesting it. */
export async function getOptional(template, path, params, options) {
  if (!(await has(template))) throw new NotAvailable(template);
  return get(path ?? template, params, options);
}
