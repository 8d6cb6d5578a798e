// The odds as a player reads them: a pool's table, a band's name, a prize's
// chance (play.js shows them beside every game).
import { el, number, percent, t } from "./common.js";

export const thanksName = (p) => p?.prizes.find((z) => z.type === "empty")?.name || t("play.thanks");

export function bandName(p) {
  const min = number(p.amount_min);
  return p.amount_max == null ? t("play.band_from", { min }) : t("play.band", { min, max: number(p.amount_max) });
}

// A prize's chance as the page states it: manual odds as configured; auto odds
// at full stock (weight × quantity over the pool's sum).
export function chanceOf(prize, p, manual) {
  if (manual) return prize.probability || 0;
  const real = p.prizes.filter((z) => z.type !== "empty");
  const sum = real.reduce((s, z) => s + (z.weight ?? 1) * (z.quantity || 0), 0);
  return sum ? ((prize.weight ?? 1) * (prize.quantity || 0)) / sum : 0;
}

function remainder(p) {
  const real = p.prizes.filter((z) => z.type !== "empty");
  return Math.max(0, 1 - real.reduce((s, z) => s + (z.probability || 0), 0));
}

export function oddsTable(p, manual) {
  const real = p.prizes.filter((z) => z.type !== "empty");
  const row = (name, chance, qty) =>
    el("tr", {}, el("th", { scope: "row" }, name), el("td", {}, chance), el("td", {}, qty));
  const auto = (z) => t("play.auto_chance", { weight: number(z.weight ?? 1), chance: percent(chanceOf(z, p, false)) });
  const rows = real.map((z) => row(z.name, manual ? percent(z.probability || 0) : auto(z), number(z.quantity || 0)));
  rows.push(row(thanksName(p), manual ? percent(remainder(p)) : t("play.auto_empty"), "–"));
  return el(
    "table",
    { class: "odds-table" },
    el("thead", {}, el("tr", {}, ...["play.prize", "play.chance", "play.per_round"].map((k) => el("th", { scope: "col" }, t(k))))),
    el("tbody", {}, rows),
  );
}
