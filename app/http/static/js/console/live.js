// The live view of a running round: stock bars, and charts (uPlot, vendored)
// of draws per second, wins by prize, released against won per prize, and
// refusals by code, from GET …/stats?round= and GET …/outcomes every 2 s.
import { $, el, inLanguage, lang, number, t, when } from "../common.js";
import { badge } from "./activities.js";
import { confirmWith } from "./confirm.js";
import { api, can, downloadCsv, failure, flash, views } from "./state.js";
import { afterPublish } from "./support.js";

const EVERY = 2000;
const KEEP = 300; // points: ten minutes at one every 2 s
const COLORS = ["#c8102e", "#1d4ed8", "#0f766e", "#d97706", "#7c3aed", "#db2777", "#4b5563", "#65a30d"];
let live = null;

function pickRound(rounds) {
  return rounds.find((r) => r.status === "open") || [...rounds].reverse().find((r) => r.status === "ended") || rounds[0];
}

function stockBar(p) {
  const q = p.quantity === null ? Math.max(p.released, 1) : Math.max(p.quantity, 1);
  const pct = (v) => `${Math.min(100, (100 * v) / q).toFixed(1)}%`;
  return el(
    "div",
    { class: "stock", "data-prize": p.key },
    el("span", { class: "label mono" }, p.key),
    el(
      "div",
      { class: "track", role: "img", "aria-label": t("console.stock_label", { won: p.won, released: p.released, quantity: p.quantity ?? "∞" }) },
      el("div", { class: "released", style: { width: pct(p.released) } }),
      el("div", { class: "won", style: { width: pct(p.won) } }),
    ),
    el("span", { class: "numbers" }, t("console.stock_numbers", { won: number(p.won), released: number(p.released), quantity: p.quantity === null ? "∞" : number(p.quantity) })),
  );
}

