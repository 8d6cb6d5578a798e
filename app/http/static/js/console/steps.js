// The five configuration steps as forms (the universal lottery tool's back
// office): activity → sessions and limits → prizes → probability → even award.
import { el, inLanguage, percent, t } from "../common.js";
import { flash } from "./state.js";
import { TIME, button, field, getAt, hms, localField, radios, secondsOf, setAt, zoneList } from "./fields.js";

const GAMES = ["rain", "wheel", "grid", "scratch", "pass"];
const TYPES = ["coupon", "points", "physical", "empty"];

// -- 1. the activity -----------------------------------------------------------------

function reshapePools(cfg, kind) {
  for (const s of cfg.sessions) {
    if (kind === "time") s.pools = [{ prizes: s.pools[0].prizes }];
    else
      s.pools = s.pools.map((p, i) => {
        const out = { prizes: p.prizes };
        if (kind === "count") out.nth = i + 1;
        else {
          out.amount_min = p.amount_min ?? i * 10000;
          if (p.amount_max !== undefined) out.amount_max = p.amount_max;
        }
        return out;
      });
  }
  if (kind !== "count") {
    delete cfg.after_last_pool;
    if (cfg.require_grant !== undefined && kind === "time") delete cfg.require_grant;
  }
  if (kind !== "count" && cfg.display && cfg.display.game === "pass") delete cfg.display.game;
}

export function activityStep(ctx) {
  const cfg = ctx.cfg;
  const kind = radios(
    ctx,
    "kind",
    t("console.kind"),
    [
      ["time", t("console.kind_time"), t("console.kind_time_hint")],
      ["count", t("console.kind_count"), t("console.kind_count_hint")],
      ["amount", t("console.kind_amount"), t("console.kind_amount_hint")],
    ],
    {
      onchange: (value) => {
        cfg.kind = value;
        reshapePools(cfg, value);
      },
    },
  );
  const games = [["", t("console.game_default")], ...GAMES.filter((g) => g !== "pass" || cfg.kind === "count").map((g) => [g, t(`games.${g}`)])];
  const game = (cfg.display && cfg.display.game) || { time: "rain", count: "pass", amount: "scratch" }[cfg.kind];
  return [
    el(
      "div",
      { class: "grid2" },
      localField(ctx, "name", t("console.name"), { required: true, max: 200 }),
      field(ctx, "timezone", t("console.timezone"), { list: "zones", hint: t("console.timezone_hint") }),
      zoneList(),
    ),
    localField(ctx, "description", t("console.description"), { textarea: true }),
    localField(ctx, "redeem_hint", t("console.redeem_hint"), { textarea: true, hint: t("console.redeem_hint_hint") }),
    kind,
    el(
      "div",
      { class: "grid3" },
      field(ctx, "start_date", t("console.start_date"), { kind: "date", required: true, type: "date" }),
      field(ctx, "end_date", t("console.end_date"), { kind: "date", required: true, type: "date" }),
    ),
    el(
      "div",
      { class: "grid3" },
      field(ctx, "display.game", t("console.game"), { options: games, structural: true, hint: t("console.game_hint") }),
      game === "rain"
        ? field(ctx, "display.skin", t("console.skin"), {
            options: [
              ["envelope", t("console.skin_envelope")],
              ["candy", t("console.skin_candy")],
            ],
          })
        : null,
      field(ctx, "display.warmup_ms", t("console.warmup"), {
        kind: "int",
        min: "0",
        max: "10000",
        placeholder: cfg.kind === "time" ? "1500" : "0",
        hint: t("console.warmup_hint"),
      }),
      cfg.kind === "count"
        ? field(ctx, "after_last_pool", t("console.after_last"), {
            options: [
              ["refuse", t("console.after_last_refuse")],
              ["repeat_last", t("console.after_last_repeat")],
            ],
          })
        : null,
    ),
    field(ctx, "stop_when_sold_out", t("console.sold_out"), {
      options: [
        ["", t(cfg.kind === "time" ? "console.sold_out_default_stop" : "console.sold_out_default_keep")],
        ["true", t("console.sold_out_stop")],
        ["false", t("console.sold_out_keep")],
      ],
      boolean: true,
      hint: t("console.sold_out_hint"),
    }),
    field(ctx, "buckets", t("console.buckets"), { kind: "int", min: "1", max: "64", placeholder: "1", hint: t("console.buckets_hint") }),
    cfg.kind === "count" ? field(ctx, "require_grant", t("console.require_grant"), { kind: "check" }) : null,
  ];
}

// -- 2. sessions and limits ------------------------------------------------------------

