// Red-envelope (or candy) rain: drops fall while the round is open and the
// player has chances left; each tap on a drop is one draw. The big button
// under the sky does the same for keyboards and screen readers. The pace is
// play.js's: no drops before this page's start ("Get ready!"), one envelope
// opening at a time, and none while the server asks to wait (the drops
// still falling fade, no new ones fall).
import { el, t } from "../common.js";
import { setReady, wait } from "./kit.js";

const MAX_DROPS = 12;
const EVERY_MS = 520;

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
    ctx.draw(); // sends nothing: says why not
  }

  async function open(drop) {
    if (drop.classList.contains("opened")) return;
    if (!ctx.ready() || !ctx.free()) return held(drop);
    drop.classList.add("opened");
    const d = await ctx.draw();
    drop.classList.add(d ? (d.won ? "won" : "lost") : "refused", "gone");
    setTimeout(() => drop.remove(), 400);
    if (!d) return;
    if (d.won) caught++;
    count.textContent = caught ? t("play.rain_caught", { n: caught }) : "";
    show(d);
    ctx.settle(d);
  }

  // What the envelope held, opened in the middle of the sky for a moment.
  let shown = 0;
  function show(d) {
    const card = el(
      "div",
      { class: `catch ${d.won ? "won" : "lost"}` },
      el("span", { class: "catch-title" }, d.won ? t("play.pop_won") : t("play.rain_empty")),
      d.won ? el("strong", {}, d.prize.name) : null,
    );
    sky.querySelector(".catch")?.remove();
    sky.append(card);
    clearTimeout(shown);
    shown = setTimeout(() => {
      card.classList.add("gone");
      setTimeout(() => card.remove(), 400);
    }, d.won ? 1800 : 1000);
  }

  // The keyboard's way in: open the lowest drop still falling, or one that
  // appears for the purpose.
  grab.addEventListener("click", () => {
    if (!ctx.ready() || !ctx.free()) return held(null);
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
