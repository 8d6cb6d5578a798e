// The players' games (SPEC §10). What every game shares: the activity's
// public rules, the player's chances, the one way a tap draws (player.js
// draw(): POST /v1/draw with an Idempotency-Key kept across retries), a human
// reason for every refusal, the odds, the round's seed hash, the countdown
// and the results; the pace (pace.js: a jittered start, one draw in flight,
// no tap while the server asks to wait). A game (games/<game>.js) only asks
// to draw and animates the answer: mount(stage, ctx) → {update()}.
import { $, ApiError, api, boot, duration, el, number, roundName, t, toast, when } from "./common.js";
import { bandName, chanceOf, oddsTable, thanksName } from "./odds.js";
import * as pace from "./pace.js";
import { draw as postDraw, playerApi, session, signIn, whoami } from "./player.js";
import { openHaul, openPrize, prizeName, tally } from "./prize.js";
import { Results } from "./results.js";

const AID = boot.activity_id;
const roundHref = (round) => `/verify?round=${encodeURIComponent(round)}&activity=${AID}`;
const motion = matchMedia("(prefers-reduced-motion: reduce)");
const LIMITS = [["round", "round_limit"], ["day", "day_limit"], ["total", "total_limit"]];
// Refusals (and reasons for no chance) with a message of their own: play.err_<code>.
const CODES = new Set([
  "activity_not_started", "activity_ended", "round_closed", "round_limit", "day_limit",
  "total_limit", "win_limit", "rate_limited", "blacklisted", "risk_denied",
  "activity_not_found", "grant_not_found", "grant_used", "sold_out", "no_more_levels",
  "no_pool", "retry", "idempotency_key_reused", "invalid_idempotency_key", "unavailable",
  "busy", "network", "validation_error", "invalid_json", "payload_too_large", "unauthorized",
  "invalid_token", "token_expired", "forbidden", "no_grant", "activity_paused",
]);
// Refusals after which the rules are read again (the round or the counts moved on).
const RELOADS = new Set([
  "grant_used", "grant_not_found", "round_closed", "activity_ended", "activity_not_started",
  "round_limit", "day_limit", "total_limit", "win_limit", "no_more_levels", "activity_paused",
]);
const STOPS = new Set(["blacklisted", "risk_denied", "sold_out", "no_more_levels", "activity_not_found"]);

const results = new Results(AID, () => state.info);

const state = {
  info: null, // GET /v1/activities/{id}, with the player's remaining chances
  skew: 0, // the server's clock minus ours, ms
  grants: [], // the player's unused grants, oldest first
  spoilt: new Set(), // grants spent, or that no pool takes (no_pool)
  using: new Set(), // grants of draws in flight
  inflight: 0, // at most 1 (pace.free)
  blocked: null, // a refusal that holds until the round changes
  blockedRound: null,
  reloading: false,
  again: false,
  game: null,
};

// -- the rules --------------------------------------------------------------------

const info = () => state.info;
const needsGrant = () => state.info?.kind === "amount" || state.info?.require_grant === true;
const roundOf = (i = state.info) => i?.current_round || i?.next_round || null;

function session_() {
  const r = roundOf();
  const idx = r ? Number(r.round_id.split(":").pop()) : 0;
  const s = state.info.sessions;
  return s[idx] || s[0];
}

function lastLevel() {
  return Math.max(...session_().pools.map((p) => p.nth || 0));
}

// The pools of this session's levels (count), in order.
function levels() {
  return [...session_().pools].sort((a, b) => a.nth - b.nth);
}

function band(amount) {
  return session_().pools.find((p) => amount >= p.amount_min && (p.amount_max == null || amount < p.amount_max));
}

// The pool the next draw uses, or null when the page cannot tell (no grant yet).
function pool() {
  const i = state.info;
  if (!i) return null;
  if (i.kind === "time") return session_().pools[0];
  if (i.kind === "count") {
    const n = Math.min(i.next_level || 1, i.after_last_pool === "repeat_last" ? lastLevel() : Infinity);
    return levels().find((p) => p.nth === n) || null;
  }
  const g = usableGrants()[0];
  return g ? band(g.amount) || null : null;
}