export function sessionsStep(ctx) {
  const cfg = ctx.cfg;
  const rows = cfg.sessions.map((s, i) =>
    el(
      "div",
      { class: "session-row", "data-path": `sessions[${i}]` },
      el("span", { class: "session-name" }, t("console.session_n", { n: i + 1 })),
      field(ctx, `sessions[${i}].start`, t("console.session_start"), { pattern: TIME, placeholder: "HH:MM", kind: "tod" }),
      field(ctx, `sessions[${i}].end`, t("console.session_end"), { pattern: TIME, placeholder: "HH:MM", kind: "tod" }),
      cfg.sessions.length > 1
        ? button(t("console.remove"), () => {
            cfg.sessions.splice(i, 1);
            ctx.session = 0;
            ctx.changed(true);
          }, "small quiet remove-session")
        : null,
      el("span", { class: "field-error" }),
    ),
  );
  const add = button(
    t("console.add_session"),
    () => {
      const last = cfg.sessions[cfg.sessions.length - 1];
      // A session an hour after the last one, as long; from 10:00 when the last is not a time yet.
      const end = secondsOf(last.end) ?? 36000;
      const start = Math.min(end + 3600, 86400 - 120);
      const length = Math.max(60, end - (secondsOf(last.start) ?? end - 3600));
      cfg.sessions.push({ ...structuredClone(last), start: hms(start), end: hms(Math.min(start + length, 86400)) });
      ctx.changed(true);
    },
    "small",
  );
  add.id = "add-session";
  const limit = (name) => field(ctx, `limits.${name}`, t(`console.limit_${name}`), { kind: "int", min: "0", hint: t("console.zero_unlimited") });
  return [
    el("p", { class: "hint" }, t("console.sessions_hint")),
    el("div", { class: "sessions" }, rows),
    add,
    el("h3", {}, t("console.limits")),
    el("p", { class: "hint" }, t("console.limits_hint")),
    el("div", { class: "grid4" }, limit("per_round"), limit("per_day"), limit("total"), limit("wins_total")),
  ];
}

// -- 3. prizes ------------------------------------------------------------------------

function sessionTabs(ctx) {
  if (ctx.cfg.sessions.length < 2) return null;
  return el(
    "div",
    { class: "chips", role: "group", "aria-label": t("console.sessions") },
    ctx.cfg.sessions.map((s, i) =>
      el(
        "button",
        {
          type: "button",
          class: "chip",
          "aria-pressed": String(i === ctx.session),
          onclick: () => {
            ctx.session = i;
            ctx.changed(true, null, false);
          },
        },
        `${t("console.session_n", { n: i + 1 })} · ${s.start}–${s.end}`,
      ),
    ),
  );
}

function poolTitle(cfg, pool) {
  if (cfg.kind === "count") return t("console.level_n", { n: pool.nth });
  if (cfg.kind === "amount") return t("console.band");
  return t("console.prizes");
}

function prizeRow(ctx, base, prizes, zi) {
  const p = prizes[zi];
  const path = `${base}.prizes[${zi}]`;
  const empty = p.type === "empty";
  return el(
    "div",
    { class: "prize-row", "data-path": path },
    field(ctx, `${path}.key`, t("console.prize_key"), { kind: "required", class: "narrow" }),
    field(ctx, `${path}.type`, t("console.prize_type"), {
      options: TYPES.map((ty) => [ty, t(`console.type_${ty}`)]),
      structural: true,
      keepEmpty: true,
    }),
    localField(ctx, `${path}.name`, t("console.prize_name"), { required: true, max: 100, class: "wide" }),
    empty ? null : field(ctx, `${path}.value`, t("console.prize_value"), { placeholder: t(`console.value_${p.type}`) }),
    empty ? null : field(ctx, `${path}.quantity`, t("console.quantity"), { kind: "int", min: "0", class: "narrow" }),
    empty ? null : field(ctx, `${path}.cost`, t("console.cost"), { kind: "float", min: "0", class: "narrow" }),
    empty ? null : field(ctx, `${path}.image_url`, t("console.image_url"), { type: "url", placeholder: "https://…", class: "wide" }),
    button(t("console.remove"), () => {
      prizes.splice(zi, 1);
      ctx.changed(true);
    }, "small quiet"),
  );
}

