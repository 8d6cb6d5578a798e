// After publish: redemption codes and deliveries of a live activity, and the
// user lookup for disputes (#/users/<user_id>).
import { $, el, inLanguage, number, prizesOf, t } from "../common.js";
import { stamp, table } from "./admin.js";
import { confirmWith } from "./confirm.js";
import { api, can, downloadCsv, failure, flash, views } from "./state.js";


// -- codes ------------------------------------------------------------------------

// One code per line (or comma); blanks dropped.
const codeList = (text) => text.split(/[\s,;]+/).map((c) => c.trim()).filter(Boolean);

function codesCard(id, a) {
  const coupons = prizesOf(a).filter((p) => p.type === "coupon");
  if (!coupons.length || !can("editor")) return null;
  const prize = el("select", { id: "codes-prize", name: "prize" }, coupons.map((p) => el("option", { value: p.key }, `${inLanguage(p.name)} (${p.key})`)));
  const text = el("textarea", { id: "codes-text", name: "codes", rows: "4", placeholder: "TEA-0001\nTEA-0002", "aria-describedby": "codes-hint codes-result" });
  const count = el("span", { class: "hint", id: "codes-hint" }, t("console.codes_hint"));
  const result = el("p", { id: "codes-result", role: "status" });
  text.addEventListener("input", () => (count.textContent = t("console.codes_count", { n: codeList(text.value).length })));
  const form = el(
    "form",
    { id: "codes-form", class: "card" },
    el("h2", {}, t("console.codes_title")),
    el("p", { class: "hint" }, t("console.codes_what")),
    el("label", {}, t("console.codes_prize"), prize),
    el("label", {}, t("console.codes_label"), text),
    count,
    el("div", { class: "row" }, el("button", { type: "submit", class: "primary" }, t("console.codes_upload"))),
    result,
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const codes = codeList(text.value);
    if (!codes.length) return (result.textContent = t("console.codes_none"));
    const ok = await confirmWith({
      title: t("console.codes_confirm", { n: codes.length }),
      lines: [t("console.codes_confirm_prize", { prize: prize.selectedOptions[0].textContent })],
      ok: t("console.codes_upload"),
    });
    if (!ok) return;
    try {
      const got = await api("POST", `/v1/admin/activities/${id}/prizes/${encodeURIComponent(prize.value)}/codes`, { codes });
      result.textContent = t("console.codes_added", got);
      text.value = "";
      flash(t("console.codes_added", got));
    } catch (e) {
      result.textContent = e.code === "duplicate_codes" ? t("console.codes_duplicate") : failure(e);
    }
  });
  return form;
}

// -- deliveries -------------------------------------------------------------------

async function deliveriesCard(id, a) {
  if (!prizesOf(a).some((p) => p.type === "physical")) return null;
  const box = el("section", { id: "deliveries", class: "card" }, el("h2", {}, t("console.deliveries_title")));
  const names = new Map(prizesOf(a).map((p) => [p.key, p.name]));
  const load = async () => {
    const { deliveries } = await api("GET", `/v1/admin/activities/${id}/deliveries?limit=100`);
    const rows = deliveries.map((w) => {
      const d = w.delivery;
      const where = d.address ? [d.name, d.phone, d.address].join(" · ") : "–";
      let action = null;
      if (d.status === "address_given" && can("editor")) {
        const tracking = el("input", { name: "tracking", required: true, maxlength: "200", "aria-label": t("console.tracking"), placeholder: t("console.tracking") });
        action = el("form", { class: "row ship" }, tracking, el("button", { type: "submit" }, t("console.ship")));
        action.addEventListener("submit", async (ev) => {
          ev.preventDefault();
          try {
            await api("POST", `/v1/admin/deliveries/${encodeURIComponent(w.draw_id)}/ship`, { tracking: tracking.value.trim() });
            flash(t("console.shipped_done", { user: w.user_id }));
            await load();
          } catch (e) {
            flash(failure(e), true);
          }
        });
      }
      return el(
        "tr",
        { "data-draw": w.draw_id },
        el("td", { class: "mono" }, el("a", { href: `#/users/${encodeURIComponent(w.user_id)}` }, w.user_id)),
        el("td", {}, inLanguage(names.get(w.prize_key)) || w.prize_name || w.prize_key), // the console's language
        el("td", {}, el("span", { class: `badge ${d.status}` }, t(`console.delivery_${d.status}`))),
        el("td", {}, where),
        el("td", {}, d.tracking || action || "–"),
      );
    });
    const heads = [t("console.user"), t("console.prize"), t("console.delivery"), t("console.address"), t("console.tracking")];
    box.replaceChildren(el("h2", {}, t("console.deliveries_title")), table("deliveries-list", heads, rows, t("console.deliveries_empty"), t("console.deliveries_title")));
  };
  await load();
  return box;
}

// -- the daily report --------------------------------------------------------------

const money = (n) => (n === null ? "–" : number(n, 2));

// Draws and wins per day as bars (the table below carries the same numbers).
function reportBars(days) {
  const top = Math.max(1, ...days.map((d) => d.draws));
  return el(
    "div",
    { class: "report-bars", "aria-hidden": "true" },
    days.map((d) =>
      el(
        "div",
        { class: "day", title: `${d.day}: ${number(d.draws)} / ${number(d.wins)}` },
        el("div", { class: "bars" }, el("span", { class: "draws", style: { height: `${(d.draws / top) * 100}%` } }), el("span", { class: "wins", style: { height: `${(d.wins / top) * 100}%` } })),
        el("span", { class: "label" }, d.day.slice(5)),
      ),
    ),
  );
}

