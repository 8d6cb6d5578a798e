// "My results" on a game's page: the draws of this visit and the player's
// history (GET /v1/me/draws), newest first, each with its prize, its
// delivery and a link to verify it.
import { $, el, roundName, t, when } from "./common.js";
import { playerApi } from "./player.js";
import { deliveryLine, prizeName } from "./prize.js";

const verifyHref = (d) => `/verify?draw=${encodeURIComponent(d.draw_id)}`;

// Newest first; the draws of one request (one time) by their nonce.
const newestFirst = (a, b) => Date.parse(b.at) - Date.parse(a.at) || (b.proof?.nonce || 0) - (a.proof?.nonce || 0);

export class Results {
  constructor(aid, info) {
    this.aid = aid;
    this.info = info; // () => the activity's public rules
    this.shown = new Map(); // draw_id → result
    this.render = this.render.bind(this);
  }

  all() {
    return [...this.shown.values()];
  }

  add(d) {
    if (!this.shown.has(d.draw_id)) this.shown.set(d.draw_id, d);
    this.render();
  }

  render() {
    const info = this.info();
    const list = this.all().sort(newestFirst);
    $("#no-results").hidden = list.length > 0;
    $("#results").replaceChildren(
      ...list.slice(0, 50).map((d) =>
        el(
          "li",
          { class: `result ${d.won ? "won" : "lost"}`, "data-draw": d.draw_id },
          el("span", { class: "badge" }, d.won ? t("play.won") : t("play.lost")),
          el("span", { class: "what" }, d.won ? prizeName(d, info) : t("play.no_prize"), d.won && d.prize?.code ? el("code", { class: "prize-code" }, d.prize.code) : null),
          el(
            "span",
            { class: "meta" },
            d.level ? `${t("play.level_n", { n: d.level })} · ` : "",
            when(d.at, info?.timezone, { timeStyle: "medium" }),
            " · ",
            roundName(d.round_id, info),
          ),
          deliveryLine(d, info, this.render),
          el("a", { class: "verify", href: verifyHref(d), "aria-label": t("play.verify_draw", { round: roundName(d.round_id, info) }) }, t("play.verify")),
        ),
      ),
    );
  }

  // The player's earlier draws of this activity (up to 100).
  async load() {
    try {
      const got = await playerApi("GET", `/v1/me/draws?activity_id=${this.aid}&limit=100`);
      const rows = got.draws.slice().reverse(); // oldest first: a count activity's k-th draw is level k
      const counted = this.info().kind === "count" && rows.length < 100;
      rows.forEach((h, k) => {
        if (!this.shown.has(h.draw_id)) this.shown.set(h.draw_id, { ...h, at: h.drawn_at, level: counted ? k + 1 : null });
      });
      this.render();
    } catch {
      /* history is a convenience: the draws themselves are safe */
    }
  }
}
