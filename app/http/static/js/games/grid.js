// The nine-square grid: eight squares of prizes and "thanks for playing"
// around a centre start button. The button draws; a highlight then runs
// around the ring, slows down and stops on the square of the real result.
// "×N" draws N in one request; the highlight hops to each result in turn
// while a strip under the board fills.
import { el, t } from "../common.js";
import { haulStrip, icon, pullButton, pulled, reveal, setPull, setReady, wait } from "./kit.js";

const RING = [0, 1, 2, 5, 8, 7, 6, 3]; // grid positions, clockwise from the top left

// Eight squares: the prizes, with "thanks" filling the rest (spread out).
function squares(segs) {
  const thanks = segs.find((s) => s.thanks);
  const real = segs.filter((s) => !s.thanks).slice(0, 7);
  const out = [];
  const gaps = 8 - real.length;
  for (let i = 0, r = 0, g = 0; i < 8; i++) {
    const wantGap = g < gaps && (r >= real.length || Math.floor(((i + 1) * gaps) / 8) > g);
    if (wantGap) {
      out.push(thanks);
      g++;
    } else out.push(real[r++]);
  }
  return out;
}

export default function mount(stage, ctx) {
  const left = el("small", { id: "go-left" });
  const start = el("button", { type: "button", class: "go", id: "go" }, el("strong", {}, t("play.grid_go")), left);
  const cells = [];
  const board = el("div", { class: "board" });
  for (let pos = 0; pos < 9; pos++) {
    if (pos === 4) board.append(start);
    else {
      const cell = el("div", { class: "cell" });
      cells[RING.indexOf(pos)] = cell;
      board.append(cell);
    }
  }
  const pull = pullButton();
  const strip = haulStrip();
  stage.replaceChildren(el("div", { class: "board-frame" }, board), el("div", { class: "pull-bar" }, pull), strip);
  let items = [];
  let shown = "";
  let lit = 0;
  let busy = false;

  function fill() {
    items = squares(ctx.segments());
    const key = JSON.stringify(items.map((s) => s && s.key + s.name));
    if (key === shown || !items[0]) return;
    shown = key;
    items.forEach((s, i) => {
      cells[i].classList.toggle("thanks", s.thanks);
      cells[i].dataset.key = s.thanks ? "" : s.key;
      cells[i].replaceChildren(icon(s), el("span", { class: "name" }, s.name));
    });
  }

  function light(i) {
    cells[lit]?.classList.remove("lit");
    lit = i % 8;
    cells[lit].classList.add("lit");
  }

  // Where draw d lands: its square (a prize beyond the eight takes the first).
  function squareOf(d) {
    const fits = (s) => (d.won ? !s.thanks && s.key === d.prize?.key : s.thanks);
    const at = items.findIndex(fits);
    if (at >= 0) return at;
    items[0] = { ...d.prize, thanks: false };
    cells[0].replaceChildren(icon(items[0]), el("span", { class: "name" }, d.prize.name));
    shown = "";
    return 0;
  }

  // Run the highlight `laps` times round, then on to draw d's square; the
  // last lap slows down.
  async function runTo(d, laps) {
    const target = squareOf(d);
    if (ctx.reduced) return light(target);
    const steps = 8 * laps + ((target - lit + 8) % 8 || (laps ? 0 : 8));
    for (let k = 1; k <= steps; k++) {
      light(lit + 1);
      const slow = laps ? Math.max(0, k - (steps - 8)) : 0;
      await wait(laps ? 55 + slow * slow * 6 : 45);
    }
  }

  async function hit() {
    cells[lit].classList.add("hit");
    await wait(ctx.reduced ? 50 : 500);
    cells[lit].classList.remove("hit");
  }

  // One draw (n = 1) or a pull of n: draw first, then show what was drawn.
  async function go(n) {
    if (busy) return;
    if (!ctx.ready() || !ctx.free()) return ctx.draw(); // sends nothing: says why not
    busy = true;
    update();
    const got = await ctx.drawSome(n);
    const draws = got?.draws || [];
    if (!draws.length) {
      busy = false;
      return update();
    }
    if (n === 1) {
      await runTo(draws[0], 3);
      await hit();
    } else {
      await reveal(strip, draws, ctx, async (d, k) => {
        await runTo(d, k ? 0 : 2);
        await wait(ctx.reduced ? 0 : 160);
      });
      await hit();
    }
    busy = false;
    ctx.settleMany(draws, { pop: true });
  }

  start.addEventListener("click", () => go(1));
  pull.addEventListener("click", () => pulled(ctx, busy, () => go(setPull(pull, ctx, busy))));

  function update() {
    if (!busy) fill(); // the squares stay as they are while the highlight runs
    setReady(start, ctx.ready(), busy);
    setPull(pull, ctx, busy);
    const c = ctx.chances();
    const counted = ctx.info()?.status === "open" && c.left !== Infinity;
    left.textContent = counted ? t("play.grid_left", { n: Math.max(0, c.left) }) : "";
  }

  update();
  return { update };
}
