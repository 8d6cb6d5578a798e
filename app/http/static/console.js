// redrain operator console: plain JS over the admin API, no build step.
// The admin token stays in sessionStorage (this tab only) and is sent as a
// bearer header, never in a URL.
"use strict";

const $ = (sel) => document.querySelector(sel);
const state = { token: sessionStorage.getItem("redrain.admin") || "", editing: null, live: null };

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
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
  const headers = { Authorization: `Bearer ${state.token}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const resp = await fetch(path, { method, headers, body: body === undefined ? undefined : body });
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

// -- log in ---------------------------------------------------------------

async function login(token) {
  state.token = token;
  try {
    await api("GET", "/v1/admin/activities?limit=1");
  } catch (e) {
    state.token = "";
    sessionStorage.removeItem("redrain.admin");
    flash(e.status === 401 || e.status === 403 ? "That token is not the admin token." : e.message, true);
    return;
  }
  sessionStorage.setItem("redrain.admin", token);
  $("#login").hidden = true;
  $("#who").hidden = false;
  $("#app").hidden = false;
  flash("");
  await loadActivities();
}

$("#login").addEventListener("submit", (ev) => {
  ev.preventDefault();
  login($("#token").value.trim());
});
$("#logout").addEventListener("click", (ev) => {
  ev.preventDefault();
  sessionStorage.removeItem("redrain.admin");
  location.reload();
});

for (const b of document.querySelectorAll("nav button")) {
  b.addEventListener("click", () => {
    for (const o of document.querySelectorAll("nav button")) o.classList.toggle("on", o === b);
    $("#activities").hidden = b.dataset.tab !== "activities";
    $("#blacklist").hidden = b.dataset.tab !== "blacklist";
    if (b.dataset.tab === "blacklist") loadBlacklist();
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
  $("#publish").disabled = state.editing === null;
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

$("#publish").addEventListener("click", async () => {
  const id = state.editing;
  try {
    const r = await api("POST", `/v1/admin/activities/${id}/publish`);
    flash(`Published activity ${id}: ${r.rounds} rounds.`);
    await loadActivities();
    const a = await api("GET", `/v1/admin/activities/${id}`);
    watch(id, a.name);
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
      el("div", { class: "released", style: `width:${pct(p.released)}` }),
      el("div", { class: "won", style: `width:${pct(p.won)}` }),
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
    headers: { Authorization: `Bearer ${state.token}` },
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

if (state.token) login(state.token);