// Chart times in the campaign's zone (named under the charts), like its rounds.
let chartZone;
const clock = (sec) => new Intl.DateTimeFormat(lang, { timeZone: chartZone, hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" }).format(new Date(sec * 1000));

// One chart: a uPlot over the kept points, rebuilt when its series change.
class Chart {
  constructor(box, title) {
    this.box = box;
    this.title = title;
    this.names = null;
    this.plot = null;
  }

  update(xs, series, dashed = () => false) {
    const names = series.map((s) => s.name).join("\n");
    const data = [xs, ...series.map((s) => s.values)];
    const label = `${this.title}: ${series.map((s) => `${s.name} ${number(s.values[s.values.length - 1] ?? 0, 1)}`).join(", ")}`;
    this.box.setAttribute("aria-label", label);
    if (this.plot && names === this.names) {
      this.plot.setData(data);
      return;
    }
    if (this.plot) this.plot.destroy();
    this.box.replaceChildren();
    this.names = names;
    const width = Math.max(280, this.box.clientWidth - 8);
    this.plot = new window.uPlot(
      {
        width,
        height: 200,
        series: [{}, ...series.map((s, i) => ({ label: s.name, stroke: COLORS[i % COLORS.length], width: 2, dash: dashed(s) ? [6, 4] : undefined, points: { show: false } }))],
        axes: [
          { stroke: "#5b636b", grid: { stroke: "#eef0f2" }, values: (_, ticks) => ticks.map(clock) },
          { stroke: "#5b636b", grid: { stroke: "#eef0f2" }, size: 56 },
        ],
        scales: { x: { time: true, range: (_, min, max) => [Math.min(min, max - 60), max] } },
        legend: { live: false },
      },
      data,
      this.box,
    );
  }

  resize() {
    if (this.plot) this.plot.setSize({ width: Math.max(280, this.box.clientWidth - 8), height: 200 });
  }
}

function figure(id, title) {
  const box = el("div", { class: "plot", role: "img", "aria-label": title }, el("p", { class: "hint collecting" }, t("console.collecting")));
  return [el("figure", { class: "chart card", id }, el("figcaption", {}, title), box), box];
}

// The charts start from the round's last ten minutes of saved draws
// (GET …/history), not empty; released stock has no history (a gap).
async function seed(s) {
  let h;
  try {
    h = await api("GET", `/v1/admin/activities/${s.id}/history?round=${encodeURIComponent(s.round)}&minutes=10`);
  } catch {
    return; // the live samples still come
  }
  if (s !== live || s.xs.length || !h.samples.length) return;
  const keys = [...new Set(h.samples.flatMap((x) => Object.keys(x.wins)))];
  const cum = {};
  for (const x of h.samples) {
    s.xs.push(Date.parse(x.at) / 1000);
    s.rate.push(x.draws / h.step_seconds);
    for (const k of keys) {
      cum[k] = (cum[k] || 0) + (x.wins[k] || 0);
      (s.won[k] ||= []).push(cum[k]);
      (s.released[k] ||= []).push(null);
    }
  }
  s.seeded = { n: s.xs.length, cum };
}

async function tick() {
  const s = live;
  if (!s) return;
  let stats, outcomes;
  try {
    [stats, outcomes] = await Promise.all([
      api("GET", `/v1/admin/activities/${s.id}/stats${s.round ? `?round=${encodeURIComponent(s.round)}` : ""}`),
      api("GET", `/v1/admin/activities/${s.id}/outcomes`),
    ]);
  } catch (e) {
    $("#live-error").textContent = failure(e);
    return;
  }
  if (s !== live) return;
  $("#live-error").textContent = "";
  if (!s.round) {
    const r = pickRound(stats.rounds);
    if (!r) {
      $("#live-rounds").replaceChildren(el("p", { class: "empty" }, t("console.no_rounds")));
      return;
    }
    s.round = r.round_id;
    s.rounds = stats.rounds;
    chooser();
    await seed(s);
    return tick();
  }
  const r = stats.rounds[0];
  const now = Date.now() / 1000;
  const prev = s.last;
  const dt = prev ? Math.max(0.001, now - prev.at) : 0;
  const rate = prev ? Math.max(0, (r.draws - prev.draws) / dt) : 0;
  s.xs.push(now);
  s.rate.push(rate);
  if (s.seeded) {
    // The saved history counted wins inside its window only: lift it to today's totals.
    for (const p of r.prizes) {
      const lift = Math.max(0, p.won - (s.seeded.cum[p.key] || 0));
      for (let i = 0; i < s.seeded.n; i++) if (s.won[p.key]?.[i] != null) s.won[p.key][i] += lift;
    }
    s.seeded = null;
  }
  for (const p of r.prizes) {
    (s.won[p.key] ||= new Array(s.xs.length - 1).fill(null)).push(p.won);
    (s.released[p.key] ||= new Array(s.xs.length - 1).fill(null)).push(p.released);
  }
  const refusals = Object.entries(outcomes.outcomes).filter(([code]) => code !== "won" && code !== "lost");
  for (const [code, n] of refusals) {
    const before = prev && prev.outcomes[code] !== undefined ? prev.outcomes[code] : n;
    const series = (s.refused[code] ||= new Array(s.xs.length - 1).fill(0));
    series.push(prev ? Math.max(0, (n - before) / dt) : 0);
  }
  for (const series of Object.values(s.refused)) while (series.length < s.xs.length) series.push(0);
  s.last = { at: now, draws: r.draws, outcomes: outcomes.outcomes };
  for (const arr of [s.xs, s.rate, ...Object.values(s.won), ...Object.values(s.released), ...Object.values(s.refused)]) {
    if (arr.length > KEEP) arr.splice(0, arr.length - KEEP);
  }
  const won = r.prizes.reduce((n, p) => n + p.won, 0);
  $("#rate").textContent = t("console.rate", { n: number(rate, 1) });
  $("#live-kpis").replaceChildren(
    kpi("draws", t("console.draws"), number(r.draws)),
    kpi("users", t("console.users"), number(r.users)),
    kpi("won", t("console.prizes_won"), number(won)),
    kpi("status", t("console.status"), t(`console.round_${r.status}`)),
  );
  $("#live-stock").replaceChildren(...r.prizes.filter((p) => p.quantity !== 0 || p.released).map(stockBar));
  const keys = r.prizes.filter((p) => p.quantity !== 0 || p.released).map((p) => p.key);
  // A rate needs two samples, and uPlot cannot scale a time axis over one point.
  if (s.xs.length < 2) return;
  s.charts.rate.update(s.xs, [{ name: t("console.draws_per_s"), values: s.rate }]);
  s.charts.wins.update(s.xs, keys.map((k) => ({ name: k, values: s.won[k] })));
  s.charts.stock.update(
    s.xs,
    keys.flatMap((k) => [
      { name: `${k} ${t("console.released")}`, values: s.released[k], dashed: true },
      { name: `${k} ${t("console.won")}`, values: s.won[k] },
    ]),
    (series) => series.dashed,
  );
  const codes = Object.keys(s.refused).sort();
  s.charts.refused.update(s.xs, codes.length ? codes.map((c) => ({ name: c, values: s.refused[c] })) : [{ name: t("console.none"), values: s.xs.map(() => 0) }]);
}

const kpi = (name, label, value) => el("div", { class: "kpi", "data-kpi": name }, el("span", { class: "hint" }, label), el("strong", {}, value));

function chooser() {
  const s = live;
  const select = el(
    "select",
    { id: "live-round", "aria-label": t("console.round") },
    s.rounds.map((r) => el("option", { value: r.round_id, selected: r.round_id === s.round }, `${r.round_id} · ${t(`console.round_${r.status}`)} · ${when(r.start, s.zone, { dateStyle: "short", timeStyle: "short", hourCycle: "h23" })} (${s.zone})`)),
  );
  select.addEventListener("change", () => {
    start(s.id, s.name, s.zone, s.rounds, select.value);
  });
  $("#live-chooser").replaceChildren(el("label", { class: "inline" }, t("console.round"), select));
  topupForm();
}

function topupForm() {
  const s = live;
  if (!can("publisher")) return;
  const prize = el("select", { id: "topup-prize", "aria-label": t("console.prize_key") });
  api("GET", `/v1/admin/activities/${s.id}/stats?round=${encodeURIComponent(s.round)}`).then((st) => {
    prize.replaceChildren(...st.rounds[0].prizes.filter((p) => p.quantity !== 0).map((p) => el("option", { value: p.key }, p.key)));
  });
  const add = el("input", { id: "topup-add", type: "number", min: "1", step: "1", value: "10", inputmode: "numeric", "aria-label": t("console.topup_add") });
  const form = el("form", { id: "topup", class: "row" }, el("span", {}, t("console.topup")), prize, add, el("button", { type: "submit" }, t("console.topup_do")));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const n = Number(add.value);
    const ok = await confirmWith({
      title: t("console.confirm_topup", { n: number(n), prize: prize.selectedOptions[0]?.textContent || prize.value, round: s.round }),
      lines: [t("console.confirm_topup_what")],
      ok: t("console.topup_do"),
    });
    if (!ok) return;
    try {
      const done = await api("POST", `/v1/admin/activities/${s.id}/stock`, { round: s.round, prize: prize.value, add: Number(add.value) });
      flash(t("console.topped_up", { prize: done.prize, quantity: done.quantity }));
    } catch (e) {
      flash(failure(e), true);
    }
  });
  $("#live-topup").replaceChildren(form);
}

