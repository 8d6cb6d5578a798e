// /verify: fetches data (the revealed seed, the published odds, the draws) and
// shows what fairness.js recomputed from it. Nothing here computes a result.
import { $, api, el, fieldError, roundName, t, when } from "./common.js";
import { available, verifyDraw } from "./fairness.js";
import { playerApi, session, signIn, signOut } from "./player.js";

const results = $("#results");
const summary = $("#summary");
const params = new URLSearchParams(location.search);

if (!available()) {
  $("#insecure").hidden = false;
  for (const b of document.querySelectorAll(".verify-btn")) b.disabled = true;
}

// -- data (all public, or the player's own) ---------------------------------------

const activityOf = (roundId) => Number(String(roundId).split(":")[0]);
const roundCache = new Map();
const activityCache = new Map();
const round = (id) => cached(roundCache, id, () => api("GET", `/v1/rounds/${encodeURIComponent(id)}`));
const activity = (id) => cached(activityCache, id, () => api("GET", `/v1/activities/${id}`));

function cached(map, key, load) {
  if (!map.has(key)) map.set(key, load().catch((e) => (map.delete(key), Promise.reject(e))));
  return map.get(key);
}

// The player's draws, newest first, as many pages as it takes (bounded).
async function myDraws(activityId, pages = 20) {
  const out = [];
  let cursor = null;
  for (let i = 0; i < pages; i++) {
    const q = new URLSearchParams({ limit: "100" });
    if (activityId) q.set("activity_id", activityId);
    if (cursor) q.set("cursor", cursor);
    const page = await playerApi("GET", `/v1/me/draws?${q}`);
    out.push(...page.draws);
    cursor = page.next_cursor;
    if (!cursor) break;
  }
  return out;
}

// -- showing answers ----------------------------------------------------------------

function errorText(e) {
  if (e && e.status === 503) return t("common.unavailable");
  if (e && e.status) return e.message || t("common.http_error", { status: e.status });
  return t("common.network");
}

function checkLine(c) {
  const mark = c.ok === true ? "✓" : c.ok === false ? "✗" : "–";
  const state = c.ok === true ? "pass" : c.ok === false ? "fail" : "skip";
  const text = t(`verify.check_${c.id}`);
  const why = c.why ? t(`verify.why_${c.why}`) : "";
  return el(
    "li",
    { class: state, "data-check": c.id },
    el("span", { class: "mark", "aria-hidden": "true" }, mark),
    el("span", { class: "sr-only" }, t(`verify.state_${state}`)),
    el("span", {}, text, why ? el("span", { class: "why" }, ` ${why}`) : null),
  );
}

function outcomeText(draw, prizes) {
  if (!draw.won) return t("verify.lost");
  const p = prizes.find((x) => x.key === draw.prize_key);
  return t("verify.won", { prize: (p && p.name) || draw.prize_key });
}

function card(draw, user, answer, prizes, activityInfo) {
  const f = answer.facts;
  const verdict = !answer.ok ? "bad" : answer.complete ? "good" : "partial";
  const checks = el("ul", { class: "checks" }, answer.checks.map(checkLine));
  const facts = [
    ["seed", f.seed],
    ["seed_hash", f.seedHash],
    ["user", user],
    ["client_seed", draw.proof.client_seed || t("verify.empty")],
    ["nonce", draw.proof.nonce],
    ["user_key", f.userKey],
    ["random", f.random],
    f.random !== draw.proof.random ? ["recorded_random", draw.proof.random] : null,
    ["x", f.x === undefined ? "–" : `${f.x} / ${f.total}`],
    ["pool", f.pool || "–"],
    ["pick", f.pick === undefined ? "–" : f.pick ? `${f.pick} (${f.pickKey})` : t("verify.remainder")],
    Number.isInteger(draw.proof.pick) && draw.proof.pick !== f.pick ? ["recorded_pick", draw.proof.pick] : null,
  ].filter(Boolean);
  return el(
    "article",
    { class: `draw ${verdict}`, "data-draw": draw.draw_id || "" },
    el(
      "header",
      {},
      el("strong", { class: "verdict" }, t(`verify.verdict_${verdict}`)),
      el("span", { class: "outcome" }, outcomeText(draw, prizes)),
    ),
    el(
      "p",
      { class: "meta" },
      el("code", {}, draw.draw_id || draw.round_id),
      " · ",
      t("verify.nonce", { n: draw.proof.nonce }),
      draw.drawn_at ? ` · ${when(draw.drawn_at, activityInfo.timezone)}` : "",
    ),
    // A draw that passed every check says so in one line; the steps stay a click away.
    verdict === "good" ? el("p", { class: "allgood" }, t("verify.all_passed", { n: answer.checks.length })) : checks,
    el(
      "details",
      { class: "facts" },
      el("summary", {}, t("verify.computation")),
      verdict === "good" ? checks : null,
      el(
        "dl",
        {},
        facts.flatMap(([k, v]) => [el("dt", {}, t(`verify.fact_${k}`)), el("dd", {}, el("code", {}, String(v)))]),
      ),
    ),
  );
}

