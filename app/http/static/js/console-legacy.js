// redrain operator console: plain JS over the operator API, no build step.
// Sign-in sets an HttpOnly session cookie (this script never sees it); every
// write carries the session's CSRF token in the X-CSRF-Token header.
"use strict";

const $ = (sel) => document.querySelector(sel);
const state = { csrf: null, operator: null, editing: null, live: null, auditCursor: null };
const RANK = { viewer: 1, editor: 2, publisher: 3, admin: 4 };

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k === "width") node.style.width = v; // CSSOM: allowed by the page's CSP
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

function flash(text, bad = false) {
  const f = $("#flash");
  f.textContent = text;
  f.className = bad ? "error" : "ok";
}

async function api(method, path, body) {
  const headers = {};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && state.csrf) headers["X-CSRF-Token"] = state.csrf;
  const resp = await fetch(path, {
    method,
    headers,
    credentials: "same-origin",
    body: body === undefined ? undefined : body,
  });
  const type = resp.headers.get("content-type") || "";
  const data = type.includes("json") ? await resp.json() : await resp.text();
  if (!resp.ok) {
    const err = new Error((data.error && data.error.message) || `HTTP ${resp.status}`);
    err.status = resp.status;
    err.field = data.error && data.error.field;
    throw err;
  }
  return data;
}

// -- sign in ----------------------------------------------------------------

function signedIn(who) {
  state.csrf = who.csrf_token;
  state.operator = who.operator;
  $("#login").hidden = true;
  $("#who").hidden = false;
  $("#whoami").textContent = `${who.operator.username} (${who.operator.role})`;
  $("#app").hidden = false;
  for (const b of document.querySelectorAll("nav button[data-needs]")) {
    b.hidden = RANK[who.operator.role] < RANK[b.dataset.needs];
  }
  flash("");
  return loadActivities();
}

$("#login").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  try {
    const who = await api(
      "POST",
      "/v1/admin/login",
      JSON.stringify({ username: $("#username").value.trim(), password: $("#password").value }),
    );
    $("#password").value = "";
    await signedIn(who);
  } catch (e) {
    flash(e.status === 401 ? "Wrong username or password." : e.message, true);
  }
});

$("#logout").addEventListener("click", async (ev) => {
  ev.preventDefault();
  try {
    await api("POST", "/v1/admin/logout");
  } finally {
    location.reload();
  }
});

function can(role) {
  return state.operator && RANK[state.operator.role] >= RANK[role];
}

for (const b of document.querySelectorAll("nav button")) {
  b.addEventListener("click", () => {
    for (const o of document.querySelectorAll("nav button")) o.classList.toggle("on", o === b);
    for (const tab of ["activities", "blacklist", "audit", "operators"]) {
      $(`#${tab}`).hidden = b.dataset.tab !== tab;
    }
    if (b.dataset.tab === "blacklist") loadBlacklist();
    if (b.dataset.tab === "audit") loadAudit(true);
    if (b.dataset.tab === "operators") loadOperators();
  });
}

// -- activities -----------------------------------------------------------

async function loadActivities() {
  const { activities } = await api("GET", "/v1/admin/activities?limit=100");
  const body = $("#list tbody");
  body.replaceChildren(
    ...activities.map((a) =>
      el(
        "tr",
        { "data-id": a.id },
        el("td", {}, a.id),
        el("td", {}, a.name),
        el("td", {}, a.kind),
        el("td", { class: `status ${a.status}` }, a.status),
        el("td", {}, a.version),
        el(
          "td",
          {},
          el("button", { class: "edit", onclick: () => edit(a.id) }, "Edit"),
          el("button", { class: "view", onclick: () => watch(a.id, a.name) }, "Live"),
        ),
      ),
    ),
  );
}
$("#reload").addEventListener("click", loadActivities);