export function prizesStep(ctx) {
  const cfg = ctx.cfg;
  const si = Math.min(ctx.session, cfg.sessions.length - 1);
  const session = cfg.sessions[si];
  const pools = session.pools.map((pool, pi) => {
    const base = `sessions[${si}].pools[${pi}]`;
    const band =
      cfg.kind === "amount"
        ? el(
            "div",
            { class: "grid3" },
            field(ctx, `${base}.amount_min`, t("console.amount_min"), { kind: "int", min: "0", hint: t("console.amount_hint") }),
            field(ctx, `${base}.amount_max`, t("console.amount_max"), { kind: "int", min: "1", hint: t("console.amount_max_hint") }),
          )
        : null;
    return el(
      "div",
      { class: "pool card", "data-path": `${base}` },
      el(
        "div",
        { class: "head" },
        el("h3", {}, poolTitle(cfg, pool)),
        cfg.kind !== "time" && session.pools.length > 1
          ? button(t("console.remove_pool"), () => {
              session.pools.splice(pi, 1);
              if (cfg.kind === "count") session.pools.forEach((p, i) => (p.nth = i + 1));
              ctx.changed(true);
            }, "small quiet")
          : null,
      ),
      band,
      el("div", { class: "prizes" }, pool.prizes.map((_, zi) => prizeRow(ctx, base, pool.prizes, zi))),
      el("span", { class: "field-error", "data-path": `${base}.prizes` }),
      button(t("console.add_prize"), () => {
        const n = pool.prizes.length + 1;
        pool.prizes.push({ key: `p${n}`, type: "coupon", name: "", value: "", quantity: 100, ...(cfg.probability === "auto" ? {} : { probability: 0 }) });
        ctx.changed(true);
      }, "small add-prize"),
    );
  });
  const addPool =
    cfg.kind === "time"
      ? null
      : button(cfg.kind === "count" ? t("console.add_level") : t("console.add_band"), () => {
          const last = session.pools[session.pools.length - 1];
          const fresh = { prizes: structuredClone(last.prizes) };
          if (cfg.kind === "count") fresh.nth = session.pools.length + 1;
          else fresh.amount_min = (last.amount_max ?? (last.amount_min || 0) + 10000);
          session.pools.push(fresh);
          ctx.changed(true);
        }, "small");
  const copy =
    cfg.sessions.length > 1
      ? button(t("console.copy_to_all"), () => {
          for (const [i, s] of cfg.sessions.entries()) if (i !== si) s.pools = structuredClone(session.pools);
          ctx.changed(true);
          flash(t("console.copied_to_all", { n: cfg.sessions.length - 1, session: si + 1 }));
        }, "small")
      : null;
  return [
    el("p", { class: "hint" }, t(`console.prizes_hint_${cfg.kind}`)),
    sessionTabs(ctx),
    pools,
    el("div", { class: "row", "data-path": `sessions[${si}].pools` }, addPool, copy),
  ];
}

// -- 4. probability -----------------------------------------------------------------

function oddsSummary(ctx, base, pool) {
  const manual = ctx.cfg.probability !== "auto";
  if (!manual) return [null, el("p", { class: "hint" }, t("console.auto_explain"))];
  const winnable = pool.prizes.filter((p) => p.type !== "empty");
  const sum = winnable.reduce((n, p) => n + (Number(p.probability) || 0), 0);
  const over = sum > 1 + 1e-9;
  const bar = el(
    "div",
    { class: "odds-bar", "aria-hidden": "true" },
    winnable.map((p, i) => el("span", { class: `seg c${i % 6}`, style: { width: `${Math.min(100, (Number(p.probability) || 0) * 100)}%` }, title: inLanguage(p.name) })),
  );
  const text = el(
    "p",
    { class: over ? "error remainder" : "remainder", "data-path": `${base}.remainder` },
    over ? t("console.over_one", { sum: percent(sum) }) : t("console.remainder", { p: percent(Math.max(0, 1 - sum)) }),
  );
  // A prize nobody can win is almost always a chance not typed in yet.
  const zero = winnable.filter((p) => !(Number(p.probability) > 0));
  const warn = zero.length
    ? el("p", { class: "warn zero-chance", role: "note" }, t("console.zero_chance", { names: zero.map((p) => inLanguage(p.name) || p.key).join(", ") }))
    : null;
  return [bar, text, warn];
}

