// /lotteries/{id}: a user-created scheduled lottery. Join or leave while it is
// open, share its link, count down to the draw, and see the result once drawn.
// The creator can cancel it (while open) and delete it (canceled, or open with
// nobody in it). The status comes from the server, polled politely.
import { $, api, boot, duration, el, t, toast, when } from "./common.js";
import { playerApi, session, signIn, signOut } from "./player.js";

const id = boot.lottery_id;
const CLOSE_LEAD = 60_000; // joins, leaves and cancels end a minute before draw_at
// The countdown runs on the server's campaign clock, not this device's.
const skew = boot.server_now_ms ? boot.server_now_ms - Date.now() : 0;
const now = () => Date.now() + skew;

let lot = null; // the last answer of GET /v1/lotteries/{id}
let gone = false; // deleted
let busy = false;
let keepFocus = ""; // the id of the action button that had the focus
let pollTimer = 0;
let failures = 0;

const link = `${location.origin}/lotteries/${id}`;

// -- talking to the server ---------------------------------------------------------

async function fetchLottery() {
  const path = `/v1/lotteries/${id}`;
  return session.token ? playerApi("GET", path) : api("GET", path);
}

async function refresh() {
  clearTimeout(pollTimer);
  try {
    show(await fetchLottery());
    failures = 0;
  } catch (e) {
    if (e.status === 404) return deleted();
    failures += 1;
    if (!lot) $("#status").textContent = e.status === 503 ? t("common.unavailable") : t("common.network");
  }
  schedule();
}

// Every 30 s while the draw is far, every 3 s around it, 15 s once it is minutes
// overdue (the server's worker may be down); never while hidden or once done.
function schedule() {
  clearTimeout(pollTimer);
  if (gone || document.hidden || (lot && (lot.status === "drawn" || lot.status === "canceled"))) return;
  const left = lot ? Date.parse(lot.draw_at) - now() : Infinity;
  let ms = left < -120_000 ? 15_000 : left < CLOSE_LEAD + 30_000 ? 3_000 : 30_000;
  if (!lot) ms = 2_000; // the first answer failed: try again soon
  ms = Math.min(ms * 2 ** failures, 60_000); // back off while the network fails
  pollTimer = setTimeout(refresh, ms);
}

document.addEventListener("visibilitychange", () => {
  if (!document.hidden) refresh();
});

// -- showing it ----------------------------------------------------------------------

function say(text) {
  $("#live").textContent = text;
}

function show(next) {
  const before = lot && lot.status;
  lot = next;
  $("#prize").textContent = t("lottery.prize", { name: lot.prize.name, n: lot.prize.quantity });
  const status = $("#status");
  status.dataset.status = lot.status;
  status.textContent = t(`lottery.status_${lot.status}`);
  $("#participants").textContent = String(lot.participants);
  $("#creator").textContent = lot.is_creator ? t("lottery.you") : lot.creator;
  $("#seed-hash").textContent = lot.seed_hash;
  if (lot.seed) $("#seed").textContent = lot.seed;
  tick();
  result();
  actions();
  $(".share").hidden = lot.status === "canceled";
  $("#share-title").textContent = t(lot.status === "drawn" ? "lottery.share_result" : "lottery.share_title");
  if (before && before !== lot.status) {
    say(lot.status === "drawn" ? resultText() : t(`lottery.status_${lot.status}`));
  }
}

function tick() {
  if (!lot) return;
  const box = $("#clock-box");
  const at = Date.parse(lot.draw_at);
  const left = at - now();
  box.hidden = lot.status === "canceled";
  box.dataset.status = lot.status;
  if (lot.status === "drawn") {
    $("#clock-label").textContent = t("lottery.drawn_at");
    $("#countdown").textContent = when(lot.drawn_at || lot.draw_at);
    $("#draw-at").textContent = "";
    return;
  }
  $("#clock-label").textContent = t(lot.status === "open" ? "lottery.draw_in" : "lottery.drawing_in");
  $("#countdown").textContent = left > 0 ? duration(left) : t("lottery.any_moment");
  $("#draw-at").textContent =
    lot.status === "open" && left > CLOSE_LEAD
      ? t("lottery.closes", { when: when(lot.draw_at) })
      : t("lottery.at", { when: when(lot.draw_at) });
  // Crossing "a minute before the draw" closes joins: ask the server now.
  if (lot.status === "open" && left <= CLOSE_LEAD && !tick.asked) {
    tick.asked = true;
    refresh();
  }
}
setInterval(tick, 1000);

function resultText() {
  if (lot.won === true) return t("lottery.you_won");
  if (lot.won === false && lot.joined) return t("lottery.you_lost");
  return t("lottery.drawn_done", { n: (lot.winners || []).length });
}

function result() {
  const box = $("#result");
  if (lot.status === "drawn") {
    const winners = lot.winners || [];
    box.className = `result ${lot.won ? "won" : ""}`;
    box.replaceChildren(
      el("p", { class: "headline" }, resultText()),
      winners.length
        ? el(
            "div",
            {},
            el("h2", {}, t("lottery.winners", { n: winners.length })),
            el("ul", { class: "winners" }, winners.map((w) => el("li", {}, w))),
          )
        : el("p", { class: "hint" }, t("lottery.no_winners")),
    );
    box.hidden = false;
  } else if (lot.status === "canceled") {
    box.className = "result canceled";
    box.replaceChildren(el("p", { class: "headline" }, t("lottery.canceled_text")));
    box.hidden = false;
  } else if (lot.status === "drawing") {
    box.className = "result drawing";
    box.replaceChildren(el("p", {}, t("lottery.drawing_text")));
    box.hidden = false;
  } else {
    box.hidden = true;
  }
}