// The whole round, for an auditor: every draw, players as pseudonyms, checked
// offline with `redrain verify --file` (docs/fairness.md).
function bundleLink(roundId) {
  return el(
    "p",
    { class: "bundle card" },
    el("a", { href: `/v1/rounds/${encodeURIComponent(roundId)}/bundle`, download: "" }, t("verify.bundle")),
    " ",
    el("span", { class: "hint" }, t("verify.bundle_hint")),
  );
}

function announce(answers) {
  const bad = answers.filter((a) => !a.ok).length;
  const partial = answers.filter((a) => a.ok && !a.complete).length;
  summary.className = bad ? "summary bad" : "summary good";
  summary.textContent = bad
    ? t("verify.summary_bad", { n: answers.length, bad })
    : partial
      ? t("verify.summary_partial", { n: answers.length, partial })
      : t("verify.summary_good", { n: answers.length });
  summary.scrollIntoView({ block: "nearest" });
}

function say(text, cls = "summary") {
  summary.className = cls;
  summary.textContent = text;
  results.replaceChildren();
}

// The rules a round was drawn under: its own version's pools (a newer version
// of a started campaign changes only the rounds that had not started).
function rulesOf(act, info) {
  if (!info.pools) return act;
  const si = Number(String(info.round_id).split(":")[2]);
  const sessions = [...(act.sessions || [])];
  sessions[si] = { ...(sessions[si] || {}), pools: info.pools };
  return { ...act, sessions };
}

// The round must have ended: its seed is revealed only then.
async function revealed(roundId) {
  const info = await round(roundId);
  if (info.seed) return info;
  roundCache.delete(roundId); // ask again next time: it may have ended by then
  // When, in the campaign's own zone (named), as its rounds are scheduled.
  const zone = (await activity(activityOf(roundId)).catch(() => null))?.timezone;
  say(t("verify.not_ended", { end: zone ? `${when(info.end, zone)} (${zone})` : when(info.end) }), "summary wait");
  return null;
}

// -- your own draws ---------------------------------------------------------------

// `only`: one draw of the round (/verify?draw=<draw_id>), else all of the player's.
async function checkMine(roundId, only = null) {
  say(t("common.loading"));
  try {
    const info = await revealed(roundId);
    if (!info) return;
    const act = rulesOf(await activity(activityOf(roundId)), info);
    const all = (await myDraws(activityOf(roundId))).reverse(); // oldest first
    // count: a draw's level is its place among the user's draws in the activity.
    const level = new Map(all.map((d, i) => [d.draw_id, i + 1]));
    const mine = all.filter((d) => d.round_id === roundId && (!only || d.draw_id === only));
    const prizes = info.prizes;
    const answers = [];
    const cards = [];
    for (const d of mine) {
      const draw = { ...d, prize_key: d.prize && d.prize.key };
      let amount;
      if (act.kind === "amount" && d.grant_id) {
        amount = (await playerApi("GET", `/v1/me/grants/${encodeURIComponent(d.grant_id)}`)).amount;
      }
      const answer = await verifyDraw({
        seed: info.seed,
        seedHash: info.seed_hash,
        user: session.user,
        draw,
        activity: act,
        level: act.kind === "count" ? level.get(d.draw_id) : undefined,
        amount,
      });
      answers.push(answer);
      cards.push(card(draw, session.user, answer, prizes, act));
    }
    if (!answers.length) return say(t("verify.none_in_round"));
    results.replaceChildren(...cards, bundleLink(roundId));
    announce(answers);
  } catch (e) {
    say(errorText(e), "summary bad");
  }
}