function start(id, name, zone, rounds, round) {
  stop();
  const [rate, rateBox] = figure("chart-rate", t("console.chart_rate"));
  const [wins, winsBox] = figure("chart-wins", t("console.chart_wins"));
  const [stock, stockBox] = figure("chart-stock", t("console.chart_stock"));
  const [refused, refusedBox] = figure("chart-refused", t("console.chart_refused"));
  chartZone = zone || undefined;
  $("#live-charts").replaceChildren(rate, wins, stock, refused, el("p", { class: "hint charts-zone" }, t("console.times_in", { zone: zone || "" })));
  live = {
    id,
    name,
    zone,
    rounds,
    round,
    last: null,
    xs: [],
    rate: [],
    won: {},
    released: {},
    refused: {},
    charts: { rate: new Chart(rateBox, t("console.chart_rate")), wins: new Chart(winsBox, t("console.chart_wins")), stock: new Chart(stockBox, t("console.chart_stock")), refused: new Chart(refusedBox, t("console.chart_refused")) },
  };
  live.timer = setInterval(tick, EVERY);
  if (rounds) chooser();
  const s = live;
  (round ? seed(s) : Promise.resolve()).then(tick);
}

function stop() {
  if (live) clearInterval(live.timer);
  live = null;
}

window.addEventListener("resize", () => {
  if (live) for (const c of Object.values(live.charts)) c.resize();
});

