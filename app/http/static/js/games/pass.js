// The level pass (a count activity): the player's n-th draw plays level n,
// whose pool the server picks; the page only shows the levels, where the
// player stands, each level's prizes and what each played level gave.
import { el, percent, t } from "../common.js";
import { setReady, wait } from "./kit.js";

export default function mount(stage, ctx) {
  const path = el("ol", { class: "levels", tabindex: "0", "aria-label": t("play.pass_levels") }); // it may scroll
  const go = el("button", { type: "button", class: "go-level", id: "go-level" });
  stage.replaceChildren(path, el("div", { class: "pass-bar" }, go));
  let busy = false;
  let rolling = 0;

  function current() {
    const info = ctx.info();
    const last = ctx.lastLevel();
    const next = info.next_level || 1;
    return info.after_last_pool === "repeat_last" ? Math.min(next, last) : next;
  }

  function render() {
    const info = ctx.info();
    const manual = info.probability === "manual";
    const now = current();
    const results = new Map(ctx.results().filter((r) => r.level).map((r) => [r.level, r]));
    const items = ctx.levels().map((p) => {
      const n = p.nth;
      const played = results.get(n);
      const state = n === rolling ? "rolling" : n < now ? "done" : n === now ? "current" : "locked";
      const chips = p.prizes
        .filter((z) => z.type !== "empty")
        .map((z) => el("li", {}, z.name, el("small", {}, percent(ctx.chanceOf(z, p, manual)))));
      let outcome = null;
      if (played) outcome = played.won ? t("play.pass_got", { prize: played.prize?.name }) : t("play.pass_missed");
      return el(
        "li",
        { class: `level ${state}${played?.won ? " won" : ""}`, "aria-current": state === "current" ? "step" : null },
        el("span", { class: "node", "aria-hidden": "true" }, state === "done" ? "✓" : String(n)),
        el(
          "div",
          { class: "level-body" },
          el(
            "p",
            { class: "level-title" },
            t("play.level_n", { n }),
            state === "current" ? el("span", { class: "tag" }, t("play.pass_next")) : null,
          ),
          el("ul", { class: "chips" }, chips),
          outcome ? el("p", { class: "level-result" }, outcome) : null,
        ),
      );
    });
    path.replaceChildren(...items);
    go.hidden = info.after_last_pool !== "repeat_last" && now > ctx.lastLevel(); // cleared: the notice says so
    go.textContent = t("play.pass_go", { n: Math.min(now, ctx.lastLevel()) });
  }

  go.addEventListener("click", async () => {
    if (busy) return;
    if (!ctx.ready() || !ctx.free()) return ctx.draw(); // sends nothing: says why not
    busy = true;
    rolling = current();
    update();
    const [d] = await Promise.all([ctx.draw(), wait(ctx.reduced ? 0 : 900)]);
    rolling = 0;
    busy = false;
    if (d) ctx.settle(d, { pop: true });
    update();
    path.querySelector(".current")?.scrollIntoView({ block: "nearest", behavior: ctx.reduced ? "auto" : "smooth" });
  });

  function update() {
    render();
    setReady(go, ctx.ready(), busy);
  }

  update();
  return { update };
}
