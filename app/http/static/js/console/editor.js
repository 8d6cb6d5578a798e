// The activity editor: the five steps as forms, then a review of the calendar
// and the budget; save, publish, approve; JSON import and export for power
// users. The server validates (the same rules as saving) while the operator
// types, and each error is shown at its field.
import { $, $$, el, inLanguage, number, t } from "../common.js";
import { badge, unpublished, configOf } from "./activities.js";
import { differences, lockStarted } from "./changes.js";
import { confirmWith } from "./confirm.js";
import { stepOf } from "./fields.js";
import { budgetFigures, budgetPanel, calendar } from "./review.js";
import { api, can, failure, flash, views } from "./state.js";
import { activityStep, prizesStep, probabilityStep, releaseStep, sessionsStep } from "./steps.js";

const STEPS = [
  ["step_activity", activityStep],
  ["step_sessions", sessionsStep],
  ["step_prizes", prizesStep],
  ["step_probability", probabilityStep],
  ["step_release", releaseStep],
  ["step_review", null],
];

const ed = {
  id: null,
  rec: null,
  cfg: null,
  step: 1,
  session: 0,
  dirty: false,
  plan: null,
  seq: 0,
  timer: null,
  keep: false,
  touched: new Set(), // paths the operator changed: their errors show as they type
  showAll: false, // after Next or Save: every error shows
  budget: { players: 10000, taps: 1 },
  changed: (structural, path, dirty = true) => {
    if (dirty) ed.dirty = true;
    if (path) ed.touched.add(path);
    if (path === "display.game" || path === "display.skin" || path === "kind") renameDefault();
    if (structural) renderSteps();
    refreshActions();
    schedule();
  },
};

// A new activity's name follows the game picked while nobody has typed one.
const GAME_NAMES = ["new_name", "new_name_candy", "new_name_wheel", "new_name_grid", "new_name_scratch", "new_name_pass"];
function renameDefault() {
  const cfg = ed.cfg;
  if (ed.id !== null || typeof cfg.name !== "string" || !GAME_NAMES.some((k) => t(`console.${k}`) === cfg.name)) return;
  const game = cfg.display?.game || { time: "rain", count: "pass", amount: "scratch" }[cfg.kind];
  const key = game === "rain" ? (cfg.display?.skin === "candy" ? "new_name_candy" : "new_name") : `new_name_${game}`;
  cfg.name = t(`console.${key}`);
  for (const input of document.querySelectorAll('#editor-form [data-path^="name."]')) input.value = input.lang === (document.documentElement.lang.startsWith("zh") ? "zh-CN" : "en") ? cfg.name : "";
}

function template() {
  const today = new Date();
  const iso = (d) => d.toISOString().slice(0, 10);
  return {
    name: t("console.new_name"),
    kind: "time",
    timezone: "Asia/Shanghai",
    start_date: iso(today),
    end_date: iso(new Date(today.getTime() + 7 * 86400e3)),
    probability: "manual",
    limits: { per_round: 3, per_day: 0, total: 0, wins_total: 0 },
    release: { slices: 4, lead_seconds: 0 },
    display: { game: "rain", skin: "envelope" },
    sessions: [
      {
        start: "20:00:00",
        end: "20:01:00",
        pools: [
          {
            prizes: [
              { key: "c2", type: "coupon", name: t("console.sample_prize"), value: "CPN-2", quantity: 100, probability: 0.3, cost: 2 },
              { key: "thanks", type: "empty", name: t("console.sample_thanks") },
            ],
          },
        ],
      },
    ],
  };
}

// -- errors at their field ------------------------------------------------------------

function clearErrors() {
  for (const n of $$("#view-editor [aria-invalid]")) n.removeAttribute("aria-invalid");
  for (const n of $$("#view-editor .field-error")) n.textContent = "";
  for (const n of $$("#view-editor .steps button")) n.classList.remove("has-error");
  $("#errors").textContent = "";
}

// The server's message in plain words: "Required." rather than
// "sessions[0].pools[0].prizes[2].name: String should have at least 1 character".
function human(path, message) {
  let text = String(message || "");
  if (path && text.startsWith(path)) text = text.slice(path.length).replace(/^[:\s]+/, "");
  const pct = /\.probability$/.test(path);
  const rules = [
    [/^(String )?should have at least 1 characters?|^Field required/i, () => t("console.v_required")],
    [/should have at most (\d+) characters?/i, (m) => t("console.v_max_chars", { n: m[1] })],
    [/less than or equal to ([\d.]+)/i, (m) => (pct ? t("console.v_at_most_pct", { n: Number(m[1]) * 100 }) : t("console.v_at_most", { n: m[1] }))],
    [/greater than or equal to ([\d.]+)/i, (m) => t("console.v_at_least", { n: m[1] })],
    [/valid (integer|number)|unable to parse/i, () => t("console.v_number")],
  ];
  for (const [re, say] of rules) {
    const m = re.exec(text);
    if (m) return say(m);
  }
  return text.charAt(0).toUpperCase() + text.slice(1);
}