function template() {
  const today = new Date().toISOString().slice(0, 10);
  const later = new Date(Date.now() + 7 * 86400e3).toISOString().slice(0, 10);
  return {
    name: "New red envelope rain",
    kind: "time",
    timezone: "Asia/Shanghai",
    start_date: today,
    end_date: later,
    probability: "manual",
    limits: { per_round: 3, per_day: 0, total: 0, wins_total: 0 },
    release: { slices: 4, lead_seconds: 0 },
    sessions: [
      {
        start: "20:00:00",
        end: "20:01:00",
        pools: [
          {
            prizes: [
              { key: "c2", type: "coupon", name: "2 yuan coupon", value: "CPN-2", quantity: 100, probability: 0.3 },
              { key: "thanks", type: "empty", name: "Thanks for playing" },
            ],
          },
        ],
      },
    ],
  };
}

function showEditor(title, config) {
  $("#live").hidden = true;
  $("#editor").hidden = false;
  $("#editor-title").textContent = title;
  $("#config").value = JSON.stringify(config, null, 2);
  $("#errors").textContent = "";
  $("#publish").disabled = state.editing === null || !can("publisher");
  $("#approve").hidden = config.status !== "pending_approval" || !can("publisher");
}

$("#new").addEventListener("click", () => {
  state.editing = null;
  showEditor("New activity", template());
});
$("#close-editor").addEventListener("click", () => ($("#editor").hidden = true));

async function edit(id) {
  const a = await api("GET", `/v1/admin/activities/${id}`);
  state.editing = id;
  showEditor(`Activity ${id} · ${a.status} · version ${a.version}`, a);
}

$("#save").addEventListener("click", async () => {
  const text = $("#config").value;
  $("#errors").textContent = "";
  try {
    JSON.parse(text);
  } catch (e) {
    $("#errors").textContent = `Not valid JSON: ${e.message}`;
    return;
  }
  try {
    const saved =
      state.editing === null
        ? await api("POST", "/v1/admin/activities", text)
        : await api("PUT", `/v1/admin/activities/${state.editing}`, text);
    state.editing = saved.id;
    showEditor(`Activity ${saved.id} · ${saved.status} · version ${saved.version}`, saved);
    flash(`Saved activity ${saved.id} (version ${saved.version}).`);
    await loadActivities();
  } catch (e) {
    $("#errors").textContent = e.field ? `${e.message}` : e.message;
  }
});

async function published(id, r) {
  if (r.status === "pending_approval") {
    flash(`Activity ${id} waits for another publisher's approval.`);
    await loadActivities();
    return;
  }
  flash(`Published activity ${id}: ${r.rounds} rounds.`);
  await loadActivities();
  const a = await api("GET", `/v1/admin/activities/${id}`);
  watch(id, a.name);
}

$("#publish").addEventListener("click", async () => {
  const id = state.editing;
  try {
    await published(id, await api("POST", `/v1/admin/activities/${id}/publish`));
  } catch (e) {
    flash(e.message, true);
  }
});

$("#approve").addEventListener("click", async () => {
  const id = state.editing;
  try {
    await published(id, await api("POST", `/v1/admin/activities/${id}/approve`));
  } catch (e) {
    flash(e.message, true);
  }
});

// -- live view ------------------------------------------------------------

function bar(p) {
  const q = p.quantity === null ? Math.max(p.released, 1) : Math.max(p.quantity, 1);
  const pct = (v) => `${Math.min(100, (100 * v) / q).toFixed(1)}%`;
  return el(
    "div",
    { class: "stock", "data-prize": p.key },
    el("span", { class: "label" }, p.key),
    el(
      "div",
      { class: "track", title: `won ${p.won} of ${p.released} released, ${p.quantity ?? "∞"} in all` },
      el("div", { class: "released", width: pct(p.released) }),
      el("div", { class: "won", width: pct(p.won) }),
    ),
    el("span", { class: "numbers" }, `${p.won} won / ${p.released} released / ${p.quantity ?? "∞"}`),
  );
}

