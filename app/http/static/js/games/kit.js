// What the games share that is not about drawing: timing, prize badges, and
// the "×N" pull with its strip of results.
import { el, t } from "../common.js";
import { prizeName } from "../prize.js";

export const wait = (ms) => new Promise((r) => setTimeout(r, ms));

const GLYPH = { coupon: "¥", points: "★", physical: "◆", empty: "☺" };

// A prize's badge: its image when it has one, else a glyph for its type.
export function icon(prize) {
  const type = prize.thanks ? "empty" : prize.type;
  if (prize.image_url) {
    return el("span", { class: `icon ${type}` }, el("img", { src: prize.image_url, alt: "", loading: "lazy" }));
  }
  return el("span", { class: `icon ${type}`, "aria-hidden": "true" }, GLYPH[type] || "★");
}

// A name in at most two short lines (a wheel's segment, a grid's cell).
export function lines(name, max = 8) {
  const text = String(name).trim();
  if (text.length <= max) return [text];
  const cut = (s, n) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);
  const words = text.split(/\s+/);
  if (words.length > 1) {
    let first = words.shift();
    while (words.length && `${first} ${words[0]}`.length <= max) first = `${first} ${words.shift()}`;
    return [cut(first, max + 2), words.length ? cut(words.join(" "), max + 3) : ""].filter(Boolean);
  }
  return [text.slice(0, max), cut(text.slice(max), max)]; // CJK: no spaces, cut by characters
}

// The one primary button of a game: aria-disabled (not disabled) when no
// chance is left, so it keeps its focus and a press says why.
export function setReady(button, ready, busy = false) {
  button.setAttribute("aria-disabled", String(!ready || busy));
  button.classList.toggle("off", !ready && !busy); // greyed when no chance; not while it plays
}

// The "×N" button beside a game's own (SPEC §3 "count"): N draws in one
// request, where the activity lets a request carry more than one.
export function pullButton() {
  return el("button", { type: "button", class: "pull", id: "pull" });
}

// Its label and state: N is what one request may carry now (the chances left
// within max_count); hidden where a request carries one draw.
export function setPull(button, ctx, busy) {
  const max = ctx.info()?.max_count || 1;
  button.hidden = max < 2;
  const n = ctx.most() >= 2 ? ctx.most() : max;
  button.textContent = t("play.ten_go", { n });
  // The name starts with what is seen (WCAG 2.5.3), then says it plainly.
  button.setAttribute("aria-label", `${t("play.ten_go", { n })}: ${t("play.ten_label", { n })}`);
  setReady(button, ctx.ready() && ctx.most() >= 2, busy);
  return n;
}

// A press on "×N": the pull, or why not (fewer than two chances: one at a time).
export function pulled(ctx, busy, go) {
  if (busy) return;
  if (!ctx.ready() || !ctx.free()) return ctx.draw(); // sends nothing: says why not
  if (ctx.most() < 2) return ctx.say(t("play.ten_few"), "note");
  go();
}

// The draws of one pull, one after another: `point(d, k)` moves the game to
// draw k's result, then its slot in the strip shows it.
export async function reveal(strip, draws, ctx, point) {
  strip.replaceChildren(...draws.map(() => el("li", { class: "slot" })));
  strip.hidden = false;
  const known = ctx.segments();
  for (const [k, d] of draws.entries()) {
    await point(d, k);
    const prize = d.won ? known.find((s) => s.key === d.prize?.key) || d.prize : { thanks: true };
    strip.children[k].className = `slot ${d.won ? "won" : "lost"}`;
    strip.children[k].replaceChildren(icon(prize), el("span", { class: "name" }, d.won ? prizeName(d, ctx.info()) : t("play.thanks")));
  }
}

// The strip a pull fills, labelled for screen readers.
export const haulStrip = () => el("ol", { class: "haul", hidden: true, "aria-label": t("play.ten_haul") });