async function reportCard(id) {
  const rep = await api("GET", `/v1/admin/activities/${id}/report`);
  const heads = [t("console.report_day"), t("console.report_draws"), t("console.report_players"), t("console.report_wins"), t("console.report_cost"), ...rep.prizes.map((p) => inLanguage(p.name))];
  const line = (label, d) => el("tr", {}, el("th", { scope: "row" }, label), el("td", {}, number(d.draws)), el("td", {}, d.players === undefined ? "–" : number(d.players)), el("td", {}, number(d.wins)), el("td", {}, money(d.cost)), d.prizes.map((p) => el("td", {}, `${number(p.wins)}${p.cost === null ? "" : ` · ${money(p.cost)}`}`)));
  const rows = [...rep.days.map((d) => line(d.day, d)), ...(rep.days.length ? [line(t("console.report_total"), rep)] : [])];
  const download = el("button", { type: "button", id: "report-csv", onclick: () => downloadCsv(`/v1/admin/activities/${id}/report?format=csv`, `report-${id}.csv`) }, t("console.report_csv"));
  return el(
    "section",
    { id: "report", class: "card" },
    el("div", { class: "row" }, el("h2", { class: "grow" }, t("console.report_title")), download),
    el("p", { class: "hint" }, t("console.report_what")),
    rep.days.length ? [reportBars(rep.days), el("p", { class: "hint legend" }, el("span", { class: "key draws" }), t("console.report_draws"), " ", el("span", { class: "key wins" }), t("console.report_wins"))] : null,
    table("report-table", heads, rows, t("console.report_empty"), t("console.report_title")),
  );
}

// The live view's cards after publish (live.js).
export async function afterPublish(id, a) {
  const failed = (e) => el("p", { class: "error" }, failure(e));
  return [await reportCard(id).catch(failed), codesCard(id, a), await deliveriesCard(id, a).catch(failed)].filter(Boolean);
}

// -- user lookup ------------------------------------------------------------------

async function show(_name, arg) {
  const wanted = arg ? decodeURIComponent(arg) : "";
  const input = el("input", { id: "lookup-user", name: "user", required: true, maxlength: "128", value: wanted, autocomplete: "off" });
  const form = el("form", { id: "lookup-form", class: "row card" }, el("label", { class: "grow" }, t("console.lookup_user"), input), el("button", { type: "submit", class: "primary" }, t("console.lookup_go")));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    location.hash = `#/users/${encodeURIComponent(input.value.trim())}`;
  });
  const out = el("div", { id: "lookup-result" });
  $("#view-users").replaceChildren(el("h1", {}, t("console.lookup_title")), el("p", { class: "hint" }, t("console.lookup_what")), form, out);
  if (!wanted) return input.focus();
  const u = await api("GET", `/v1/admin/users/${encodeURIComponent(wanted)}`);
  const facts = el(
    "dl",
    { class: "facts card" },
    el("dt", {}, t("console.lookup_blacklist")),
    el("dd", { id: "lookup-blacklist" }, u.blacklisted ? t("console.lookup_blocked", { reason: u.blacklist_reason || "–" }) : t("console.lookup_clear")),
    el("dt", {}, t("console.lookup_draws")),
    el("dd", {}, String(u.draws.length)),
    el("dt", {}, t("console.lookup_wins")),
    el("dd", {}, String(u.wins)),
  );
  const limits = u.limits.map((l) =>
    el("tr", {}, el("td", {}, el("a", { href: `#/live/${l.activity_id}` }, `#${l.activity_id}`)), ...[["round", "per_round"], ["day", "per_day"], ["total", "per_total"], ["wins", "wins_total"]].map(([used, cap]) => el("td", {}, l[cap] ? `${l[used]} / ${l[cap]}` : `${l[used]} / ∞`))),
  );
  const draws = u.draws.map((d) =>
    el(
      "tr",
      { "data-draw": d.draw_id },
      el("td", {}, stamp(d.drawn_at)),
      el("td", {}, el("a", { href: `#/live/${d.activity_id}` }, `#${d.activity_id}`), " ", el("span", { class: "hint mono" }, d.round_id)),
      el("td", {}, d.won ? d.prize?.name || d.prize?.key : t("console.lookup_lost")),
      el("td", { class: "mono" }, d.prize?.code || ""),
      el("td", {}, d.delivery ? t(`console.delivery_${d.delivery}`) : ""),
      el("td", {}, el("details", {}, el("summary", {}, t("console.lookup_proof")), el("pre", { class: "mono proof" }, JSON.stringify({ ...d, verify_url: undefined }, null, 1))), " ", el("a", { href: d.verify_url, target: "_blank", rel: "noopener" }, t("console.lookup_verify"))),
    ),
  );
  const grants = u.grants.map((g) => el("tr", {}, el("td", { class: "mono" }, g.grant_id), el("td", {}, `#${g.activity_id}`), el("td", {}, String(g.amount)), el("td", {}, g.used ? t("console.lookup_used") : t("console.lookup_unused"))));
  out.replaceChildren(
    el("h2", {}, t("console.lookup_of", { user: u.user_id })),
    facts,
    el("h3", {}, t("console.lookup_limits")),
    table("lookup-limits", [t("console.activity"), t("console.lim_round"), t("console.lim_day"), t("console.lim_total"), t("console.lim_wins")], limits, t("console.lookup_none")),
    el("h3", {}, t("console.lookup_draws")),
    el("p", { class: "hint" }, t("console.lookup_verify_hint")),
    table("lookup-draws", [t("console.when"), t("console.round"), t("console.prize"), t("console.code"), t("console.delivery"), ""], draws, t("console.lookup_none")),
    el("h3", {}, t("console.lookup_grants")),
    table("lookup-grants", [t("console.grant"), t("console.activity"), t("console.amount"), t("console.status")], grants, t("console.lookup_none")),
  );
}

views.users = { show };