async function roundLabel(roundId, n) {
  const act = await activity(activityOf(roundId)).catch(() => null);
  return t("verify.round_option", { round: roundName(roundId, act), n });
}

async function loadMine() {
  const box = $("#player-box");
  const pending = signIn(box);
  const form = $("#signin", box);
  if (form) {
    // The shared sign-in form speaks of playing; here it is about checking.
    const h = $("h2", form);
    h.replaceWith(el("h3", {}, t("verify.sign_in")));
    $("button[type=submit]", form).textContent = t("verify.sign_in_button");
  }
  await pending;
  $("#mine").hidden = false;
  $("#who").replaceChildren(
    el("span", {}, t("verify.signed_in_as", { user: session.user })),
    " ",
    el("button", { class: "quiet", type: "button", onclick: () => (signOut(), location.reload()) }, t("verify.switch")),
  );
  if (!$("#paste-user").value) $("#paste-user").value = session.user;
  const select = $("#round");
  const hint = $("#round-hint");
  try {
    // /verify?draw=<draw_id>: that draw (its id starts with its activity's).
    const one = params.get("draw");
    const draws = await myDraws(params.get("activity") || (one && activityOf(one)), one ? 20 : 1);
    const picked = one && draws.find((d) => d.draw_id === one);
    const counts = new Map();
    for (const d of draws) counts.set(d.round_id, (counts.get(d.round_id) || 0) + 1);
    const wanted = picked ? picked.round_id : params.get("round");
    if (wanted && !counts.has(wanted)) counts.set(wanted, 0);
    const labels = await Promise.all([...counts].map(([id, n]) => roundLabel(id, n)));
    select.replaceChildren(...[...counts.keys()].map((id, i) => el("option", { value: id }, labels[i])));
    if (wanted) select.value = wanted;
    hint.textContent = one && !picked ? t("verify.draw_not_yours") : counts.size ? "" : t("verify.no_draws");
    select.disabled = !counts.size;
    if (wanted && available()) checkMine(wanted, picked ? one : null);
  } catch (e) {
    hint.textContent = errorText(e);
  }
}

$("#mine-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  if ($("#round").value) checkMine($("#round").value);
});

// -- a pasted draw ------------------------------------------------------------------

function parsePasted(text) {
  let d;
  try {
    d = JSON.parse(text);
  } catch {
    return null;
  }
  const p = d && d.proof;
  const ok =
    p &&
    typeof d.round_id === "string" &&
    /^\d+:\d{8}:\d+$/.test(d.round_id) &&
    typeof d.won === "boolean" &&
    Number.isInteger(p.nonce) &&
    typeof p.random === "string";
  if (!ok) return null;
  return { ...d, prize_key: d.prize ? d.prize.key : null };
}

async function checkPasted() {
  const draw = parsePasted($("#paste-json").value);
  const user = $("#paste-user").value.trim();
  const good = fieldError("paste-json", draw ? "" : t("verify.bad_json"));
  if (!fieldError("paste-user", user ? "" : t("verify.need_user")) || !good) {
    $(good ? "#paste-user" : "#paste-json").focus();
    return;
  }
  say(t("common.loading"));
  try {
    const info = await revealed(draw.round_id);
    if (!info) return;
    const act = rulesOf(await activity(activityOf(draw.round_id)), info);
    const answer = await verifyDraw({
      seed: info.seed,
      // The hash the draw was made under, as the player kept it; else the round's.
      seedHash: draw.proof.seed_hash || info.seed_hash,
      user,
      draw,
      activity: act,
    });
    results.replaceChildren(card(draw, user, answer, info.prizes, act), bundleLink(draw.round_id));
    announce([answer]);
  } catch (e) {
    say(errorText(e), "summary bad");
  }
}

$("#paste-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  checkPasted();
});

loadMine();