// What a wheel or a grid shows: the pool's prizes and one "thanks for playing".
// With no next pool to tell (no grant yet, every level played): the first band,
// the last level.
function segments(p = pool() || (state.info.kind === "count" ? levels().at(-1) : session_().pools[0])) {
  if (!p) return [];
  const real = p.prizes.filter((z) => z.type !== "empty");
  const thanks = { key: "", name: thanksName(p), type: "empty", thanks: true };
  return [...real.map((z) => ({ ...z, thanks: false })), thanks];
}

// -- chances ----------------------------------------------------------------------

const usableGrants = () => state.grants.filter((g) => !state.spoilt.has(g.grant_id) && !state.using.has(g.grant_id));

// This page's start of the round is still to come (pace.js): no chance yet.
const warmLeft = () => pace.warmLeft(state.info, state.skew);

function chances() {
  const i = state.info;
  if (!i) return { left: 0, why: "loading" };
  if (warmLeft() > 0) return { left: 0, why: "warmup" };
  if (i.status !== "open") return { left: 0, why: i.status };
  if (i.paused) return { left: 0, why: "paused" };
  if (!session.token) return { left: 0, why: "signin" };
  if (state.blocked) return { left: 0, why: state.blocked };
  const r = i.remaining || {};
  if (r.wins === 0) return { left: 0, why: "win_limit" };
  let left = Infinity;
  let why = null;
  const bound = (n, code) => {
    if (n != null && n < left) [left, why] = [Math.max(0, n), code];
  };
  for (const [k, code] of LIMITS) bound(r[k], code);
  if (i.kind === "count" && i.after_last_pool !== "repeat_last") {
    bound(lastLevel() - (i.next_level || 1) + 1, "no_more_levels");
  }
  if (needsGrant()) bound(usableGrants().length + state.using.size, "no_grant");
  return { left, why: left > 0 ? null : why };
}

const ready = () => chances().left - state.inflight > 0;

// -- drawing ----------------------------------------------------------------------