async function refreshLive() {
  const live = state.live;
  if (!live) return;
  let stats;
  try {
    stats = await api("GET", `/v1/admin/activities/${live.id}/stats`);
  } catch (e) {
    $("#rounds").replaceChildren(el("p", { class: "error" }, e.message));
    return;
  }
  const draws = stats.rounds.reduce((n, r) => n + r.draws, 0);
  const now = performance.now();
  if (live.last) {
    const rate = ((draws - live.last.draws) * 1000) / (now - live.last.at);
    $("#rate").textContent = `${Math.max(0, rate).toFixed(1)} draws/s`;
  }
  live.last = { draws, at: now };
  const shown = stats.rounds.filter((r) => r.status !== "ended").concat(stats.rounds.filter((r) => r.status === "ended").slice(-2));
  $("#rounds").replaceChildren(
    ...shown.map((r) =>
      el(
        "div",
        { class: `round ${r.status}`, "data-round": r.round_id },
        el("h3", {}, `${r.round_id} · ${r.status} · ${r.start} → ${r.end}`),
        el("p", {}, `${r.draws} draws by ${r.users} users`),
        ...r.prizes.map(bar),
      ),
    ),
  );
}

function watch(id, name) {
  if (state.live) clearInterval(state.live.timer);
  state.live = { id, last: null, timer: setInterval(refreshLive, 1000) };
  $("#editor").hidden = true;
  $("#live").hidden = false;
  $("#live-title").textContent = `Live · ${id} · ${name}`;
  $("#rain-link").href = `/rain/${id}`;
  $("#rate").textContent = "… draws/s";
  refreshLive();
}
$("#close-live").addEventListener("click", () => {
  if (state.live) clearInterval(state.live.timer);
  state.live = null;
  $("#live").hidden = true;
});

$("#export").addEventListener("click", async () => {
  const id = state.live.id;
  const resp = await fetch(`/v1/admin/activities/${id}/winners?format=csv`, {
    credentials: "same-origin",
  });
  if (!resp.ok) return flash(`Export failed: HTTP ${resp.status}`, true);
  const url = URL.createObjectURL(await resp.blob());
  const a = el("a", { href: url, download: `winners-${id}.csv` });
  document.body.append(a);
  a.click();
  a.remove();
  URL.revokeObjectURL(url);
});

// -- blacklist ------------------------------------------------------------

async function loadBlacklist() {
  const { entries } = await api("GET", "/v1/admin/blacklist");
  $("#bl-list tbody").replaceChildren(
    ...entries.map((e) =>
      el(
        "tr",
        {},
        el("td", {}, e.kind),
        el("td", {}, e.value),
        el("td", {}, e.reason),
        el("td", {}, e.created_at || ""),
        el(
          "td",
          {},
          el(
            "button",
            {
              onclick: async () => {
                await api("DELETE", `/v1/admin/blacklist/${e.kind}/${encodeURIComponent(e.value)}`);
                loadBlacklist();
              },
            },
            "Remove",
          ),
        ),
      ),
    ),
  );
}

$("#bl-add").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  try {
    await api(
      "POST",
      "/v1/admin/blacklist",
      JSON.stringify({ kind: $("#bl-kind").value, value: $("#bl-value").value.trim(), reason: $("#bl-reason").value }),
    );
    $("#bl-value").value = "";
    $("#bl-reason").value = "";
    flash("Added to the blacklist.");
    loadBlacklist();
  } catch (e) {
    flash(e.message, true);
  }
});

// -- audit trail --------------------------------------------------------------

function change(e) {
  const show = (v) => (v === null ? "—" : JSON.stringify(v));
  const text = e.before === null && e.after === null ? "" : `${show(e.before)} → ${show(e.after)}`;
  return el("td", { class: "change", title: text }, text.length > 120 ? `${text.slice(0, 117)}…` : text);
}

