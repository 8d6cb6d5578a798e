// The console's shared state and its API call: the session cookie is HttpOnly
// (this script never sees it); every write carries the session's CSRF token.
import { $, api as call, el, t } from "../common.js";

export const RANK = { viewer: 1, editor: 2, publisher: 3, admin: 4 };
export const session = { csrf: null, operator: null };

export const can = (role) => !!session.operator && RANK[session.operator.role] >= RANK[role];

export function api(method, path, body) {
  return call(method, path, { body, csrf: session.csrf, raw: true });
}

// A message; with `next`, shown after the navigation that follows instead.
export function flash(text, bad = false, next = false) {
  if (next) {
    flash.next = [text, bad];
    return;
  }
  const f = $("#flash");
  f.textContent = text;
  f.className = text ? (bad ? "error" : "ok") : "";
}

// A CSV export saved as a file (the session cookie authenticates the GET).
export async function downloadCsv(path, filename) {
  const resp = await fetch(path, { credentials: "same-origin" });
  if (!resp.ok) return flash(t("common.http_error", { status: resp.status }), true);
  const url = URL.createObjectURL(await resp.blob());
  const link = el("a", { href: url, download: filename });
  document.body.append(link);
  link.click();
  link.remove();
  URL.revokeObjectURL(url);
}

// A failed call as the operator should read it.
export function failure(e) {
  if (e instanceof TypeError) return t("common.network");
  if (e.status === 503) return t("common.unavailable");
  return e.message;
}

// A view is shown by the router; each registers how to show itself.
export const views = {};
