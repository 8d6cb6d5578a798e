// What a started activity may still change (mirrors app/domain/changes.py),
// and what a new version changes against the live one, for the publish
// confirmation: "Session 1 · c2 · quantity: 100 → 200".
import { inLanguage, percent, t } from "../common.js";

// The pools (prizes, odds) and the release change only the rounds that have not started.
const FREE = /^(name|description|redeem_hint|display|release)(\.|\[|$)|^end_date$|^sessions\[\d+\]\.pools(\.|\[|$)/;
export const freeOnceStarted = (path) => FREE.test(path);

// Every form control of a started activity that may not change is disabled,
// with the banner (#editor-locked) saying why; so are buttons that add or
// remove what is locked (a session), not those inside a free part (a prize).
export function lockStarted(rec, root) {
  const started = !!rec?.started;
  for (const input of root.querySelectorAll("[data-path]:is(input,select,textarea)")) {
    if (!started || freeOnceStarted(input.dataset.path)) continue;
    input.disabled = true;
    input.setAttribute("aria-describedby", `${input.getAttribute("aria-describedby") || ""} editor-locked`.trim());
  }
  if (started) {
    for (const b of root.querySelectorAll("button:not([role=tab]):not(.chip)")) {
      const part = b.closest("[data-path]");
      if (!part || !freeOnceStarted(part.dataset.path)) b.disabled = true;
    }
  }
  return started;
}

const shown = (v, key) => {
  if (v === undefined || v === null) return "–";
  if (key === "probability" && typeof v === "number") return percent(v);
  if (typeof v === "object") return Array.isArray(v) ? JSON.stringify(v) : inLanguage(v);
  return String(v);
};

// Field names the console already has words for; others show as they are.
const WORDS = { name: "name", description: "description", redeem_hint: "redeem_hint", start_date: "start_date", end_date: "end_date", quantity: "quantity", timezone: "timezone" };
const word = (key) => (WORDS[key] ? t(`console.${WORDS[key]}`) : key);

// "sessions[0].pools[1].prizes[2].quantity" as people read it.
function label(path, cfg) {
  const m = /^sessions\[(\d+)\](?:\.pools\[(\d+)\])?(?:\.prizes\[(\d+)\])?\.?(.*)$/.exec(path);
  if (!m) return word(path);
  const [, si, pi, zi, rest] = m;
  const parts = [t("console.session_n", { n: Number(si) + 1 })];
  const pool = pi === undefined ? null : cfg.sessions?.[si]?.pools?.[pi];
  if (pool && (cfg.sessions[si].pools.length > 1)) parts.push(t("console.pool_n", { n: Number(pi) + 1 }));
  if (zi !== undefined) parts.push(pool?.prizes?.[zi]?.key || `#${Number(zi) + 1}`);
  if (rest) parts.push(word(rest));
  return parts.join(" · ");
}

// The leaves that differ between two configurations, at most `max` of them.
export function differences(before, after, max = 12) {
  const out = [];
  const walk = (a, b, path) => {
    if (out.length > max) return;
    const obj = (x) => x && typeof x === "object" && !Array.isArray(x);
    const local = obj(a) && obj(b) && /(^|\.)(name|description|redeem_hint)$/.test(path);
    if (!local && obj(a) && obj(b)) {
      for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) walk(a[k], b[k], path ? `${path}.${k}` : k);
    } else if (Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x) => x && typeof x === "object")) {
      a.forEach((x, i) => walk(x, b[i], `${path}[${i}]`));
    } else if (JSON.stringify(a) !== JSON.stringify(b)) {
      const key = path.split(".").pop();
      out.push(`${label(path, after)}: ${shown(a, key)} → ${shown(b, key)}`);
    }
  };
  walk(before || {}, after || {}, "");
  return out.length > max ? [...out.slice(0, max), t("console.more_changes")] : out;
}