function odds(ctx, base, pool) {
  const manual = ctx.cfg.probability !== "auto";
  const rows = pool.prizes.map((p, zi) => {
    const path = `${base}.prizes[${zi}]`;
    if (p.type === "empty") {
      return el("div", { class: "odds-row" }, el("span", {}, el("strong", {}, inLanguage(p.name) || p.key)), el("span", { class: "hint" }, t("console.empty_gets")));
    }
    const input = manual
      ? field(ctx, `${path}.probability`, t("console.chance_of", { name: inLanguage(p.name) || p.key }), { kind: "percent", min: "0", max: "100", class: "pct" })
      : field(ctx, `${path}.weight`, t("console.weight_of", { name: inLanguage(p.name) || p.key }), { kind: "int", min: "0", hint: t("console.weight_hint") });
    return el("div", { class: "odds-row" }, input, el("span", { class: "hint" }, t("console.per_round_n", { n: p.quantity ?? 0 })));
  });
  const summary = el("div", { class: "odds-summary", "aria-live": "polite" }, ...oddsSummary(ctx, base, pool).filter(Boolean));
  const card = el(
    "div",
    { class: "pool card", "data-path": `${base}` },
    el("h3", {}, poolTitle(ctx.cfg, pool)),
    rows,
    summary,
    el("span", { class: "field-error", "data-path": `${base}.prizes` }),
  );
  // The remainder follows each keystroke; the fields keep their focus.
  card.addEventListener("input", () => summary.replaceChildren(...oddsSummary(ctx, base, pool).filter(Boolean)));
  return card;
}

export function probabilityStep(ctx) {
  const cfg = ctx.cfg;
  const si = Math.min(ctx.session, cfg.sessions.length - 1);
  const mode = radios(
    ctx,
    "probability",
    t("console.probability"),
    [
      ["manual", t("console.manual"), t("console.manual_hint")],
      ["auto", t("console.auto"), t("console.auto_hint")],
    ],
    {
      onchange: (value) => {
        cfg.probability = value;
        for (const s of cfg.sessions)
          for (const pool of s.pools)
            for (const p of pool.prizes) {
              if (value === "manual" && p.probability === undefined && p.type !== "empty") p.probability = 0;
              if (value === "auto") delete p.probability;
            }
      },
    },
  );
  return [mode, sessionTabs(ctx), cfg.sessions[si].pools.map((pool, pi) => odds(ctx, `sessions[${si}].pools[${pi}]`, pool))];
}

// -- 5. even award ----------------------------------------------------------------------

export function releaseStep(ctx) {
  const cfg = ctx.cfg;
  cfg.release = cfg.release || { slices: 1, lead_seconds: 0 };
  const explicit = Array.isArray(cfg.release.at);
  const mode = radios(
    ctx,
    "release.mode",
    t("console.release"),
    [
      ["slices", t("console.release_slices"), t("console.release_slices_hint")],
      ["at", t("console.release_at"), t("console.release_at_hint")],
    ],
    {
      onchange: (value) => {
        if (value === "at") {
          const first = cfg.sessions[0];
          cfg.release = { lead_seconds: cfg.release.lead_seconds || 0, at: [[first.start, 1]] };
        } else cfg.release = { slices: 1, lead_seconds: cfg.release.lead_seconds || 0 };
      },
    },
  );
  for (const input of mode.querySelectorAll("input")) input.checked = input.value === (explicit ? "at" : "slices");
  const parts = explicit
    ? el(
        "div",
        { class: "at-list", "data-path": "release.at" },
        cfg.release.at.map((_, k) =>
          el(
            "div",
            { class: "row" },
            field(ctx, `release.at[${k}][0]`, t("console.at_time"), { pattern: TIME, placeholder: "HH:MM:SS", kind: "required" }),
            field(ctx, `release.at[${k}][1]`, t("console.at_share"), { kind: "int", min: "1" }),
            cfg.release.at.length > 1
              ? button(t("console.remove"), () => {
                  cfg.release.at.splice(k, 1);
                  ctx.changed(true);
                }, "small quiet")
              : null,
          ),
        ),
        button(t("console.add_time"), () => {
          const last = cfg.release.at[cfg.release.at.length - 1];
          cfg.release.at.push([hms(Math.min((secondsOf(last[0]) ?? 0) + 600, 86399)), 1]);
          ctx.changed(true);
        }, "small"),
      )
    : field(ctx, "release.slices", t("console.slices"), { kind: "int", min: "1", max: "1000", hint: t("console.slices_hint") });
  const own = cfg.sessions.flatMap((s) => s.pools.flatMap((p) => p.prizes)).filter((p) => p.release).length;
  return [
    el("p", { class: "hint" }, t("console.release_hint")),
    mode,
    el("div", { class: "grid3" }, parts, field(ctx, "release.lead_seconds", t("console.lead"), { kind: "int", min: "0", hint: t("console.lead_hint") })),
    own ? el("p", { class: "hint" }, t("console.own_release", { n: own })) : null,
  ];
}

// The pieces the editor needs from here.
export { getAt, setAt };