async function loadAudit(fresh) {
  if (fresh) state.auditCursor = null;
  const q = new URLSearchParams({ limit: "50" });
  for (const [name, input] of [["actor", "#audit-actor"], ["action", "#audit-action"], ["activity_id", "#audit-activity"]]) {
    const v = $(input).value.trim();
    if (v) q.set(name, v);
  }
  if (state.auditCursor) q.set("cursor", state.auditCursor);
  try {
    const page = await api("GET", `/v1/admin/audit?${q}`);
    const rows = page.entries.map((e) =>
      el(
        "tr",
        { class: e.action.startsWith("login.failed") || e.action === "login.throttled" ? "warn" : "" },
        el("td", {}, e.id),
        el("td", {}, (e.at || "").replace("T", " ").replace("Z", "")),
        el("td", {}, e.actor),
        el("td", {}, e.action),
        el("td", {}, e.target),
        change(e),
        el("td", {}, e.ip),
      ),
    );
    if (fresh) $("#audit-list tbody").replaceChildren(...rows);
    else $("#audit-list tbody").append(...rows);
    state.auditCursor = page.next_cursor;
    $("#audit-more").hidden = !page.next_cursor;
  } catch (e) {
    flash(e.message, true);
  }
}

$("#audit-filter").addEventListener("submit", (ev) => {
  ev.preventDefault();
  loadAudit(true);
});
$("#audit-more").addEventListener("click", () => loadAudit(false));

// -- operators and tokens (admin) ------------------------------------------------

async function loadOperators() {
  const [{ operators }, { tokens }] = await Promise.all([
    api("GET", "/v1/admin/operators"),
    api("GET", "/v1/admin/tokens"),
  ]);
  $("#op-list tbody").replaceChildren(
    ...operators.map((o) =>
      el(
        "tr",
        {},
        el("td", {}, o.username),
        el("td", {}, o.role),
        el("td", { class: o.disabled ? "status disabled" : "status" }, o.disabled ? "disabled" : "active"),
        el("td", {}, (o.created_at || "").slice(0, 10)),
        el(
          "td",
          {},
          el(
            "button",
            {
              onclick: async () => {
                try {
                  await api("POST", `/v1/admin/operators/${encodeURIComponent(o.username)}/${o.disabled ? "enable" : "disable"}`);
                  loadOperators();
                } catch (e) {
                  flash(e.message, true);
                }
              },
            },
            o.disabled ? "Enable" : "Disable",
          ),
        ),
      ),
    ),
  );
  $("#tok-list tbody").replaceChildren(
    ...tokens.map((t) =>
      el(
        "tr",
        {},
        el("td", {}, t.name),
        el("td", {}, t.scope),
        el("td", {}, t.created_by),
        el("td", {}, (t.created_at || "").slice(0, 10)),
        el("td", {}, t.revoked_at ? t.revoked_at.slice(0, 10) : ""),
        el(
          "td",
          {},
          t.revoked_at
            ? ""
            : el(
                "button",
                {
                  onclick: async () => {
                    await api("DELETE", `/v1/admin/tokens/${encodeURIComponent(t.name)}`);
                    loadOperators();
                  },
                },
                "Revoke",
              ),
        ),
      ),
    ),
  );
}

$("#op-add").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  try {
    const o = await api(
      "POST",
      "/v1/admin/operators",
      JSON.stringify({ username: $("#op-name").value.trim(), password: $("#op-password").value, role: $("#op-role").value }),
    );
    $("#op-name").value = "";
    $("#op-password").value = "";
    flash(`Operator ${o.username} (${o.role}) added.`);
    loadOperators();
  } catch (e) {
    flash(e.message, true);
  }
});

$("#tok-add").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  try {
    const t = await api("POST", "/v1/admin/tokens", JSON.stringify({ name: $("#tok-name").value.trim(), scope: $("#tok-scope").value }));
    $("#tok-name").value = "";
    const box = $("#tok-secret");
    box.hidden = false;
    box.replaceChildren("Copy it now, it is shown only this once: ", el("code", {}, t.token));
    loadOperators();
  } catch (e) {
    flash(e.message, true);
  }
});

// A session cookie from an earlier visit: carry on where the operator was.
api("GET", "/v1/admin/session")
  .then(signedIn)
  .catch(() => {});
