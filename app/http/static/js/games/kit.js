// What the games share that is not about drawing: timing and prize badges.
import { el } from "../common.js";

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