function button(label, cls, onclick, extra = {}) {
  return el("button", { type: "button", class: cls, onclick, ...extra }, label);
}

function actions() {
  const box = $("#actions");
  const out = [];
  if (session.token && lot.status === "open") {
    const leave = () => act("DELETE", "join", t("lottery.left"));
    const join = () => act("POST", "join", t("lottery.joined"));
    out.push(
      lot.joined
        ? button(t("lottery.leave"), "", leave, { id: "leave" })
        : button(t("lottery.join"), "primary big", join, { id: "join" }),
    );
    if (lot.joined) out.unshift(el("p", { class: "in ok" }, t("lottery.you_are_in")));
  }
  if (lot.is_creator && lot.status === "open") {
    const cancel = () => act("POST", "cancel", t("lottery.canceled_toast"));
    const ask = () => confirmThen(t("lottery.cancel_confirm"), t("lottery.cancel"), cancel);
    out.push(button(t("lottery.cancel"), "danger", ask, { id: "cancel" }));
  }
  if (lot.is_creator && (lot.status === "canceled" || (lot.status === "open" && lot.participants === 0))) {
    const ask = () => confirmThen(t("lottery.delete_confirm"), t("lottery.delete"), remove);
    out.push(button(t("lottery.delete"), "danger", ask, { id: "delete" }));
  }
  const focused = keepFocus || (document.activeElement && document.activeElement.id);
  keepFocus = "";
  box.replaceChildren(...out);
  if (focused && box.querySelector(`#${focused}`)) box.querySelector(`#${focused}`).focus();
  else if (focused === "join" && $("#leave")) $("#leave").focus(); // keep the keyboard in place
  else if (focused === "leave" && $("#join")) $("#join").focus();
}

function deleted() {
  gone = true;
  clearTimeout(pollTimer);
  $("#status").dataset.status = "deleted";
  $("#status").textContent = t("lottery.deleted");
  $("#clock-box").hidden = true;
  $(".share").hidden = true;
  $("#actions").replaceChildren(el("a", { class: "button", href: "/" }, t("lottery.home")));
  $("#result").className = "result canceled";
  $("#result").replaceChildren(el("p", { class: "headline" }, t("lottery.deleted_text")));
  $("#result").hidden = false;
  say(t("lottery.deleted"));
}

// -- doing things ----------------------------------------------------------------------

function failed(e) {
  const text =
    e && e.code === "lottery_not_open"
      ? t("lottery.not_open")
      : e && e.status === 503
        ? t("common.unavailable")
        : e && e.status
          ? e.message || t("common.http_error", { status: e.status })
          : t("common.network");
  $("#action-error").textContent = text;
}

async function act(method, what, done) {
  if (busy) return;
  busy = true;
  keepFocus = document.activeElement && document.activeElement.id; // disabling blurs it
  $("#action-error").textContent = "";
  for (const b of $("#actions").querySelectorAll("button")) b.disabled = true;
  try {
    show(await playerApi(method, `/v1/lotteries/${id}/${what}`));
    toast(done); // the toast is a live region: it is read out too
  } catch (e) {
    failed(e);
    refresh();
  } finally {
    busy = false;
    for (const b of $("#actions").querySelectorAll("button")) b.disabled = false;
  }
}

async function remove() {
  $("#action-error").textContent = "";
  try {
    await playerApi("DELETE", `/v1/lotteries/${id}`);
    deleted();
  } catch (e) {
    failed(e);
    refresh();
  }
}

function confirmThen(text, yes, then) {
  const dialog = $("#confirm");
  $("#confirm-text").textContent = text;
  $("#confirm-yes").textContent = yes;
  dialog.addEventListener("close", () => dialog.returnValue === "yes" && then(), { once: true });
  dialog.showModal();
  $("#confirm-no").focus(); // the safe answer first
}

// -- sharing -------------------------------------------------------------------------

$("#share-link").value = link;
$("#share-link").addEventListener("focus", (ev) => ev.target.select());
$("#copy").addEventListener("click", async () => {
  try {
    await navigator.clipboard.writeText(link);
  } catch {
    $("#share-link").select(); // no clipboard (an insecure context): the old way
    if (!document.execCommand("copy")) return toast(t("lottery.copy_failed"));
  }
  toast(t("lottery.copied"));
});
if (navigator.share) {
  const share = $("#share");
  share.hidden = false;
  share.addEventListener("click", () =>
    navigator.share({ title: document.title, text: lot ? lot.title : "", url: link }).catch(() => {}),
  );
}

// -- start -----------------------------------------------------------------------------

async function start() {
  const box = $("#player-box");
  const pending = signIn(box);
  const form = $("#signin", box);
  if (form) {
    // The shared sign-in form speaks of playing; here it is about joining.
    $("h2", form).replaceWith(el("h2", { class: "h3" }, t("lottery.sign_in")));
    $("button[type=submit]", form).textContent = t("lottery.sign_in_button");
  }
  refresh(); // anyone may look; joining needs a player
  await pending;
  $("#who").hidden = false;
  $("#who").replaceChildren(
    el("span", {}, t("player.playing_as", { user: session.user })),
    " ",
    button(t("player.switch"), "quiet", () => (signOut(), location.reload())),
  );
  if (form) refresh();
}

start();
