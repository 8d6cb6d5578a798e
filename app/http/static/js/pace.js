// Players pace themselves (docs/pages.md "Pacing"). A rain opens for a crowd
// at one moment, and a server past its capacity answers 503 busy: so every
// game's page
// - starts a round at its own moment: the round's opening plus a random part
//   of the activity's `display.warmup_ms`, chosen once per round ("Get
//   ready!"), so the crowd's first taps spread over that window;
// - keeps at most one draw in flight (play.js asks free() before it sends);
// - while the server asks it to wait (a retry after 503, or Retry-After once
//   the retries are spent) sends nothing and says it is retrying.
// This module keeps that state and shows it in #pace; play.js decides.
import { $, number, t } from "./common.js";

let mode = null; // null | "warmup" | "wait" | "retrying" | "cool" | "hold"
let until = 0; // this page's clock (ms): when the warm-up or the wait ends
let why = ""; // wait: "busy" | "network"; cool: "busy" | "fast" (429 rate_limited)
let timer = 0;
let onWarmEnd = () => {};
let onChange = () => {};

// play.js: what to do when the warm-up ends, and when the mode changes.
export function wire(warmEnd, changed) {
  onWarmEnd = warmEnd;
  onChange = changed;
}

// -- the jittered start -----------------------------------------------------------

const picked = { round: "", jitter: 0 };

// How long this page still waits before it plays the round that is opening or
// open (ms, 0 for none): from the round's start (the server's clock, `skew`
// = server minus page) to start + this page's jitter.
export function warmLeft(info, skew, now = Date.now()) {
  const r = info?.current_round || info?.next_round;
  const span = info?.display?.warmup_ms || 0;
  if (!r || span <= 0 || info.status === "ended") return 0;
  if (picked.round !== r.round_id) [picked.round, picked.jitter] = [r.round_id, Math.random() * span];
  const start = Date.parse(r.start) - skew;
  return now >= start && now < start + picked.jitter ? start + picked.jitter - now : 0;
}

// Show (or stop showing) the warm-up: `left` ms to go.
export function warm(left) {
  if (left > 0) {
    const end = Date.now() + left;
    if (mode === "warmup" && Math.abs(end - until) < 50) return;
    if (mode === "wait" || mode === "retrying") return; // a draw of the last round still retries
    set("warmup", end);
  } else if (mode === "warmup") set(null);
}

export const warming = () => mode === "warmup";

// -- one draw at a time, and the server's waits -------------------------------------

// May a tap be sent now? Not while a draw is in flight (`inflight` > 0) nor
// while the server's Retry-After runs.
export const free = (inflight) => inflight === 0 && mode !== "cool";

// The page holds back because the server asked it to (the rain stops dropping).
export const paced = () => mode === "wait" || mode === "retrying" || mode === "cool";

// A tap that was not sent: show why again (or, with nothing shown, that the
// last draw is still on its way).
export function nudge() {
  if (mode && mode !== "hold") {
    flash();
    return;
  }
  set("hold", Date.now() + 1500);
}

// player.js draw(): a retry waits `ms` after error `e` (503, or the network).
export function waiting(ms, e) {
  why = e?.status === 503 ? "busy" : "network";
  set("wait", Date.now() + ms);
}

// player.js draw(): attempt `i` is being sent (0: the tap itself).
export function sending(i) {
  if (i > 0) set("retrying", 0);
}

// The draw is answered (or refused): nothing to wait for, unless the server
// said how long (503 after the last retry, 429 rate_limited): then no tap is
// sent before Retry-After × a random factor in [1, 2), as backoff() does.
export const asksToWait = (e) => e?.status === 503 || (e?.status === 429 && e.code === "rate_limited");

export function done(e) {
  if (asksToWait(e)) {
    why = e.status === 503 ? "busy" : "fast";
    set("cool", Date.now() + Math.max(1, e.retryAfter || 1) * 1000 * (1 + Math.random()));
  } else if (mode === "wait" || mode === "retrying") set(null);
}

// -- showing it -------------------------------------------------------------------

function set(next, end = 0) {
  const was = mode;
  mode = next;
  until = end;
  clearInterval(timer);
  timer = mode && until ? setInterval(step, 100) : 0;
  show(true);
  if (was !== mode) onChange();
}

// Every 100 ms while a wait runs: the count, and what follows its end.
function step() {
  if (Date.now() < until) return show(false);
  if (mode === "warmup") {
    set(null);
    onWarmEnd();
  } else if (mode === "wait") set("retrying", 0);
  else set(null); // cool, hold
}

const secs = (ms) => Math.max(1, Math.ceil(ms / 1000));

// The box is for the eyes (a count that changes every 100 ms); #pace-said,
// a live region, tells screen readers once per change of mode.
function show(fresh) {
  const box = $("#pace");
  if (!box) return;
  box.hidden = !mode;
  if (fresh) box.className = `pace ${mode || ""}`;
  if (!mode) {
    $("#pace-said").textContent = "";
    return;
  }
  const left = Math.max(0, until - Date.now());
  const text = {
    warmup: t("play.pace_ready"),
    wait: why === "busy" ? t("play.pace_busy") : t("play.pace_network"),
    retrying: why === "busy" ? t("play.pace_busy") : t("play.pace_network"),
    cool: why === "fast" ? t("play.pace_too_fast") : t("play.pace_cool"),
    hold: t("play.pace_one"),
  }[mode];
  const count = {
    warmup: t("play.pace_ready_in", { s: number(Math.max(0.1, left / 1000), 1) }),
    wait: t("play.pace_retry_in", { s: secs(left) }),
    retrying: t("play.pace_retrying"),
    cool: t("play.pace_again_in", { s: secs(left) }),
    hold: "",
  }[mode];
  $("#pace-text").textContent = text;
  $("#pace-count").textContent = count;
  if (fresh) {
    $("#pace-said").textContent = count && mode !== "warmup" ? `${text} ${count}` : text;
    const bar = $("#pace-bar");
    bar.hidden = !until || mode === "hold";
    bar.replaceChildren(); // a new bar restarts its animation
    if (!bar.hidden) {
      const fill = document.createElement("i");
      fill.style.animationDuration = `${left}ms`;
      bar.append(fill);
    }
  }
}

function flash() {
  const box = $("#pace");
  box.classList.remove("flash");
  void box.offsetWidth; // restart the animation
  box.classList.add("flash");
}