function clientSeed() {
  const b = crypto.getRandomValues(new Uint8Array(8));
  return [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
}

// How many draws one request may carry now (SPEC §3 "count"): the
// activity's max_count within the chances left; a grant is one draw.
function most() {
  if (needsGrant() || !state.info) return Math.min(1, Math.max(0, chances().left - state.inflight));
  return Math.max(0, Math.min(state.info.max_count || 1, chances().left - state.inflight));
}

// One tap: a real draw. Resolves to the draw response (with the level and
// grant it used), or null when it was refused (the player is told why).
async function draw() {
  const got = await drawSome(1);
  return got ? got.draws[0] : null;
}

// n draws in one request (n = 1: a single draw's request, as ever). Resolves
// to {draws, stopped}: the draws made, in order, each as draw() gives it, and
// the refusal that stopped the batch early (said already), or null; or null
// when nothing was drawn (the player is told why).
async function drawSome(n) {
  if (!ready()) {
    explain();
    return null;
  }
  if (!pace.free(state.inflight)) {
    pace.nudge(); // one request at a time, none while the server asks to wait: sent nothing
    return null;
  }
  const i = state.info;
  const grant = needsGrant() ? usableGrants()[0] : null;
  const count = Math.max(1, Math.min(n, most()));
  const body = { activity_id: AID, client_seed: clientSeed() };
  if (count > 1) body.count = count;
  if (grant) {
    body.grant_id = grant.grant_id;
    state.using.add(grant.grant_id);
  }
  const level = i.kind === "count" ? i.next_level || 1 : null;
  state.inflight += count; // the chances shown count these as spent
  render();
  let failed = null;
  try {
    const got = await postDraw(body, { onSend: pace.sending, onWait: pace.waiting });
    const made = count > 1 ? got.draws : [got];
    const r = (i.remaining ||= {});
    const same = made[0].round_id === i.current_round?.round_id; // answers may arrive out of order
    for (const [k] of LIMITS) {
      const left = got.remaining[k];
      r[k] = !same || r[k] == null || left == null ? left : Math.min(r[k], left);
    }
    const wins = made.filter((d) => d.won).length;
    if (wins && r.wins != null) r.wins = Math.max(0, r.wins - wins);
    if (grant) state.spoilt.add(grant.grant_id);
    if (i.kind === "count") i.next_level = (i.next_level || 1) + made.length;
    const at = new Date().toISOString();
    const draws = made.map((d, k) => ({
      ...d,
      remaining: got.remaining,
      level: level == null ? null : Math.min(level + k, lastLevel()),
      grant,
      at,
    }));
    let stopped = null;
    if (got.stopped) {
      // The batch ended early: said as a refusal, and paced like one.
      stopped = new ApiError(got.stopped.code === "rate_limited" ? 429 : 409, { error: got.stopped });
      failed = stopped;
      refused(stopped, null);
    }
    return { draws, stopped };
  } catch (e) {
    failed = e;
    if (grant && ["grant_used", "grant_not_found"].includes(e.code)) state.spoilt.add(grant.grant_id);
    refused(e, grant);
    return null;
  } finally {
    if (grant) state.using.delete(grant.grant_id);
    state.inflight -= count;
    pace.done(failed);
    render();
    later();
  }
}

function message(code, e) {
  if (code === "sold_out" && boot.game === "rain") {
    return t(boot.skin === "candy" ? "play.sold_out_candy" : "play.sold_out_envelopes");
  }
  if (CODES.has(code)) return t("play.err_" + code);
  return e?.message || t("common.http_error", { status: e?.status || "?" });
}

function refused(e, grant) {
  const code = e instanceof ApiError ? e.code : "network";
  say(message(code, e), "refused", !pace.asksToWait(e)); // else the pace box says it: no toast over it
  const r = state.info.remaining || {};
  const zero = { round_limit: "round", day_limit: "day", total_limit: "total", win_limit: "wins" }[code];
  if (zero) r[zero] = 0;
  if (code === "activity_paused") state.info.paused = true;
  if (STOPS.has(code)) [state.blocked, state.blockedRound] = [code, roundOf()?.round_id];
  if (code === "no_pool" && grant) state.spoilt.add(grant.grant_id);
  if (RELOADS.has(code)) reload();
  render();
}

// Why the player cannot draw now, said out loud.
function explain() {
  const { why } = chances();
  if (why === "warmup") return pace.nudge(); // "Get ready!" shows it
  if (why && why !== "loading") say(reason(why), "note"); // the notice shows it too: no toast
  if (why === "signin") $("#player-id")?.focus();
}

function reason(why) {
  if (why === "signin") return t("play.sign_in_first");
  if (why === "open" || why === "warmup" || !why) return "";
  if (["not_started", "closed", "ended", "paused"].includes(why)) return t("play.notice_" + why, { at: nextAt() });
  if (why === "no_grant" && boot.game === "scratch") return t("play.scratch_how");
  if (why === "no_more_levels" && boot.game === "pass") return t("play.pass_done");
  return message(why);
}

const nextAt = () => {
  const r = state.info?.next_round;
  return r ? when(r.start, state.info.timezone, { dateStyle: "medium", timeStyle: "short" }) : "";
};

// The latest outcome, in the live region (and a toast for a refusal).
function say(text, kind, loud = kind === "refused") {
  const box = $("#outcome");
  box.className = `outcome ${kind || ""}`;
  box.textContent = text;
  if (loud) toast(text, 2600);
}

// A win's line, with how to redeem it when no dialog will say so.
const withHint = (text, dialog) => (!dialog && state.info?.redeem_hint ? `${text} ${state.info.redeem_hint}` : text);

// A game calls settle() once its animation has shown the result.
function settle(d, { pop = false } = {}) {
  if (!d) return;
  results.add(d);
  // A code or an address to give is worth a dialog in every game (which says
  // how to redeem); any other win says it on the outcome line (SPEC §10).
  const dialog = pop || (d.won && (d.prize?.code || d.prize?.type === "physical"));
  say(d.won ? withHint(t("play.you_won", { prize: prizeName(d, state.info) }), dialog) : t("play.no_win"), d.won ? "won" : "lost");
  if (dialog) openPrize(d, state.info, { onSaved: results.render });
  render();
}

// Several draws of one request, once the game has shown them: every one in
// the results, one line for all in the live region, and (pop) one dialog.
function settleMany(draws, { pop = false } = {}) {
  if (!draws?.length) return;
  if (draws.length === 1) return settle(draws[0], { pop });
  for (const d of draws) results.add(d);
  const won = draws.filter((d) => d.won);
  const text = won.length
    ? t("play.batch_won", { n: won.length, of: draws.length, prizes: tally(won, state.info).join(t("play.list_sep")) })
    : t("play.batch_lost", { n: draws.length });
  const dialog = pop || won.some((d) => d.prize?.code || d.prize?.type === "physical");
  say(won.length ? withHint(text, dialog) : text, won.length ? "won" : "lost");
  if (dialog) openHaul(draws, state.info, { onSaved: results.render });
  render();
}

// -- loading ----------------------------------------------------------------------

async function loadGrants() {
  const got = await playerApi("GET", `/v1/me/grants?activity_id=${AID}&limit=100`);
  state.grants = got.grants.filter((g) => !g.used).reverse();
}

async function load() {
  const path = `/v1/activities/${AID}`;
  const got = session.token ? await playerApi("GET", path) : await api("GET", path);
  state.skew = Date.parse(got.server_time) - Date.now();
  if (session.token && (got.kind === "amount" || got.require_grant === true)) await loadGrants();
  state.info = got;
  // A refusal that stopped the game holds until the round changes (levels: for good).
  const moved = roundOf()?.round_id !== state.blockedRound;
  if (state.blocked && moved && state.blocked !== "no_more_levels") state.blocked = null;
}

// Reload the rules now (a round opened or closed, a limit was reached).
async function reload() {
  if (state.reloading) {
    state.again = true; // once this one is done
    return;
  }
  state.reloading = true;
  state.again = false;
  try {
    await load();
    render();
  } catch (e) {
    if (!(e instanceof ApiError)) toast(t("common.network"));
  } finally {
    setTimeout(() => {
      state.reloading = false; // never hammer the server
      if (state.again) reload();
    }, 1500);
  }
}

let laterTimer = 0;
function later() {
  clearTimeout(laterTimer);
  laterTimer = setTimeout(reload, 1200); // the counts the draw response does not carry
}

// While paused the page asks every few seconds whether the organiser resumed.
let resumeTimer = 0;
function watchResume() {
  if (resumeTimer) return;
  resumeTimer = setTimeout(() => {
    resumeTimer = 0;
    reload();
  }, 4000);
}

// -- rendering --------------------------------------------------------------------

let shownPhase = "";
function render() {
  const i = state.info;
  if (!i) return;
  document.body.dataset.status = i.status;
  const warm = warmLeft();
  pace.warm(warm);
  const phase = warm ? "warmup" : i.status;
  if (phase !== shownPhase && $("#outcome").classList.contains("note")) say("", ""); // why not, said before: stale
  shownPhase = phase;
  const shown = i.paused && i.status === "open" ? "paused" : i.status;
  document.body.dataset.paused = i.paused ? "1" : "";
  $("#status").textContent = warm ? t("play.status_warmup") : t("play.status_" + shown);
  if (i.paused) watchResume();
  const c = chances();
  let left = number(Math.max(0, c.left - state.inflight));
  if (i.status !== "open" || !session.token) left = "–";
  else if (c.left === Infinity) left = t("play.unlimited");
  $("#chances").textContent = left;
  const notice = $("#notice");
  const why = c.why === "signin" || c.why === "loading" ? "" : reason(c.why);
  notice.hidden = !why;
  $("#notice-text").textContent = why;
  renderProof();
  renderOdds();
  tick();
  state.game?.update();
}

function renderProof() {
  const r = roundOf();
  $("#round-label").textContent = state.info.current_round ? t("play.round_current") : t("play.round_next");
  $(".proof").hidden = !r; // ended: no round to show (the verify page still checks past ones)
  $("#round-id").textContent = r ? roundName(r.round_id, state.info) : "–";
  $("#seed-hash").textContent = r ? r.seed_hash : "–";
  $("#verify-link").href = r ? roundHref(r.round_id) : "/verify";
}

let oddsKey = "";
function renderOdds() {
  const i = state.info;
  let shown; // [[title, pool, isNext]]
  if (i.kind === "time") shown = [["", session_().pools[0], true]];
  else if (i.kind === "count") shown = levels().map((p) => [t("play.level_n", { n: p.nth }), p, p === pool()]);
  else shown = session_().pools.map((p) => [bandName(p), p, p === pool()]);
  const key = JSON.stringify([roundOf()?.round_id, shown.map((s) => [s[0], s[2]])]);
  if (key === oddsKey) return;
  oddsKey = key;
  const manual = i.probability === "manual";
  $("#odds").replaceChildren(
    el("p", { class: "hint" }, manual ? t("play.manual_explain") : t("play.auto_explain")),
    ...shown.map(([title, p, next]) =>
      el(
        "div",
        { class: `pool${next && shown.length > 1 ? " is-next" : ""}` },
        title ? el("h3", {}, title, next && shown.length > 1 ? el("span", { class: "tag" }, t("play.next_tag")) : null) : null,
        oddsTable(p, manual),
      ),
    ),
  );
}

let armed = ""; // the opening a timer waits for

// The countdown: to the round's end while it is open, else to the next round.
// The notice's big clock counts to the next round whenever the player waits for it.
function tick() {
  const i = state.info;
  if (!i) return;
  const now = Date.now() + state.skew;
  const open = i.status === "open" && i.current_round;
  const target = open ? i.current_round.end : i.status !== "ended" ? i.next_round?.start : null;
  const warm = warmLeft();
  $("#clock-box").hidden = !target || warm > 0; // "Get ready!" counts instead
  const waits = !open || ["round_limit", "sold_out"].includes(chances().why);
  const big = $("#notice-wait");
  big.hidden = !(waits && i.next_round && i.status !== "ended");
  if (!big.hidden) {
    $("#notice-clock-label").textContent = i.status === "not_started" ? t("play.starts_in") : t("play.next_in");
    $("#notice-clock").textContent = duration(Date.parse(i.next_round.start) - now);
  }
  if (!target) return;
  const left = Date.parse(target) - now;
  const label = open ? "play.ends_in" : i.status === "not_started" ? "play.starts_in" : "play.next_in";
  $("#clock-label").textContent = t(label);
  $("#clock").textContent = duration(left);
  if (left > 0 && left < 1000 && !open && armed !== target) {
    armed = target;
    setTimeout(tick, left + 20); // the opening, to the moment (not up to a second late)
  }
  if (left > 0) return;
  if (warm <= 0) reload();
  else if (!pace.warming()) {
    pace.warm(warm); // the countdown ran out: "Get ready!", then the round
    if (pace.warming()) render();
  }
}

// -- start ------------------------------------------------------------------------

const ctx = {
  get reduced() {
    return motion.matches;
  },
  skin: boot.skin,
  info,
  pool,
  segments,
  levels: () => levels(),
  lastLevel: () => lastLevel(),
  chances,
  ready,
  most, // how many draws one request may carry now
  free: () => pace.free(state.inflight), // a tap now would be sent: none in flight, no wait asked
  paced: pace.paced, // waiting as the server asked: a rain stops dropping
  draw,
  drawSome,
  settle,
  settleMany,
  say,
  results: () => results.all(),
  grants: () => usableGrants(),
  needsGrant,
  chanceOf: (prize, p, manual = state.info.probability === "manual") => chanceOf(prize, p, manual),
};

async function main() {
  $("#pop-close").addEventListener("click", () => $("#pop").close());
  // This page's warm-up is over: the round is its to play (read it, unless read).
  pace.wire(() => (state.info?.status === "open" ? render() : reload()), () => state.game?.update());
  const signedIn = signIn($("#signin-box")); // a token given (fragment, storage) is adopted at once
  const had = Boolean(session.token);
  try {
    await load(); // the rules are public: shown while the player signs in
  } catch (e) {
    $("#status").textContent = e instanceof ApiError ? message(e.code, e) : t("common.network");
    return;
  }
  const mod = await import(`./games/${boot.game}.js`);
  state.game = mod.default($("#stage"), ctx);
  render();
  setInterval(tick, 1000);
  setInterval(reload, 30_000);
  await signedIn;
  if (!had) await load();
  whoami($("#who"));
  render();
  await results.load();
  state.game?.update();
}

main();