// An error the operator should see now: of a field they changed, or after Next or Save.
const due = (path) => ed.showAll || [...ed.touched].some((p) => p === path || path.startsWith(`${p}.`) || path.startsWith(`${p}[`) || p.startsWith(`${path}.`));

function showError(field, raw, jump) {
  const path = (field || "").replace(/^config\.?/, "");
  const message = human(path, raw);
  const step = stepOf(path);
  $(`#view-editor .steps button[data-step="${step}"]`)?.classList.add("has-error");
  if (jump) go(step);
  // The field itself, else the closest enclosing part of the form.
  let holder = null;
  for (const n of $$("#editor-form [data-path]")) {
    const p = n.dataset.path;
    if (p === path || (path.startsWith(p) && /^[.[]/.test(path.slice(p.length)))) {
      if (!holder || p.length > holder.dataset.path.length) holder = n;
    }
  }
  const input = holder && (holder.matches("input,select,textarea") ? holder : holder.querySelector(`[data-path="${CSS.escape(holder.dataset.path)}"]:is(input,select,textarea)`));
  const box = holder && (holder.matches(".field-error") ? holder : holder.querySelector(":scope > .field-error") || holder.parentElement.querySelector(":scope > .field-error"));
  if (input) input.setAttribute("aria-invalid", "true");
  if (box) box.textContent = message;
  else $("#errors").textContent = message;
  if (jump && input) input.focus();
}

// -- the plan (calendar, budget) ----------------------------------------------------------

function schedule() {
  clearTimeout(ed.timer);
  ed.timer = setTimeout(plan, 350);
}

async function plan() {
  const seq = ++ed.seq;
  const body = { config: ed.cfg, players: ed.budget.players, taps: ed.budget.taps };
  try {
    const got = await api("POST", "/v1/admin/activities/preview", body);
    if (seq !== ed.seq) return;
    ed.plan = got;
    clearErrors();
    $("#calendar-box").replaceChildren(calendar(got));
    $("#budget-figures").replaceChildren(budgetFigures(got));
  } catch (e) {
    if (seq !== ed.seq) return;
    clearErrors();
    if (e.status === 422 && due((e.field || "").replace(/^config\.?/, ""))) showError(e.field, e.message, false);
    else if (e.status !== 422) $("#errors").textContent = failure(e);
  }
}

// -- steps ------------------------------------------------------------------------------

function go(step) {
  ed.step = step;
  for (const b of $$("#view-editor .steps button")) {
    const on = Number(b.dataset.step) === step;
    b.setAttribute("aria-selected", String(on));
    b.tabIndex = on ? 0 : -1;
  }
  for (const s of $$("#editor-form > fieldset > section")) s.hidden = s.id !== `step-${step}`;
  $("#back").disabled = step === 1;
  $("#next").hidden = step === STEPS.length;
}

function renderSteps() {
  const form = $("#editor-form fieldset");
  const open = ed.step;
  form.replaceChildren(
    ...STEPS.map(([key, render], i) => {
      const sec = el("section", { id: `step-${i + 1}`, role: "tabpanel", "aria-labelledby": `tab-${i + 1}` }, el("h2", {}, t(`console.${key}`)));
      if (render) sec.append(...render(ed).flat().filter(Boolean));
      else {
        sec.append(el("div", { id: "calendar-box" }, ed.plan ? calendar(ed.plan) : el("p", { class: "hint" }, t("common.loading"))));
        sec.append(budgetPanel(ed.budget, plan));
        if (ed.plan) $("#budget-figures", sec).replaceChildren(budgetFigures(ed.plan));
      }
      return sec;
    }),
  );
  $("#editor-locked").hidden = !lockStarted(ed.rec, form);
  go(open);
}

// -- save, publish, approve ---------------------------------------------------------------

function refreshActions() {
  const status = ed.rec ? ed.rec.status : null;
  $("#save").disabled = !can("editor") || status === "archived";
  $("#publish").disabled = !ed.id || ed.dirty || !can("publisher") || status === "archived";
  $("#publish").title = ed.dirty ? t("console.save_first") : "";
  $("#approve").hidden = status !== "pending_approval" || !can("publisher");
  $("#dirty").hidden = !ed.dirty;
}

async function save() {
  clearErrors();
  ed.showAll = true;
  try {
    const rec = ed.id === null ? await api("POST", "/v1/admin/activities", ed.cfg) : await api("PUT", `/v1/admin/activities/${ed.id}`, ed.cfg);
    ed.dirty = false;
    const pending = rec.published_version && rec.published_version !== rec.version;
    const saved = pending
      ? t("console.saved_pending", { version: rec.version, live: rec.published_version })
      : t("console.saved", { id: rec.id, version: rec.version });
    if (ed.id !== rec.id) {
      flash(saved, false, true);
      ed.keep = true;
      ed.id = rec.id; // so the reload keeps the step the operator is on
      location.hash = `#/edit/${rec.id}`; // the router loads it back
    } else {
      flash(saved);
      ed.rec = rec;
      header();
      refreshActions();
    }
  } catch (e) {
    if (e.status === 422) showError(e.field, e.message, true);
    else flash(failure(e), true);
  }
}

// What a publisher confirms: the rounds, the budget, and what changes against the live version.
async function confirmPublish(path) {
  const lines = [];
  const p = ed.plan;
  if (p) lines.push(t("console.confirm_rounds", { n: number(p.rounds_total) }));
  if (p?.budget) lines.push(t("console.confirm_budget", { cost: number(p.budget.expected_cost, 2), players: number(ed.budget.players) }));
  const before = ed.rec?.live;
  if (before) {
    const changed = differences(before, ed.cfg);
    lines.push(changed.length ? t("console.confirm_changes", { v: ed.rec.published_version }) : t("console.confirm_no_changes"));
    lines.push(...changed);
    if (changed.length && ed.rec.started) lines.push(t("console.confirm_started", { v: ed.rec.published_version }));
  } else if (!ed.rec?.published_version) lines.push(t("console.confirm_first"));
  return confirmWith({ title: t(path === "approve" ? "console.confirm_approve" : "console.confirm_publish", { id: ed.id, version: ed.rec?.version }), lines, ok: t(path === "approve" ? "console.approve" : "console.publish") });
}

async function publish(path) {
  if (!(await confirmPublish(path))) return;
  try {
    // An approval names the exact version it approves (SPEC §8).
    const body = path === "approve" ? { version: ed.rec.pending_version, config_hash: ed.rec.config_hash } : undefined;
    const done = await api("POST", `/v1/admin/activities/${ed.id}/${path}`, body);
    if (done.status === "pending_approval") {
      flash(t("console.waits_approval", { id: ed.id }));
      ed.rec = await api("GET", `/v1/admin/activities/${ed.id}`);
      header();
      refreshActions();
      return;
    }
    const said = done.kept
      ? t("console.published_kept", { id: ed.id, loaded: done.loaded, kept: done.kept, version: done.version })
      : t("console.published", { id: ed.id, rounds: done.rounds });
    flash(said, false, true);
    location.hash = `#/live/${ed.id}`;
  } catch (e) {
    if (e.status === 422) showError(e.field, e.message, true);
    else flash(failure(e), true);
  }
}

// -- JSON import / export -----------------------------------------------------------------

function jsonDialog() {
  const text = el("textarea", { id: "json-text", rows: "18", spellcheck: "false", "aria-label": t("console.json") });
  const error = el("p", { class: "error", role: "alert" });
  const dialog = el(
    "dialog",
    { id: "json-dialog", "aria-labelledby": "json-title" },
    el("h2", { id: "json-title" }, t("console.json")),
    el("p", { class: "hint" }, t("console.json_hint")),
    text,
    error,
    el(
      "div",
      { class: "row" },
      el(
        "button",
        {
          type: "button",
          class: "primary",
          id: "json-import",
          onclick: () => {
            try {
              const parsed = JSON.parse(text.value);
              if (!parsed || typeof parsed !== "object" || !Array.isArray(parsed.sessions)) throw new Error(t("console.json_shape"));
              ed.cfg = configOf(parsed);
              ed.session = 0;
              dialog.close();
              ed.changed(true);
            } catch (e) {
              error.textContent = e.message;
            }
          },
        },
        t("console.json_import"),
      ),
      el(
        "button",
        {
          type: "button",
          onclick: () => {
            const url = URL.createObjectURL(new Blob([text.value], { type: "application/json" }));
            const a = el("a", { href: url, download: `activity-${ed.id ?? "new"}.json` });
            document.body.append(a);
            a.click();
            a.remove();
            URL.revokeObjectURL(url);
          },
        },
        t("console.json_download"),
      ),
      el("button", { type: "button", class: "quiet", onclick: () => dialog.close() }, t("common.close")),
    ),
  );
  return dialog;
}

// -- the view ----------------------------------------------------------------------------

function header() {
  const title = ed.id === null ? t("console.new_activity") : t("console.activity_n", { id: ed.id, name: inLanguage(ed.cfg.name) });
  const parts = [
    el("h1", { id: "editor-title" }, title),
    ed.rec && badge(ed.rec.status),
    ed.rec && el("span", { class: "hint" }, `v${ed.rec.version}`),
    ed.rec && unpublished(ed.rec),
    el("span", { id: "dirty", class: "badge dirty", hidden: !ed.dirty }, t("console.unsaved")),
  ];
  $("#editor-head").replaceChildren(...parts.filter(Boolean));
}

async function show(name, arg) {
  const keep = ed.keep && name === "edit" && Number(arg) === ed.id;
  ed.keep = false;
  const step = keep ? ed.step : 1;
  if (name === "edit") {
    const rec = await api("GET", `/v1/admin/activities/${Number(arg)}`);
    Object.assign(ed, { id: rec.id, rec, cfg: configOf(rec) });
  } else {
    const cloned = sessionStorage.getItem("redrain.clone");
    sessionStorage.removeItem("redrain.clone");
    const cfg = cloned ? JSON.parse(cloned) : template();
    const copyOf = (name) => t("console.copy_of", { name }).slice(0, 200);
    if (cloned) cfg.name = typeof cfg.name === "object" ? Object.fromEntries(Object.entries(cfg.name).map(([k, v]) => [k, copyOf(v)])) : copyOf(cfg.name);
    Object.assign(ed, { id: null, rec: null, cfg });
  }
  Object.assign(ed, { step, session: keep ? ed.session : 0, dirty: name === "new", plan: keep ? ed.plan : null });
  if (!keep) Object.assign(ed, { touched: new Set(), showAll: false });
  const tabs = el(
    "div",
    { class: "steps", role: "tablist", "aria-label": t("console.steps") },
    STEPS.map(([key], i) =>
      el(
        "button",
        { type: "button", role: "tab", id: `tab-${i + 1}`, "data-step": i + 1, "aria-controls": `step-${i + 1}`, onclick: () => go(i + 1) },
        el("span", { class: "n" }, i + 1),
        t(`console.${key}`),
      ),
    ),
  );
  tabs.addEventListener("keydown", (ev) => {
    const d = { ArrowRight: 1, ArrowLeft: -1 }[ev.key];
    if (!d) return;
    go(Math.min(STEPS.length, Math.max(1, ed.step + d)));
    $(`#tab-${ed.step}`).focus();
  });
  $("#view-editor").replaceChildren(
    el(
      "div",
      { class: "head" },
      el("div", { id: "editor-head", class: "row" }),
      el(
        "div",
        { class: "row actions" },
        el("button", { type: "button", id: "json", onclick: () => { $("#json-text").value = JSON.stringify(ed.cfg, null, 2); $("#json-dialog").showModal(); } }, t("console.json")),
        el("button", { type: "button", id: "save", class: "dark", onclick: save }, t("console.save")),
        el("button", { type: "button", id: "publish", class: "primary", onclick: () => publish("publish") }, t("console.publish")),
        el("button", { type: "button", id: "approve", class: "primary", hidden: true, onclick: () => publish("approve") }, t("console.approve")),
      ),
    ),
    el("p", { id: "editor-locked", class: "locked-banner", hidden: true }, t("console.locked_started")),
    tabs,
    el("p", { id: "errors", class: "error", role: "alert" }),
    el("form", { id: "editor-form", novalidate: true, onsubmit: (ev) => ev.preventDefault() }, el("fieldset", { disabled: !can("editor") })),
    el(
      "div",
      { class: "row step-nav" },
      el("button", { type: "button", id: "back", onclick: () => go(ed.step - 1) }, t("console.back")),
      el("button", { type: "button", id: "next", class: "dark", onclick: () => ((ed.showAll = true), go(ed.step + 1), plan()) }, t("console.next")),
    ),
    jsonDialog(),
  );
  header();
  renderSteps();
  refreshActions();
  plan();
}

window.addEventListener("beforeunload", (ev) => {
  if (ed.dirty && !$("#view-editor").hidden) ev.preventDefault();
});

views.editor = { show };
