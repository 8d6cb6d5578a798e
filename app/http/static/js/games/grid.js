// The nine-square grid: eight squares of prizes and "thanks for playing"
// around a centre start button. The button draws; a highlight then runs
// around the ring, slows down and stops on the square of the real result.
import { el, t } from "../common.js";
import { icon, setReady, wait } from "./kit.js";

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
  stage.replaceChildren(el("div", { class: "board-frame" }, board));
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

  start.addEventListener("click", async () => {
    if (busy) return;
    if (!ctx.ready() || !ctx.free()) return ctx.draw(); // sends nothing: says why not
    busy = true;
    update();
    const d = await ctx.draw();
    if (!d) {
      busy = false;
      return update();
    }
    const fits = (s) => (d.won ? !s.thanks && s.key === d.prize?.key : s.thanks);
    let target = items.findIndex(fits);
    if (target < 0) {
      target = 0; // a prize beyond the eight squares: it takes the first one
      items[0] = { ...d.prize, thanks: false };
      cells[0].replaceChildren(icon(items[0]), el("span", { class: "name" }, d.prize.name));
      shown = "";
    }
    if (ctx.reduced) light(target);
    else {
      const steps = 8 * 3 + ((target - lit + 8) % 8);
      for (let k = 1; k <= steps; k++) {
        light(lit + 1);
        const slow = Math.max(0, k - (steps - 8)); // the last lap slows down
        await wait(55 + slow * slow * 6);
      }
    }
    cells[lit].classList.add("hit");
    await wait(ctx.reduced ? 50 : 500);
    cells[lit].classList.remove("hit");
    busy = false;
    ctx.settle(d, { pop: true });
  });

  function update() {
    if (!busy) fill(); // the squares stay as they are while the highlight runs
    setReady(start, ctx.ready(), busy);
    const c = ctx.chances();
    const counted = ctx.info()?.status === "open" && c.left !== Infinity;
    left.textContent = counted ? t("play.grid_left", { n: Math.max(0, c.left) }) : "";
  }

  update();
  return { update };
}
