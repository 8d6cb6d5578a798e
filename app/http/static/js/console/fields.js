// Form fields bound to a path of the activity configuration
// ("sessions[0].pools[1].prizes[2].quantity"), the path the server names in
// a validation error, so the error can be shown at its field.
import { el, lang } from "../common.js";

export const parsePath = (path) =>
  path
    .replace(/\[(\d+)\]/g, ".$1")
    .split(".")
    .filter(Boolean)
    .map((p) => (/^\d+$/.test(p) ? Number(p) : p));

export function getAt(obj, path) {
  let cur = obj;
  for (const p of parsePath(path)) {
    if (cur === undefined || cur === null) return undefined;
    cur = cur[p];
  }
  return cur;
}

// Set a value; `undefined` deletes the key, so the server's default applies.
export function setAt(obj, path, value) {
  const parts = parsePath(path);
  let cur = obj;
  for (let i = 0; i < parts.length - 1; i++) {
    if (cur[parts[i]] === undefined || cur[parts[i]] === null) cur[parts[i]] = typeof parts[i + 1] === "number" ? [] : {};
    cur = cur[parts[i]];
  }
  const last = parts[parts.length - 1];
  if (value === undefined) delete cur[last];
  else cur[last] = value;
}

let serial = 0;

const READ = {
  text: (v) => (v === "" ? undefined : v),
  required: (v) => v,
  // A time of day: "15:45" is taken as "15:45:00" (the API wants HH:MM:SS).
  tod: (v) => {
    const m = /^\s*(\d{1,2}):(\d{2})(?::(\d{2}))?\s*$/.exec(v);
    return m ? `${m[1].padStart(2, "0")}:${m[2]}:${m[3] ?? "00"}` : v.trim();
  },
  int: (v) => (v.trim() === "" ? undefined : Number(v)),
  float: (v) => (v.trim() === "" ? undefined : Number(v)),
  // Shown as a percentage, kept as a decimal with the server's precision (10^-9).
  percent: (v) => (v.trim() === "" ? undefined : Math.round(Number(v) * 1e7) / 1e9),
};

const SHOW = {
  percent: (v) => (v === undefined || v === null ? "" : String(Math.round(v * 1e9) / 1e7)),
};

// field(ctx, "limits.per_round", "Per round", {kind: "int", hint: "0 = unlimited"})
export function field(ctx, path, label, opts = {}) {
  const kind = opts.kind || "text";
  const id = `f${++serial}`;
  const value = getAt(ctx.cfg, path);
  let input;
  if (opts.options) {
    input = el(
      "select",
      { id, name: path },
      opts.options.map(([v, text]) => el("option", { value: v, selected: String(value ?? "") === String(v) }, text)),
    );
  } else if (kind === "textarea") {
    input = el("textarea", { id, name: path, rows: "2" }, value ?? "");
  } else if (kind === "check") {
    input = el("input", { id, name: path, type: "checkbox", checked: !!value });
  } else {
    const type = { int: "number", float: "number", percent: "number", date: "date" }[kind] || opts.type || "text";
    input = el("input", {
      id,
      name: path,
      type,
      value: (SHOW[kind] || ((v) => v ?? ""))(value),
      inputmode: { int: "numeric", float: "decimal", percent: "decimal" }[kind],
      step: { int: "1", float: "any", percent: "any" }[kind],
      min: opts.min,
      max: opts.max,
      placeholder: opts.placeholder,
      pattern: opts.pattern,
      required: opts.required,
      list: opts.list,
      autocomplete: "off",
    });
  }
  input.dataset.path = path;
  const hint = opts.hint ? el("span", { class: "hint", id: `${id}-hint` }, opts.hint) : null;
  const error = el("span", { class: "field-error", id: `${id}-error` });
  input.setAttribute("aria-describedby", [hint && `${id}-hint`, `${id}-error`].filter(Boolean).join(" "));
  const read = (opts.options ? (v) => (v === "" && !opts.keepEmpty ? undefined : opts.number ? Number(v) : opts.boolean ? v === "true" : v) : READ[kind]) || READ.text;
  const update = () => {
    const v = kind === "check" ? (input.checked ? true : undefined) : read(input.value);
    setAt(ctx.cfg, path, v);
    input.removeAttribute("aria-invalid");
    error.textContent = "";
    ctx.changed(!!opts.structural, path);
  };
  input.addEventListener(opts.options || kind === "check" ? "change" : "input", update);
  const box = el(
    "div",
    { class: `field ${kind === "check" ? "check" : ""} ${opts.class || ""}`, "data-path": path },
    kind === "check" ? [input, el("label", { for: id }, label)] : [el("label", { for: id }, label), input],
    hint,
    error,
  );
  return box;
}

// The languages the console edits side by side (SPEC §1); other languages of
// an imported configuration are kept as they are.
export const LANGS = [
  ["en", "English"],
  ["zh-CN", "中文"],
];
const HOME = lang.startsWith("zh") ? "zh-CN" : "en";

