// The activities list: filter by status, edit, watch live, clone, archive.
import { $, el, inLanguage, t, when } from "../common.js";
import { api, can, failure, flash, views } from "./state.js";

const FILTERS = ["", "draft", "pending_approval", "published", "archived"];
const READ_ONLY = ["id", "status", "version", "created_at", "updated_at", "published_at", "pending_by", "pending_version", "published_version", "config_hash", "paused", "started", "live"];
let filter = "";

export const badge = (status) => el("span", { class: `badge ${status}` }, t(`console.status_${status}`));

// A saved version players do not draw against yet (a publisher publishes it).
export const unpublished = (a, short = false) =>
  a.published_version && a.published_version !== a.version
    ? el("span", { class: "badge changes" }, t(short ? "console.unpublished_short" : "console.unpublished", { version: a.version, live: a.published_version }))
    : null;

// An activity's configuration without what the server owns (id, status, …).
export function configOf(activity) {
  const cfg = structuredClone(activity);
  for (const k of READ_ONLY) delete cfg[k];
  return cfg;
}

async function act(fn, done) {
  try {
    await fn();
    if (done) flash(done);
    await show();
  } catch (e) {
    flash(failure(e), true);
  }
}

function actions(a) {
  const out = [el("a", { class: "button small", href: `#/edit/${a.id}` }, t(can("editor") ? "console.edit" : "console.view"))];
  if (a.status === "published" || a.status === "pending_approval") {
    out.push(el("a", { class: "button small", href: `#/live/${a.id}` }, t("console.live")));
  }
  if (can("editor")) {
    out.push(
      el(
        "button",
        {
          type: "button",
          class: "small",
          onclick: () => {
            sessionStorage.setItem("redrain.clone", JSON.stringify(configOf(a)));
            location.hash = "#/new";
          },
        },
        t("console.clone"),
      ),
    );
    if (a.status === "draft" && !a.published_at) {
      out.push(
        el(
          "button",
          {
            type: "button",
            class: "small quiet",
            onclick: () => act(() => api("POST", `/v1/admin/activities/${a.id}/archive`), t("console.archived", { id: a.id })),
          },
          t("console.archive"),
        ),
      );
    }
    if (a.status === "archived") {
      out.push(
        el(
          "button",
          { type: "button", class: "small", onclick: () => act(() => api("POST", `/v1/admin/activities/${a.id}/restore`)) },
          t("console.restore"),
        ),
      );
    }
  }
  return out;
}

async function show() {
  const box = $("#view-activities");
  const query = filter ? `&status=${filter}` : "";
  const { activities } = await api("GET", `/v1/admin/activities?limit=200${query}`);
  const chips = el(
    "div",
    { class: "chips", role: "group", "aria-label": t("console.filter") },
    FILTERS.map((f) =>
      el(
        "button",
        {
          type: "button",
          class: "chip",
          "aria-pressed": String(f === filter),
          "data-status": f || "all",
          onclick: () => {
            filter = f;
            show().catch((e) => flash(failure(e), true));
          },
        },
        t(f ? `console.status_${f}` : "console.all"),
      ),
    ),
  );
  const rows = activities.map((a) =>
    el(
      "tr",
      { "data-id": a.id },
      el("td", {}, a.id),
      el("td", {}, el("strong", {}, inLanguage(a.name))),
      el("td", {}, t(`console.kind_${a.kind}`), el("br"), el("span", { class: "hint" }, t(`games.${(a.display && a.display.game) || { time: "rain", count: "pass", amount: "scratch" }[a.kind]}`))),
      el("td", {}, `${a.start_date} → ${a.end_date}`, el("br"), el("span", { class: "hint" }, a.timezone)),
      el("td", {}, badge(a.status), " ", el("span", { class: "hint" }, `v${a.version}`), unpublished(a) ? " " : "", unpublished(a, true) || ""),
      el("td", { class: "hint" }, when(a.updated_at, undefined, { dateStyle: "short", timeStyle: "short" })),
      el("td", { class: "actions" }, actions(a)),
    ),
  );
  box.replaceChildren(
    el(
      "div",
      { class: "head" },
      el("h1", {}, t("console.nav_activities")),
      can("editor") ? el("a", { class: "button primary", href: "#/new", id: "new" }, t("console.nav_new")) : "",
    ),
    chips,
    activities.length
      ? el(
          "div",
          { class: "scroll", tabindex: "0", role: "region", "aria-label": t("console.nav_activities") },
          el(
            "table",
            { id: "list" },
            el(
              "thead",
              {},
              el(
                "tr",
                {},
                ["#", t("console.name"), t("console.kind"), t("console.dates"), t("console.status"), t("console.updated"), ""].map((h) =>
                  el("th", { scope: "col" }, h),
                ),
              ),
            ),
            el("tbody", {}, rows),
          ),
        )
      : el("p", { class: "empty" }, t("console.no_activities")),
  );
}

views.activities = { show };
