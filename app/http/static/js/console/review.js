// Step 6: what the configuration makes before it is saved. The server plans
// it (POST /v1/admin/activities/preview) with the very code publishing uses:
// every round, its window in the activity's time zone, each release slice;
// and the budget for a number of players and taps.
import { el, inLanguage, number, t, when } from "../common.js";

const local = (iso) => iso.slice(11, 19); // "2030-12-10T10:00:30+08:00" → "10:00:30"
const day = (iso) => iso.slice(0, 10);
const money = (n) => number(n, 2);

function timeline(r) {
  const start = Date.parse(r.start);
  const length = Math.max(1, Date.parse(r.end) - start);
  const marks = new Map();
  for (const s of r.slices) {
    const at = Date.parse(s.at);
    const m = marks.get(at) || [];
    m.push(s);
    marks.set(at, m);
  }
  return el(
    "div",
    { class: "cal-bar", "aria-hidden": "true" },
    [...marks].map(([at, ss]) =>
      el("span", {
        class: "cal-mark",
        style: { left: `${(100 * (at - start)) / length}%` },
        title: ss.map((s) => `${s.prize} ×${s.quantity} @ ${local(s.at)}`).join("\n"),
      }),
    ),
  );
}

export function calendar(plan) {
  const byDay = new Map();
  for (const r of plan.rounds) {
    const d = day(r.start);
    if (!byDay.has(d)) byDay.set(d, []);
    byDay.get(d).push(r);
  }
  const days = [...byDay].map(([d, rounds]) =>
    el(
      "div",
      { class: "cal-day" },
      el("h4", {}, when(`${d}T12:00:00Z`, "UTC", { dateStyle: "full" })),
      rounds.map((r) =>
        el(
          "div",
          { class: "cal-round", "data-round": r.round },
          el(
            "div",
            { class: "cal-when" },
            el("strong", {}, `${local(r.start)} – ${r.end.slice(0, 10) === d ? local(r.end) : "24:00:00"}`),
            " ",
            el("span", { class: "hint" }, `${t("console.session_n", { n: r.session + 1 })} · ${r.round}`),
          ),
          timeline(r),
          el(
            "ul",
            { class: "cal-slices" },
            r.slices.map((s) =>
              el(
                "li",
                { class: "cal-slice", "data-prize": s.prize, "data-at": local(s.at) },
                el("span", { class: "mono" }, local(s.at)),
                " ",
                el("strong", {}, s.prize),
                ` ×${number(s.quantity)}`,
              ),
            ),
          ),
        ),
      ),
    ),
  );
  const more = plan.rounds_total - plan.rounds.length;
  return el(
    "section",
    { id: "calendar", class: "card" },
    el("h2", {}, t("console.calendar")),
    el("p", { class: "hint", id: "calendar-summary" }, t("console.calendar_summary", { n: plan.rounds_total, zone: plan.timezone })),
    days,
    more > 0 ? el("p", { class: "hint" }, t("console.calendar_more", { n: more })) : null,
  );
}

function kpi(name, label, value) {
  return el("div", { class: "kpi", "data-kpi": name }, el("span", { class: "hint" }, label), el("strong", {}, value));
}

// The budget panel: its inputs stay, its figures follow each plan.
export function budgetPanel(inputs, onchange) {
  const players = el("input", { id: "budget-players", type: "number", min: "0", step: "1", inputmode: "numeric", value: inputs.players });
  const taps = el("input", { id: "budget-taps", type: "number", min: "1", step: "1", inputmode: "numeric", value: inputs.taps });
  const read = () => {
    inputs.players = Math.max(0, Math.floor(Number(players.value) || 0));
    inputs.taps = Math.max(1, Math.floor(Number(taps.value) || 1));
    onchange();
  };
  players.addEventListener("change", read);
  taps.addEventListener("change", read);
  return el(
    "section",
    { id: "budget", class: "card" },
    el("h2", {}, t("console.budget")),
    el("p", { class: "hint" }, t("console.budget_hint")),
    el(
      "div",
      { class: "row" },
      el("label", { for: "budget-players" }, t("console.players"), players),
      el("label", { for: "budget-taps" }, t("console.taps"), taps),
    ),
    el("div", { id: "budget-figures" }),
  );
}

export function budgetFigures(plan) {
  const b = plan.budget;
  if (!b) return el("p", { class: "hint" }, t("console.budget_none"));
  const first = b.rounds[0];
  const perPrize = first
    ? el("div", { class: "scroll", tabindex: "0", role: "region", "aria-label": t("console.budget_first", { round: first.round }) }, el(
        "table",
        { id: "budget-first" },
        el("caption", {}, t("console.budget_first", { round: first.round })),
        el(
          "thead",
          {},
          el("tr", {}, [t("console.prize_name"), t("console.quantity"), t("console.cost"), t("console.expected_wins"), t("console.runs_out")].map((h) => el("th", { scope: "col" }, h))),
        ),
        el(
          "tbody",
          {},
          first.prizes
            .filter((p) => p.quantity > 0)
            .map((p) =>
              el(
                "tr",
                { "data-prize": p.key },
                el("td", {}, inLanguage(p.name), " ", el("span", { class: "hint mono" }, p.key)),
                el("td", {}, number(p.quantity)),
                el("td", {}, p.cost === null ? "–" : money(p.cost)),
                el("td", { class: "wins" }, number(p.expected_wins, 1)),
                el("td", { class: "runs-out", "data-prize": p.key }, p.runs_out ? local(p.runs_out) : t("console.lasts")),
              ),
            ),
        ),
      ))
    : null;
  const rounds = el(
    "details",
    {},
    el("summary", {}, t("console.budget_rounds", { n: b.rounds.length })),
    el(
      "table",
      {},
      el("thead", {}, el("tr", {}, [t("console.round"), t("console.draws"), t("console.expected_cost"), t("console.max_cost")].map((h) => el("th", { scope: "col" }, h)))),
      el(
        "tbody",
        {},
        b.rounds.map((r) => el("tr", {}, el("td", { class: "mono" }, r.round), el("td", {}, number(r.draws)), el("td", {}, money(r.expected_cost)), el("td", {}, money(r.max_cost)))),
      ),
    ),
  );
  return el(
    "div",
    {},
    el(
      "div",
      { class: "kpis" },
      kpi("expected_cost", t("console.expected_cost_all", { n: b.rounds_total }), money(b.expected_cost)),
      kpi("max_cost", t("console.max_cost_all"), money(b.max_cost)),
      kpi("draws", t("console.draws_all"), number(b.draws)),
    ),
    b.uncosted.length ? el("p", { class: "hint warn" }, t("console.uncosted", { keys: b.uncosted.join(", ") })) : null,
    perPrize,
    rounds,
  );
}