// A name, description or hint in English and Chinese side by side. One text
// filled is saved as a plain string (every language shows it); both, as
// {"en": …, "zh-CN": …}. A plain string loaded is shown in the console's language.
export function localField(ctx, path, label, opts = {}) {
  const value = getAt(ctx.cfg, path);
  const texts = typeof value === "object" && value !== null ? { ...value } : value ? { [HOME]: value } : {};
  const extra = Object.fromEntries(Object.entries(texts).filter(([k]) => !LANGS.some(([l]) => l === k)));
  const inputs = LANGS.map(([code, name]) => {
    const id = `f${++serial}`;
    const attrs = { id, name: `${path}.${code}`, lang: code, autocomplete: "off", "aria-describedby": `${id}-error` };
    const input = opts.textarea ? el("textarea", { ...attrs, rows: "2" }, texts[code] ?? "") : el("input", { ...attrs, value: texts[code] ?? "", maxlength: opts.max });
    input.dataset.path = `${path}.${code}`;
    input.addEventListener("input", () => {
      const given = [...LANGS.map(([l], i) => [l, inputsOf()[i].value.trim()]), ...Object.entries(extra)].filter(([, v]) => v);
      const out = given.length > 1 ? Object.fromEntries(given) : given.length ? given[0][1] : opts.required ? "" : undefined;
      setAt(ctx.cfg, path, out);
      for (const i of inputsOf()) i.removeAttribute("aria-invalid");
      for (const e of box.querySelectorAll(".field-error")) e.textContent = "";
      ctx.changed(false, path);
    });
    return el("div", { class: "field", "data-path": `${path}.${code}` }, el("label", { for: id, class: "lang-label" }, name), input, el("span", { class: "field-error", id: `${id}-error` }));
  });
  const inputsOf = () => inputs.map((d) => d.querySelector("input,textarea"));
  const box = el(
    "fieldset",
    { class: `field local ${opts.class || ""}`, "data-path": path },
    el("legend", {}, label),
    el("div", { class: "langs" }, inputs),
    opts.hint ? el("span", { class: "hint" }, opts.hint) : null,
    el("span", { class: "field-error" }),
  );
  return box;
}

// A group of radio cards: radios(ctx, "kind", [["time", "Timed", "…"], …])
export function radios(ctx, path, legend, choices, { structural = true, onchange } = {}) {
  const name = `r${++serial}`;
  const current = getAt(ctx.cfg, path);
  return el(
    "fieldset",
    { class: "radios", "data-path": path },
    el("legend", {}, legend),
    choices.map(([value, label, text]) => {
      const input = el("input", { type: "radio", name, value, checked: current === value, id: `${name}-${value}` });
      input.dataset.path = path;
      input.addEventListener("change", () => {
        if (onchange) onchange(value);
        else setAt(ctx.cfg, path, value);
        ctx.changed(structural, path);
      });
      return el("label", { class: "radio-card", for: `${name}-${value}` }, input, el("strong", {}, label), text ? el("span", { class: "hint" }, text) : null);
    }),
    el("span", { class: "field-error" }),
  );
}

export const button = (text, onclick, cls = "") => el("button", { type: "button", class: cls, onclick }, text);

// Where the server's field path lives in the five steps.
export function stepOf(path) {
  if (/^(name|description|kind|timezone|start_date|end_date|display|after_last_pool|require_grant|stop_when_sold_out|buckets)\b/.test(path)) return 1;
  if (/^limits\b/.test(path) || /^sessions(\[\d+\])?(\.(start|end))?$/.test(path)) return 2;
  if (/\.release\b|^release\b/.test(path)) return 5;
  if (/^probability$|\.(probability|weight)$|\.prizes$/.test(path)) return 4;
  if (/^sessions/.test(path)) return 3;
  return 1;
}

// HH:MM or HH:MM:SS (HH:MM is saved with :00), 24:00 for midnight at the end.
export const TIME = "^\\s*([01]?\\d|2[0-3]):[0-5]\\d(:[0-5]\\d)?\\s*$|^\\s*24:00(:00)?\\s*$";
// Seconds since midnight, or null for anything that is not a time (never NaN).
export const secondsOf = (text) => {
  const m = /^\s*(\d{1,2}):(\d{2})(?::(\d{2}))?\s*$/.exec(text || "");
  if (!m) return null;
  const sec = Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3] || 0);
  return Number(m[2]) < 60 && Number(m[3] || 0) < 60 && sec <= 86400 ? sec : null;
};
export const hms = (sec) => [Math.floor(sec / 3600), Math.floor((sec % 3600) / 60), sec % 60].map((n) => String(n).padStart(2, "0")).join(":");

export const ZONES = [
  "Asia/Shanghai",
  "Asia/Hong_Kong",
  "Asia/Taipei",
  "Asia/Singapore",
  "Asia/Tokyo",
  "Asia/Seoul",
  "Asia/Kolkata",
  "Europe/London",
  "Europe/Berlin",
  "America/New_York",
  "America/Los_Angeles",
  "UTC",
];

export const zoneList = () => el("datalist", { id: "zones" }, ZONES.map((z) => el("option", { value: z })));
