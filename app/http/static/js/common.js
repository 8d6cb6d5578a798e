// What every page's script shares: messages, DOM helpers, the API call,
// durations. An ES module; no build step.

const read = (id) => JSON.parse(document.getElementById(id)?.textContent || "{}");
const MESSAGES = read("i18n");
export const boot = read("boot");
export const lang = document.documentElement.lang || "en";

export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];

// t(key, values): a message in this page's language, "{name}" filled from values.
export function t(key, values) {
  const [section, item] = key.split(/\.(.*)/s);
  let text = MESSAGES[section]?.[item];
  if (text === undefined) {
    console.error(`missing message ${key}`);
    return key;
  }
  if (values) text = text.replace(/\{(\w+)\}/g, (m, name) => (name in values ? String(values[name]) : m));
  return text;
}

// el("button", {class: "x", onclick: fn}, "text", childNode)
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "style") Object.assign(node.style, v); // CSSOM: allowed by the CSP
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (v === true) node.setAttribute(k, "");
    else node.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

export function toast(text, ms = 1800) {
  const box = $("#toast");
  if (!box) return;
  box.textContent = text;
  box.classList.add("show");
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => box.classList.remove("show"), ms);
}

export class ApiError extends Error {
  constructor(status, body) {
    const err = body && body.error ? body.error : {};
    super(err.message || `HTTP ${status}`);
    this.status = status;
    this.code = err.code || `http_${status}`;
    this.field = err.field;
    this.body = body;
    this.retryAfter = null;
  }
}

// A name, description or redeem hint as configured ("text" or {"en": …, "zh-CN": …})
// in this page's language: the exact tag, the same language, else the first given.
export function inLanguage(text) {
  if (!text || typeof text !== "object") return text ?? "";
  if (text[lang] !== undefined) return text[lang];
  const primary = lang.split("-")[0].toLowerCase();
  const same = Object.keys(text).find((k) => k.split("-")[0].toLowerCase() === primary);
  return text[same ?? Object.keys(text)[0]] ?? "";
}

// Every prize of an activity's configuration once, by key (the first session naming it).
export function prizesOf(cfg) {
  const seen = new Map();
  for (const s of cfg?.sessions || []) for (const pool of s.pools || []) for (const p of pool.prizes || []) if (!seen.has(p.key)) seen.set(p.key, p);
  return [...seen.values()];
}

// A form field's error under it (#<id>-error), marked on the field; true when there is none.
export function fieldError(id, text) {
  const input = $(`#${id}`);
  $(`#${id}-error`).textContent = text;
  if (text) input.setAttribute("aria-invalid", "true");
  else input.removeAttribute("aria-invalid");
  return !text;
}

const LOCALIZED = new Set(["name", "description", "redeem_hint"]);

// Every localized field of an API answer, in this page's language (players'
// pages; the console edits every language and asks for the answer raw).
export function localized(data) {
  if (Array.isArray(data)) return data.map(localized);
  if (!data || typeof data !== "object") return data;
  const out = {};
  for (const [k, v] of Object.entries(data)) {
    out[k] = LOCALIZED.has(k) && v && typeof v === "object" && !Array.isArray(v) ? inLanguage(v) : localized(v);
  }
  return out;
}

// One API call. Resolves to the JSON body (or text); rejects with ApiError
// (an HTTP error) or TypeError (the network failed: the caller may retry).
export async function api(method, path, { body, token, csrf, headers = {}, raw = false } = {}) {
  const h = { ...headers };
  if (token) h.Authorization = `Bearer ${token}`;
  if (csrf && method !== "GET") h["X-CSRF-Token"] = csrf;
  if (body !== undefined) h["Content-Type"] = "application/json";
  const resp = await fetch(path, {
    method,
    headers: h,
    credentials: "same-origin",
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
  });
  const type = resp.headers.get("content-type") || "";
  const data = type.includes("json") ? await resp.json().catch(() => ({})) : await resp.text();
  if (!resp.ok) {
    const e = new ApiError(resp.status, data);
    e.retryAfter = Number(resp.headers.get("retry-after")) || null;
    throw e;
  }
  return raw ? data : localized(data);
}

export const pad2 = (n) => String(n).padStart(2, "0");

// A round as players know it: "Red rain · 5 Dec 2026 · 20:00–20:10" (its campaign,
// date and session time, in the campaign's own zone), never its internal id.
// `act`: the activity as GET /v1/activities/{id} answers, already localized.
export function roundName(roundId, act) {
  const [, day = "", si = "0"] = String(roundId).split(":");
  const date = new Date(Date.UTC(Number(day.slice(0, 4)), Number(day.slice(4, 6)) - 1, Number(day.slice(6, 8))));
  const shown = Number.isNaN(date.getTime()) ? day : new Intl.DateTimeFormat(lang, { dateStyle: "medium", timeZone: "UTC" }).format(date);
  const s = act?.sessions?.[Number(si)];
  const time = s ? `${s.start.slice(0, 5)}–${s.end.slice(0, 5)}` : "";
  return [act?.name, shown, time].filter(Boolean).join(" · ");
}

// A wait as people say it: "8 d 3 h 12 min" past a day, else "3:45:18" or "04:59".
export function duration(ms) {
  const s = Math.max(0, Math.ceil(ms / 1000));
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d > 0) return t("common.days", { d, h, m });
  if (h > 0) return `${h}:${pad2(m)}:${pad2(s % 60)}`;
  return `${pad2(m)}:${pad2(s % 60)}`;
}

// A date and time in a zone, in the page's language.
export function when(iso, timeZone, opts = { dateStyle: "medium", timeStyle: "short" }) {
  if (!iso) return "–";
  try {
    return new Intl.DateTimeFormat(lang, { ...opts, timeZone }).format(new Date(iso));
  } catch {
    return iso;
  }
}

export const percent = (p) =>
  new Intl.NumberFormat(lang, { style: "percent", maximumFractionDigits: p < 0.01 ? 3 : 1 }).format(p);

export const number = (n, digits = 0) =>
  new Intl.NumberFormat(lang, { maximumFractionDigits: digits }).format(n);
