// The player's red-envelope rain: envelopes fall while a round is open, each
// tap is a real POST /v1/draw. Plain JS, no build step.
"use strict";

const $ = (sel) => document.querySelector(sel);
const activityId = Number(location.pathname.split("/").filter(Boolean).pop());
const state = {
  token: localStorage.getItem(`redrain.player`) || "",
  user: localStorage.getItem(`redrain.user`) || "",
  info: null,
  skew: 0, // server clock minus ours, ms
  seq: 0,
  busy: false,
};

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

function toast(text) {
  const t = $("#toast");
  t.textContent = text;
  t.classList.add("show");
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => t.classList.remove("show"), 1800);
}

async function call(method, path, body) {
  const headers = {};
  if (state.token) headers.Authorization = `Bearer ${state.token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const resp = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const data = await resp.json().catch(() => ({}));
  return { status: resp.status, data };
}

// -- log in -----------------------------------------------------------------

$("#login").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const given = $("#user").value.trim();
  if (given.startsWith("rd1.")) {
    state.token = given;
    state.user = given.split(".")[1];
  } else {
    const { status, data } = await call("POST", "/v1/auth/dev", { user_id: given });
    if (status === 404) {
      $("#token-hint").hidden = false;
      $("#user").removeAttribute("pattern");
      return;
    }
    if (status !== 200) return toast(data.error ? data.error.message : `HTTP ${status}`);
    state.token = data.token;
    state.user = data.user_id;
  }
  localStorage.setItem("redrain.player", state.token);
  localStorage.setItem("redrain.user", state.user);
  start();
});

// -- the activity ---------------------------------------------------------------

function percent(p) {
  return `${(p * 100).toFixed(p < 0.01 ? 2 : 1)}%`;
}

function showRules(info) {
  const round = info.current_round || info.next_round;
  $("#round-id").textContent = round ? round.round_id : "–";
  $("#seed-hash").textContent = round ? round.seed_hash : "–";
  const index = round ? Number(round.round_id.split(":").pop()) : 0;
  const session = info.sessions[Math.min(index, info.sessions.length - 1)] || info.sessions[0];
  const rows = [];
  for (const pool of session.pools) {
    const prizes = pool.prizes.filter((p) => p.type !== "empty");
    const weights = prizes.reduce((n, p) => n + (p.weight || 0) * (p.quantity || 0), 0);
    for (const p of prizes) {
      let chance;
      if (info.probability === "manual") chance = percent(p.probability || 0);
      else chance = weights ? `~${percent(((p.weight || 0) * (p.quantity || 0)) / weights)} of wins` : "–";
      rows.push(el("tr", {}, el("td", {}, p.name || p.key), el("td", {}, chance), el("td", {}, p.quantity ?? "∞")));
    }
  }
  $("#odds tbody").replaceChildren(...rows);
}

function showChances(remaining) {
  if (!remaining) return;
  const parts = [];
  if (remaining.round !== null && remaining.round !== undefined) parts.push(`${remaining.round} taps left this rain`);
  if (remaining.day !== null && remaining.day !== undefined) parts.push(`${remaining.day} today`);
  if (remaining.total !== null && remaining.total !== undefined) parts.push(`${remaining.total} in all`);
  const perRain = state.info && state.info.limits ? state.info.limits.per_round : 0;
  if (!parts.length && perRain && state.info.status !== "open") parts.push(`${perRain} taps per rain`);
  $("#chances").textContent = parts.join(" · ") || "unlimited taps";
  $("#chances").dataset.round = remaining.round ?? "";
}

async function refresh() {
  const { status, data } = await call("GET", `/v1/activities/${activityId}`);
  if (status === 401) {
    localStorage.removeItem("redrain.player");
    location.reload();
    return;
  }
  if (status !== 200) {
    $("#status").textContent = data.error ? data.error.message : `HTTP ${status}`;
    return;
  }
  state.info = data;
  state.skew = Date.parse(data.server_time) - Date.now();
  $("#title").textContent = data.name;
  $("#status").textContent = { open: "It's raining!", closed: "Between rains", not_started: "Starts soon", ended: "The campaign has ended" }[data.status] || data.status;
  document.body.dataset.status = data.status;
  $("#countdown").hidden = data.status === "open" || !data.next_round;
  showRules(data);
  showChances(data.remaining);
}

function tick() {
  const info = state.info;
  if (info && info.status !== "open" && info.next_round) {
    const left = Math.max(0, Date.parse(info.next_round.start) - (Date.now() + state.skew));
    const s = Math.ceil(left / 1000);
    const hh = Math.floor(s / 3600);
    const mm = String(Math.floor((s % 3600) / 60)).padStart(2, "0");
    const ss = String(s % 60).padStart(2, "0");
    $("#clock").textContent = hh ? `${hh}:${mm}:${ss}` : `${mm}:${ss}`;
    if (left === 0) refresh();
  }
  if (info && info.status === "open" && info.current_round) {
    if (Date.parse(info.current_round.end) <= Date.now() + state.skew) refresh();
  }
}

// -- the rain ---------------------------------------------------------------------

const sky = $("#sky");

function spawn() {
  if (!state.info || state.info.status !== "open" || document.hidden) return;
  if (sky.childElementCount > 14) return;
  const env = el("button", { class: "envelope", "aria-label": "red envelope", "data-n": ++state.seq }, "¥");
  const fall = 4500 + Math.random() * 3000;
  env.style.left = `${5 + Math.random() * 85}%`;
  env.style.animationDuration = `${fall}ms`;
  env.addEventListener("click", () => tap(env));
  env.addEventListener("animationend", () => env.remove());
  sky.append(env);
}

async function tap(env) {
  if (env.classList.contains("opened")) return;
  env.classList.add("opened");
  const { status, data } = await call("POST", "/v1/draw", {
    activity_id: activityId,
    client_seed: `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`,
  });
  if (status === 200) {
    showChances(data.remaining);
    const won = data.won && data.prize;
    env.textContent = won ? "🧧" : "·";
    env.classList.add(won ? "win" : "loss");
    const text = won ? `You won ${data.prize.name}!` : "Not this time";
    toast(text);
    $("#results").prepend(
      el(
        "li",
        { class: won ? "win" : "loss", "data-draw": data.draw_id, title: `nonce ${data.proof.nonce}, random ${data.proof.random}` },
        text,
      ),
    );
  } else {
    const code = data.error ? data.error.code : `http_${status}`;
    env.classList.add("refused");
    const why = {
      round_limit: "No taps left in this rain",
      day_limit: "No taps left today",
      total_limit: "No taps left",
      win_limit: "You have won all you can",
      rate_limited: "Slow down a little",
      blacklisted: "You are blacklisted from this rain",
      round_closed: "The rain has stopped",
      activity_ended: "The campaign has ended",
    }[code];
    toast(why || (data.error ? data.error.message : `HTTP ${status}`));
    if (code === "round_closed" || code === "activity_ended" || code === "round_limit") refresh();
  }
  setTimeout(() => env.remove(), 1200);
}

function start() {
  $("#login").hidden = true;
  $("#game").hidden = false;
  $("#player").textContent = `Playing as ${state.user}`;
  refresh();
  setInterval(tick, 250);
  setInterval(spawn, 450);
  setInterval(refresh, 15000);
}

if (state.token) start();
else refresh();
