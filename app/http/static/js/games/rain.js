// Red-envelope (or candy) rain: drops fall while the round is open and the
// player has chances left; each tap on a drop is one draw, and the taps of a
// quarter second go as one request. The big button under the sky does the
// same for keyboards and screen readers. The pace is play.js's: no drops
// before this page's start ("Get ready!"), one request out at a time, and
// none while the server asks to wait (the drops still falling fade, no new
// ones fall).
import { el, t } from "../common.js";
import { prizeName, tally } from "../prize.js";
import { setReady } from "./kit.js";

const MAX_DROPS = 12;
const EVERY_MS = 520;
const WINDOW_MS = 250; // taps this close together go as one request

export default function mount(stage, ctx) {
  const candy = ctx.skin === "candy";
  const sky = el("div", { class: "sky", "aria-hidden": "true" });
  const label = candy ? t("play.rain_grab_candy") : t("play.rain_grab");
  const grab = el("button", { type: "button", class: "grab", id: "grab" }, label);
  const count = el("p", { class: "rain-count" });
  stage.replaceChildren(sky, el("div", { class: "grab-bar" }, grab, count));
  let timer = 0;
  let caught = 0;
  let seq = 0;

  function spawn() {
    if (document.hidden || !ctx.ready() || ctx.paced()) return;
    if (sky.querySelectorAll(".drop:not(.opened)").length >= MAX_DROPS) return;
    const drop = el(
      "button",
      { type: "button", tabindex: "-1", class: `drop ${candy ? `candy c${seq % 5}` : "envelope"}`, "data-n": ++seq },
      el("span", { class: "face", "data-seal": t("play.rain_seal") }),
    );
    const height = sky.clientHeight;
    const fall = ctx.reduced ? 4000 : 3400 + Math.random() * 2600;
    const x = 2 + Math.random() * 96; // across the sky, never past its right edge
    drop.style.left = `calc(${x}% - ${x * (candy ? 0.92 : 0.62)}px)`;
    drop.style.setProperty("--fall", `${height + 110}px`);
    drop.style.setProperty("--spin0", `${Math.round(Math.random() * 40 - 20)}deg`);
    drop.style.setProperty("--spin1", `${Math.round(Math.random() * 60 - 30)}deg`);
    drop.style.animationDuration = `${fall}ms`;
    if (ctx.reduced) {
      drop.classList.add("still"); // no falling: drops appear in place and fade
      drop.style.top = `${10 + Math.random() * 60}%`;
    }
    drop.addEventListener("pointerdown", (ev) => {
      ev.preventDefault(); // a tap, not a focus or a text selection
      open(drop);
    });
    sky.append(drop);
    setTimeout(() => drop.isConnected && !drop.classList.contains("opened") && drop.remove(), fall + 100);
  }

  // A tap that cannot draw now: the drop shakes, and play.js says why.
  function held(drop) {
    if (drop && ctx.ready()) {
      drop.classList.remove("nudged");
      void drop.offsetWidth; // restart the shake
      drop.classList.add("nudged");
    }
    if (!ctx.ready() || !ctx.free()) ctx.draw(); // sends nothing: says why not
  }

  // Taps are sent in small batches (SPEC §3 "count"): the first tap opens a
  // window of WINDOW_MS; the taps within it (at most ctx.most()) go as one
  // request, and each envelope shows its own draw. While that request is
  // out, a tap is held as before (one request at a time).
  let pending = [];
  let sending = false;
  let windowTimer = 0;

  const room = () => (sending || !ctx.free() ? 0 : ctx.most() - pending.length);

  function open(drop) {
    if (drop.classList.contains("opened")) return;
    const left = room();
    if (!ctx.ready() || left <= 0) return held(drop);
    drop.classList.add("opened");
    pending.push(drop);
    if (left === 1) flush(); // the batch is full
    else if (!windowTimer) windowTimer = setTimeout(flush, WINDOW_MS);
  }

  async function flush() {
    clearTimeout(windowTimer);
    windowTimer = 0;
    const drops = pending.splice(0);
    if (!drops.length) return;
    sending = true;
    const got = await ctx.drawSome(drops.length);
    sending = false;
    const draws = got?.draws || [];
    drops.forEach((drop, k) => reveal(drop, draws[k]));
    if (!draws.length) return;
    caught += draws.filter((d) => d.won).length;
    count.textContent = caught ? t("play.rain_caught", { n: caught }) : "";
    show(draws);
    ctx.settleMany(draws);
  }

  // A drop's own result, for a moment: the prize's name, or that it was empty.
  function reveal(drop, d) {
    drop.classList.add(d ? (d.won ? "won" : "lost") : "refused");
    if (d) drop.append(el("span", { class: "got" }, d.won ? prizeName(d, ctx.info()) : t("play.rain_got_empty")));
    setTimeout(() => drop.classList.add("gone"), d ? 700 : 0);
    setTimeout(() => drop.remove(), d ? 1100 : 400);
  }

  // What the envelopes held, opened in the middle of the sky for a moment:
  // the prizes won (the last first), else that they were empty.
  let shown = 0;
  function show(draws) {
    const won = draws.filter((d) => d.won).reverse();
    const names = tally(won, ctx.info());
    const card = el(
      "div",
      { class: `catch ${won.length ? "won" : "lost"}` },
      el("span", { class: "catch-title" }, won.length ? t("play.pop_won") : t("play.rain_empty")),
      names.length ? el("strong", {}, names[0]) : null,
      names.length > 1 ? el("span", { class: "catch-more" }, names.slice(1).join(t("play.list_sep"))) : null,
    );
    sky.querySelector(".catch")?.remove();
    sky.append(card);
    clearTimeout(shown);
    shown = setTimeout(() => {
      card.classList.add("gone");
      setTimeout(() => card.remove(), 400);
    }, won.length ? 1800 : 1000);
  }

  // The keyboard's way in: open the lowest drop still falling, or one that
  // appears for the purpose.
  grab.addEventListener("click", () => {
    if (!ctx.ready() || room() <= 0) return held(null);
    const falling = [...sky.querySelectorAll(".drop:not(.opened)")];
    const lowest = falling.sort((a, b) => b.getBoundingClientRect().top - a.getBoundingClientRect().top)[0];
    if (lowest) return open(lowest);
    spawn();
    const made = sky.lastElementChild;
    if (made) open(made);
  });

  function update() {
    const on = ctx.ready();
    setReady(grab, on);
    stage.classList.toggle("raining", on);
    stage.classList.toggle("paced", ctx.paced());
    if (on && !timer) {
      spawn();
      timer = setInterval(spawn, EVERY_MS);
    } else if (!on && timer && ctx.chances().left <= 0) {
      clearInterval(timer); // no chance left, or the round closed: the rain stops
      timer = 0;
      for (const drop of sky.querySelectorAll(".drop:not(.opened)")) {
        drop.classList.add("gone");
        setTimeout(() => drop.remove(), 400);
      }
    }
  }

  return { update };
}
