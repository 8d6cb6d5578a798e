// The scratch card. The first stroke on the silver coating (or the "reveal"
// button, for keyboards) draws, spending the player's oldest unused grant
// when the activity draws on grants; scratching half of it away, or the
// button, reveals the real result underneath.
import { el, number, t } from "../common.js";
import { icon, setReady, wait } from "./kit.js";

const BRUSH = 34;

export default function mount(stage, ctx) {
  const canvas = el("canvas", { class: "coat", "aria-hidden": "true" });
  const under = el("div", { class: "under", "aria-hidden": "true" });
  const reveal = el("button", { type: "button", class: "reveal", id: "reveal" }, t("play.scratch_reveal"));
  const next = el("button", { type: "button", class: "next", id: "next-card", hidden: true }, t("play.scratch_next"));
  const head = el("p", { class: "ticket-note" });
  const wallet = el("p", { class: "wallet" });
  const card = el(
    "div",
    { class: "ticket" },
    el("p", { class: "ticket-title" }, t("play.scratch_title")),
    head,
    el("div", { class: "scratch-area" }, under, canvas),
    el("div", { class: "ticket-foot" }, reveal, next),
  );
  stage.replaceChildren(card, wallet);
  // idle → drawing → drawn → shown; "drawing" and "drawn" can be scratched.
  let phase = "idle";
  let result = null;
  let last = null;
  let strokes = 0;

  function paint() {
    const box = canvas.getBoundingClientRect();
    if (!box.width) return;
    const dpr = window.devicePixelRatio || 1;
    canvas.width = Math.round(box.width * dpr);
    canvas.height = Math.round(box.height * dpr);
    const g = canvas.getContext("2d");
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.globalCompositeOperation = "source-over";
    const [w, h] = [box.width, box.height];
    const grad = g.createLinearGradient(0, 0, w, h);
    grad.addColorStop(0, "#aeb4bd");
    grad.addColorStop(0.5, "#e9ecf0");
    grad.addColorStop(1, "#9aa1ab");
    g.fillStyle = grad;
    g.fillRect(0, 0, w, h);
    g.strokeStyle = "rgba(255,255,255,.35)";
    g.lineWidth = 2;
    for (let x = -h; x < w; x += 16) {
      g.beginPath();
      g.moveTo(x, h);
      g.lineTo(x + h, 0);
      g.stroke();
    }
    g.fillStyle = "#4b5563";
    g.textAlign = "center";
    g.textBaseline = "middle";
    g.font = `700 ${Math.min(26, w / 11)}px ${getComputedStyle(document.body).fontFamily}`;
    g.fillText(t("play.scratch_here"), w / 2, h / 2);
    canvas.classList.remove("gone");
  }

  function showUnder(d) {
    under.className = `under ${d ? (d.won ? "won" : "lost") : "wait"}`;
    if (!d) return under.replaceChildren(el("span", { class: "hint" }, t("play.scratch_drawing")));
    const prize = d.won ? d.prize : { name: t("play.no_prize"), thanks: true };
    under.replaceChildren(
      icon(prize),
      el("strong", {}, d.won ? d.prize.name : t("play.scratch_lost")),
      el("small", {}, d.won ? t("play.scratch_won") : t("play.scratch_again")),
    );
  }

  async function start() {
    if (phase !== "idle") return phase !== "shown";
    if (!ctx.ready() || !ctx.free()) {
      ctx.draw(); // sends nothing: says why not
      return false;
    }
    phase = "drawing";
    showUnder(null);
    update();
    const d = await ctx.draw();
    if (!d) {
      phase = "idle";
      under.replaceChildren();
      paint();
      update();
      return false;
    }
    result = d;
    phase = "drawn";
    showUnder(d);
    update();
    if (cleared() > 0.5) done();
    return true;
  }

  function cleared() {
    if (!canvas.width) return 1;
    const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
    let clear = 0;
    let all = 0;
    for (let i = 3; i < data.length; i += 4 * 23) {
      all++;
      if (data[i] < 128) clear++;
    }
    return clear / all;
  }

  async function done() {
    if (phase !== "drawn") return;
    phase = "shown";
    canvas.classList.add("gone");
    under.removeAttribute("aria-hidden");
    update();
    ctx.settle(result);
    await wait(ctx.reduced ? 0 : 350);
    reveal.hidden = true;
    next.hidden = false;
    next.focus();
  }

  function scratch(ev) {
    const box = canvas.getBoundingClientRect();
    const p = [ev.clientX - box.left, ev.clientY - box.top];
    const g = canvas.getContext("2d");
    g.globalCompositeOperation = "destination-out";
    g.lineCap = "round";
    g.lineJoin = "round";
    g.lineWidth = BRUSH;
    g.beginPath();
    g.moveTo(...(last || [p[0] - 0.5, p[1]]));
    g.lineTo(...p);
    g.stroke();
    last = p;
    if (++strokes % 12 === 0 && phase === "drawn" && cleared() > 0.5) done();
  }

  canvas.addEventListener("pointerdown", async (ev) => {
    if (phase === "shown") return;
    ev.preventDefault();
    canvas.setPointerCapture(ev.pointerId);
    last = null;
    if (phase === "idle" && !(await start())) return;
    scratch(ev);
  });
  canvas.addEventListener("pointermove", (ev) => {
    if (ev.buttons && (phase === "drawing" || phase === "drawn")) scratch(ev);
  });
  canvas.addEventListener("pointerup", () => {
    last = null;
    if (phase === "drawn" && cleared() > 0.5) done();
  });

  reveal.addEventListener("click", async () => {
    if (phase === "drawing") return;
    if (phase === "idle" && !(await start())) return;
    done();
  });

  next.addEventListener("click", () => {
    phase = "idle";
    result = null;
    under.replaceChildren();
    under.setAttribute("aria-hidden", "true");
    next.hidden = true;
    reveal.hidden = false;
    paint();
    update();
    reveal.focus();
  });

  function update() {
    const ready = ctx.ready();
    const grants = ctx.needsGrant() ? ctx.grants() : null;
    const g = phase === "idle" ? grants?.[0] : result?.grant;
    head.textContent = g ? t("play.scratch_amount", { amount: number(g.amount) }) : t("play.scratch_rule");
    wallet.textContent = grants?.length ? t("play.scratch_cards", { n: grants.length }) : "";
    wallet.hidden = !grants?.length;
    card.classList.toggle("spent", phase === "idle" && !ready);
    setReady(reveal, ready || phase === "drawn", phase === "drawing");
    setReady(next, ready);
  }

  paint();
  new ResizeObserver(() => phase === "idle" && paint()).observe(canvas);
  update();
  return { update };
}
