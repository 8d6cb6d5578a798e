// Blacklist, audit trail, operators and API tokens.
import { $, el, t, when } from "../common.js";
import { api, can, failure, flash, session, views } from "./state.js";

// A wide table scrolls sideways on a phone: a region the keyboard can reach.
export const table = (id, heads, rows, empty, label = "") =>
  rows.length
    ? el(
        "div",
        { class: "scroll", tabindex: "0", role: "region", "aria-label": label || id },
        el(
          "table",
          { id },
          el("thead", {}, el("tr", {}, heads.map((h) => el("th", { scope: "col" }, h)))),
          el("tbody", {}, rows),
        ),
      )
    : el("p", { class: "empty", id }, empty);

export const stamp = (iso) => when(iso, undefined, { dateStyle: "short", timeStyle: "medium" });

async function guarded(fn, done) {
  try {
    await fn();
    if (done) flash(done);
    return true;
  } catch (e) {
    flash(failure(e), true);
    return false;
  }
}

// -- blacklist ------------------------------------------------------------------

async function showBlacklist() {
  const { entries } = await api("GET", "/v1/admin/blacklist");
  const kind = el("select", { id: "bl-kind", name: "kind" }, ["user", "ip"].map((k) => el("option", { value: k }, t(`console.bl_${k}`))));
  const value = el("input", { id: "bl-value", name: "value", required: true, maxlength: "64" });
  const reason = el("input", { id: "bl-reason", name: "reason", maxlength: "200" });
  const form = el(
    "form",
    { id: "bl-add", class: "row card" },
    el("label", {}, t("console.bl_kind"), kind),
    el("label", { class: "grow" }, t("console.bl_value"), value),
    el("label", { class: "grow" }, t("console.bl_reason"), reason),
    el("button", { type: "submit", class: "primary", disabled: !can("editor") }, t("console.bl_add")),
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const body = { kind: kind.value, value: value.value.trim(), reason: reason.value };
    if (await guarded(() => api("POST", "/v1/admin/blacklist", body), t("console.bl_added"))) showBlacklist();
  });
  const rows = entries.map((e) =>
    el(
      "tr",
      {},
      el("td", {}, t(`console.bl_${e.kind}`)),
      el("td", { class: "mono" }, e.value),
      el("td", {}, e.reason),
      el("td", {}, stamp(e.created_at)),
      el(
        "td",
        {},
        can("editor")
          ? el(
              "button",
              {
                type: "button",
                class: "small",
                onclick: async () => {
                  if (await guarded(() => api("DELETE", `/v1/admin/blacklist/${e.kind}/${encodeURIComponent(e.value)}`))) showBlacklist();
                },
              },
              t("console.remove"),
            )
          : "",
      ),
    ),
  );
  $("#view-blacklist").replaceChildren(
    el("div", { class: "head" }, el("h1", {}, t("console.nav_blacklist"))),
    el("p", { class: "hint" }, t("console.bl_hint")),
    form,
    table("bl-list", [t("console.bl_kind"), t("console.bl_value"), t("console.bl_reason"), t("console.since"), ""], rows, t("console.bl_empty"), t("console.nav_blacklist")),
  );
}

// -- audit trail ------------------------------------------------------------------

const audit = { cursor: null, filters: { actor: "", action: "", activity_id: "" } };

function change(e) {
  const show = (v) => (v === null || v === undefined ? "—" : JSON.stringify(v));
  const text = e.before === null && e.after === null ? "" : `${show(e.before)} → ${show(e.after)}`;
  return el("td", { class: "change", title: text }, text.length > 140 ? `${text.slice(0, 137)}…` : text);
}

async function loadAudit(fresh) {
  if (fresh) audit.cursor = null;
  const q = new URLSearchParams({ limit: "50" });
  for (const [k, v] of Object.entries(audit.filters)) if (v) q.set(k, v);
  if (audit.cursor) q.set("cursor", audit.cursor);
  const page = await api("GET", `/v1/admin/audit?${q}`);
  const rows = page.entries.map((e) =>
    el(
      "tr",
      { class: e.action.startsWith("login.failed") || e.action === "login.throttled" ? "warn" : "" },
      el("td", {}, e.id),
      el("td", {}, stamp(e.at)),
      el("td", {}, e.actor),
      el("td", { class: "mono" }, e.action),
      el("td", { class: "mono" }, e.target),
      change(e),
      el("td", { class: "mono" }, e.ip),
    ),
  );
  const body = $("#audit-list tbody");
  if (fresh || !body) {
    const heads = ["#", t("console.au_when"), t("console.au_actor"), t("console.au_action"), t("console.au_target"), t("console.au_change"), "IP"];
    $("#audit-table").replaceChildren(table("audit-list", heads, rows, t("console.au_empty"), t("console.nav_audit")));
  } else body.append(...rows);
  audit.cursor = page.next_cursor;
  $("#audit-more").hidden = !page.next_cursor;
}

async function showAudit() {
  const input = (name, label, extra = {}) => {
    const i = el("input", { id: `audit-${name}`, name, value: audit.filters[name], ...extra });
    i.addEventListener("change", () => (audit.filters[name] = i.value.trim()));
    return el("label", {}, label, i);
  };
  const form = el(
    "form",
    { id: "audit-filter", class: "row card" },
    input("actor", t("console.au_actor")),
    input("action", t("console.au_action"), { placeholder: "activity.publish" }),
    input("activity_id", t("console.au_activity"), { inputmode: "numeric" }),
    el("button", { type: "submit" }, t("console.au_filter")),
  );
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    for (const k of Object.keys(audit.filters)) audit.filters[k] = $(`#audit-${k}`).value.trim();
    loadAudit(true).catch((e) => flash(failure(e), true));
  });
  $("#view-audit").replaceChildren(
    el("div", { class: "head" }, el("h1", {}, t("console.nav_audit"))),
    el("p", { class: "hint" }, t("console.au_hint")),
    form,
    el("div", { id: "audit-table" }),
    el("button", { type: "button", id: "audit-more", hidden: true, onclick: () => loadAudit(false).catch((e) => flash(failure(e), true)) }, t("console.au_more")),
  );
  await loadAudit(true);
}