// The emergency stop, for publishers: a clearly marked button, a confirmation
// saying what it does, and the banner while it holds.
function pauseButton(a) {
  if (!can("publisher") || a.status === "draft") return null;
  const paused = !!a.paused;
  const button = el(
    "button",
    { type: "button", id: paused ? "resume" : "pause", class: paused ? "primary" : "danger" },
    t(paused ? "console.resume" : "console.pause"),
  );
  button.addEventListener("click", async () => {
    const name = inLanguage(a.name);
    const yes = await confirmWith({
      title: t(paused ? "console.resume_title" : "console.pause_title", { id: a.id, name }),
      lines: paused
        ? [t("console.resume_what"), t("console.resume_rounds", { n: a.sessions.length })]
        : [t("console.pause_what"), t("console.pause_players"), t("console.pause_undo")],
      ok: t(paused ? "console.resume_do" : "console.pause_do"),
      danger: !paused,
    });
    if (!yes) return;
    try {
      const now = await api("POST", `/v1/admin/activities/${a.id}/${paused ? "resume" : "pause"}`);
      flash(t(now.paused ? "console.paused_done" : "console.resumed_done", { id: a.id }));
      $("#live-paused").hidden = !now.paused;
      button.replaceWith(pauseButton(now));
    } catch (e) {
      flash(failure(e), true);
    }
  });
  return button;
}

async function show(_name, arg) {
  const id = Number(arg);
  const a = await api("GET", `/v1/admin/activities/${id}`);
  const exporter = el(
    "button",
    {
      type: "button",
      id: "export",
      onclick: () => downloadCsv(`/v1/admin/activities/${id}/winners?format=csv`, `winners-${id}.csv`),
    },
    t("console.export"),
  );
  $("#view-live").replaceChildren(
    el(
      "div",
      { class: "head" },
      el("h1", { id: "live-title" }, t("console.live_title", { id, name: inLanguage(a.name) })),
      badge(a.status),
      el("span", { id: "rate", class: "big" }, t("console.rate", { n: "…" })),
      el("div", { class: "row actions" }, pauseButton(a), exporter, el("a", { class: "button", href: `/play/${id}`, target: "_blank", rel: "noopener", id: "play-link" }, t("console.open_game")), el("a", { class: "button quiet", href: `#/edit/${id}` }, t("console.edit"))),
    ),
    el("p", { id: "live-paused", class: "paused-banner", role: "status", hidden: !a.paused }, t("console.paused_banner")),
    el("p", { id: "live-error", class: "error", role: "alert" }),
    el("div", { class: "row" }, el("div", { id: "live-chooser" }), el("div", { id: "live-topup" })),
    el("div", { id: "live-kpis", class: "kpis" }),
    el("div", { id: "live-stock", class: "card", "aria-live": "off" }),
    el("div", { id: "live-charts", class: "charts" }),
    el("div", { id: "live-after", class: "after" }, ...(await afterPublish(id, a))),
  );
  start(id, inLanguage(a.name), a.timezone, null, null);
}

views.live = { show, leave: stop };
