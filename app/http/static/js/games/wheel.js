// The lucky wheel: one segment per prize of the pool plus "thanks for
// playing". The spin button draws first; the wheel then turns to land on
// the segment of the real result. "×N" draws N in one request and turns to
// each result in turn while a strip under the wheel fills.
import { el, t } from "../common.js";
import { haulStrip, lines, pullButton, pulled, reveal, setPull, setReady, wait } from "./kit.js";

const NS = "http://www.w3.org/2000/svg";
const COLORS = [["#e8342c", "#fff"], ["#fff4d8", "#a3120b"], ["#ff9f1c", "#fff"], ["#fff4d8", "#a3120b"]];
const SPIN_MS = 4600;
const FIRST_MS = 2400; // a pull's first result
const STEP_MS = 520; // and each one after it

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  node.append(...children);
  return node;
}

const polar = (r, deg) => [r * Math.sin((deg * Math.PI) / 180), -r * Math.cos((deg * Math.PI) / 180)];

function face(segs) {
  const n = segs.length;
  const step = 360 / n;
  const g = svg("g");
  segs.forEach((s, i) => {
    const [bg, ink] = s.thanks ? ["#ffd34d", "#8a3b00"] : COLORS[i % COLORS.length];
    const [x0, y0] = polar(96, i * step);
    const [x1, y1] = polar(96, (i + 1) * step);
    const d = `M0 0 L${x0} ${y0} A96 96 0 ${step > 180 ? 1 : 0} 1 ${x1} ${y1} Z`;
    const path = n === 1 ? svg("circle", { r: 96, fill: bg }) : svg("path", { d, fill: bg, stroke: "#f6c343", "stroke-width": 1.2 });
    const label = svg("g", { transform: `rotate(${(i + 0.5) * step})` });
    const size = n > 8 ? 8 : n > 6 ? 9 : 10.5;
    const cjk = /[\u3000-\u9fff]/.test(s.name);
    lines(s.name, cjk ? (n > 8 ? 4 : 5) : n > 8 ? 6 : 9).forEach((line, k) => {
      const y = -74 + k * (size + 2);
      label.append(svg("text", { x: 0, y, "text-anchor": "middle", fill: ink, "font-size": size, "font-weight": 700 }, line));
    });
    const glyph = s.thanks ? "☺" : s.type === "points" ? "★" : s.type === "physical" ? "◆" : "¥";
    label.append(svg("text", { x: 0, y: -45, "text-anchor": "middle", fill: ink, "font-size": 13 }, glyph));
    g.append(path, label);
  });
  return g;
}

function rim() {
  const g = svg("g", { class: "bulbs" });
  for (let i = 0; i < 24; i++) {
    const [x, y] = polar(103, i * 15);
    g.append(svg("circle", { cx: x, cy: y, r: 2.6, class: i % 2 ? "bulb b" : "bulb a" }));
  }
  return g;
}

export default function mount(stage, ctx) {
  const rotor = svg("svg", { viewBox: "-110 -110 220 220", class: "rotor", "aria-hidden": "true" });
  const frame = svg("svg", { viewBox: "-110 -110 220 220", class: "frame", "aria-hidden": "true" });
  frame.append(svg("circle", { r: 106, fill: "none", stroke: "#c8102e", "stroke-width": 10 }), rim());
  const spin = el("button", { type: "button", class: "spin", id: "spin" }, el("span", {}, t("play.wheel_go")));
  const pull = pullButton();
  const strip = haulStrip();
  const list = el("ul", { class: "sr-only", "aria-label": t("play.wheel_segments") });
  const wheel = el("div", { class: "wheel" }, rotor, frame, spin);
  stage.replaceChildren(wheel, el("div", { class: "pull-bar" }, pull), strip, list);
  let segs = [];
  let shown = "";
  let angle = 0;
  let busy = false;

  function draw() {
    segs = ctx.segments();
    const key = JSON.stringify(segs.map((s) => [s.key, s.name]));
    if (key === shown) return;
    shown = key;
    const shownSegs = segs.length ? segs : [{ name: "?", thanks: true }];
    rotor.replaceChildren(svg("circle", { r: 100, fill: "#f6c343" }), face(shownSegs));
    list.replaceChildren(...segs.map((s) => el("li", {}, s.name)));
  }

  // Turn (`turns` whole turns, then on) to the segment of draw d, in `ms`.
  async function land(before, d, turns, ms) {
    const n = before.length;
    let at = before.findIndex((s) => (d.won ? s.key === d.prize?.key : s.thanks));
    if (at < 0) at = n - 1;
    const step = 360 / n;
    const jitter = (Math.random() - 0.5) * step * 0.6;
    const target = 360 - (at + 0.5) * step + jitter; // that segment's centre under the pointer
    const base = angle - (angle % 360);
    let next = base + 360 * (ctx.reduced ? Math.min(turns, 1) : turns) + (((target % 360) + 360) % 360);
    if (next <= angle) next += 360; // always forwards
    angle = next;
    rotor.style.transitionDuration = ctx.reduced ? "0ms" : `${ms}ms`;
    rotor.style.transform = `rotate(${angle}deg)`;
    await wait(ctx.reduced ? 50 : ms + 100);
  }

  // One spin (n = 1) or a pull of n: draw first, then show what was drawn.
  async function go(n) {
    if (busy) return;
    if (!ctx.ready() || !ctx.free()) return ctx.draw(); // sends nothing: says why not
    busy = true; // the face stays as it is until the wheel stops (a level pass moves on)
    update();
    wheel.classList.add("spinning");
    const before = segs;
    const got = await ctx.drawSome(n);
    const draws = got?.draws || [];
    if (!draws.length) {
      wheel.classList.remove("spinning");
      busy = false;
      return update();
    }
    if (n === 1) await land(before, draws[0], 6, SPIN_MS);
    else await reveal(strip, draws, ctx, (d, k) => (k ? land(before, d, 0, STEP_MS) : land(before, d, 3, FIRST_MS)));
    wheel.classList.remove("spinning");
    busy = false;
    ctx.settleMany(draws, { pop: true });
  }

  spin.addEventListener("click", () => go(1));
  pull.addEventListener("click", () => pulled(ctx, busy, () => go(setPull(pull, ctx, busy))));

  function update() {
    if (!busy) draw();
    setReady(spin, ctx.ready(), busy);
    setPull(pull, ctx, busy);
  }

  update();
  return { update };
}