// -- operators and tokens (admin) ---------------------------------------------------

async function showOperators() {
  const [{ operators }, { tokens }] = await Promise.all([api("GET", "/v1/admin/operators"), api("GET", "/v1/admin/tokens")]);
  const roles = ["viewer", "editor", "publisher", "admin"];
  const name = el("input", { id: "op-name", name: "username", required: true, autocomplete: "off" });
  const password = el("input", { id: "op-password", name: "password", type: "password", autocomplete: "new-password", required: true, minlength: "12" });
  const role = el("select", { id: "op-role", name: "role" }, roles.map((r) => el("option", { value: r }, t(`console.role_${r}`))));
  const addOp = el(
    "form",
    { id: "op-add", class: "row card" },
    el("label", {}, t("console.username"), name),
    el("label", {}, t("console.op_password"), password),
    el("label", {}, t("console.op_role"), role),
    el("button", { type: "submit", class: "primary" }, t("console.op_add")),
  );
  addOp.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const body = { username: name.value.trim(), password: password.value, role: role.value };
    if (await guarded(() => api("POST", "/v1/admin/operators", body), t("console.op_added", { name: body.username }))) showOperators();
  });
  const me = session.operator?.username;
  const opRows = operators.map((o) =>
    el(
      "tr",
      {},
      el("td", {}, o.username, o.username === me ? el("span", { class: "badge you" }, t("console.op_you")) : null),
      el("td", {}, t(`console.role_${o.role}`)),
      el("td", {}, el("span", { class: `badge ${o.disabled ? "disabled" : "active"}` }, t(o.disabled ? "console.op_disabled" : "console.op_active"))),
      el("td", {}, stamp(o.created_at)),
      el(
        "td",
        {},
        el(
          "button",
          {
            type: "button",
            class: "small",
            // The server refuses it too (409 cannot_disable_self): say why here.
            disabled: o.username === me && !o.disabled,
            title: o.username === me && !o.disabled ? t("console.op_self") : undefined,
            onclick: async () => {
              const path = `/v1/admin/operators/${encodeURIComponent(o.username)}/${o.disabled ? "enable" : "disable"}`;
              if (await guarded(() => api("POST", path))) showOperators();
            },
          },
          t(o.disabled ? "console.op_enable" : "console.op_disable"),
        ),
      ),
    ),
  );
  const scopes = ["grants", "admin:viewer", "admin:editor", "admin:publisher", "admin:admin"];
  const tokName = el("input", { id: "tok-name", name: "name", required: true, placeholder: "shop-backend" });
  const scope = el("select", { id: "tok-scope", name: "scope" }, scopes.map((s) => el("option", { value: s }, t(`console.scope_${s.replace(":", "_")}`))));
  const secret = el("div", { id: "tok-secret", class: "secret", hidden: true, role: "status" });
  const addTok = el(
    "form",
    { id: "tok-add", class: "row card" },
    el("label", {}, t("console.tok_name"), tokName),
    el("label", {}, t("console.tok_scope"), scope),
    el("button", { type: "submit", class: "primary" }, t("console.tok_create")),
  );
  addTok.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      const made = await api("POST", "/v1/admin/tokens", { name: tokName.value.trim(), scope: scope.value });
      await showOperators();
      const box = $("#tok-secret");
      box.hidden = false;
      box.replaceChildren(el("p", {}, t("console.tok_once")), el("code", {}, made.token));
    } catch (e) {
      flash(failure(e), true);
    }
  });
  const tokRows = tokens.map((k) =>
    el(
      "tr",
      {},
      el("td", {}, k.name),
      el("td", { class: "mono" }, k.scope),
      el("td", {}, k.created_by),
      el("td", {}, stamp(k.created_at)),
      el("td", {}, k.revoked_at ? stamp(k.revoked_at) : ""),
      el(
        "td",
        {},
        k.revoked_at
          ? ""
          : el(
              "button",
              {
                type: "button",
                class: "small danger",
                onclick: async () => {
                  if (await guarded(() => api("DELETE", `/v1/admin/tokens/${encodeURIComponent(k.name)}`))) showOperators();
                },
              },
              t("console.tok_revoke"),
            ),
      ),
    ),
  );
  $("#view-operators").replaceChildren(
    el("div", { class: "head" }, el("h1", {}, t("console.nav_operators"))),
    el("p", { class: "hint" }, t("console.op_hint")),
    addOp,
    table("op-list", [t("console.username"), t("console.op_role"), t("console.status"), t("console.since"), ""], opRows, "", t("console.nav_operators")),
    el("h2", {}, t("console.tokens")),
    el("p", { class: "hint" }, t("console.tok_hint")),
    addTok,
    secret,
    table("tok-list", [t("console.tok_name"), t("console.tok_scope"), t("console.tok_by"), t("console.since"), t("console.tok_revoked"), ""], tokRows, t("console.tok_empty"), t("console.tokens")),
  );
}

views.blacklist = { show: showBlacklist };
views.audit = { show: showAudit };
views.operators = { show: showOperators };
