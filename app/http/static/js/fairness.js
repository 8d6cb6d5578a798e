// Provably fair draws, recomputed in the browser (docs/fairness.md).
//
// This module is the whole of what /verify computes; the page's other script
// (verify.js) only fetches data and shows the answers. It trusts no number the
// server computed: it takes the revealed seed, the draw as recorded and the
// published odds, and recomputes everything with WebCrypto and BigInt. It has
// no imports and touches no page, so it runs the same in Node (the test suite
// runs it against the worked example of docs/fairness.md and against Python's
// app/domain/fairness.py).
//
//   user_key = hex( HMAC-SHA256(key = seed, message = "U:C") )
//   random   = hex( SHA-1( user_key + ":" + N ) )
//   n_j      = int(random[13j : 13j + 13], 16)       j = 0, 1, 2 (52-bit chunks)
//   x        = (first n_j below 2^52 − (2^52 mod T)) mod T      (else the last n_j mod T)
//   manual odds: T = 10^9, prize probabilities in parts per 10^9, walked in
//   configured order with a running sum; the first sum above x is the pick,
//   none is the empty remainder. A picked prize wins only with released stock
//   left (never a re-pick); a picked prize of type "empty" is a loss.

const enc = new TextEncoder();
const TWO52 = 1n << 52n;
export const PPB = 1_000_000_000;

// WebCrypto's subtle API exists only in secure contexts (https, localhost).
export const available = () => Boolean(globalThis.crypto && globalThis.crypto.subtle);

export function hexToBytes(hex) {
  if (typeof hex !== "string" || !/^(?:[0-9a-fA-F]{2})*$/.test(hex)) throw new Error("not hex");
  return Uint8Array.from(hex.match(/../g) || [], (b) => parseInt(b, 16));
}

const toHex = (buf) => [...new Uint8Array(buf)].map((b) => b.toString(16).padStart(2, "0")).join("");

// SHA-256 of the seed's bytes: what seed_hash committed to before the round.
export async function seedHash(seedHex) {
  return toHex(await crypto.subtle.digest("SHA-256", hexToBytes(seedHex)));
}

// HMAC-SHA256(seed, "user:client_seed") as hex (UTF-8, like Python's str.encode()).
export async function userKey(seedHex, user, clientSeed) {
  const key = await crypto.subtle.importKey(
    "raw",
    hexToBytes(seedHex),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  return toHex(await crypto.subtle.sign("HMAC", key, enc.encode(`${user}:${clientSeed}`)));
}

// SHA-1(user_key + ":" + nonce) as hex: the draw's random value.
export async function drawRandom(keyHex, nonce) {
  return toHex(await crypto.subtle.digest("SHA-1", enc.encode(`${keyHex}:${nonce}`)));
}

// A value uniform on [0, total) from the 40-hex random (total: a positive integer).
export function uniform(randomHex, total) {
  const T = BigInt(total);
  const limit = TWO52 - (TWO52 % T);
  let n = 0n;
  for (let j = 0; j < 3; j++) {
    n = BigInt("0x" + randomHex.slice(13 * j, 13 * j + 13));
    if (n < limit) break; // rejection keeps x exactly uniform
  }
  return n % T;
}

// 1-based index of the prize whose run of [0, total) holds x, or 0 past the last run.
function walk(x, runs) {
  let acc = 0n;
  for (let i = 0; i < runs.length; i++) {
    acc += BigInt(runs[i]);
    if (x < acc) return i + 1;
  }
  return 0;
}

// Manual odds: `ppbs` are the pool's probabilities in parts per 10^9, in order.
export const pickManual = (randomHex, ppbs) => walk(uniform(randomHex, PPB), ppbs);

// Auto odds: `weighted` are weight × (released − won) at the moment of the draw.
export function pickAuto(randomHex, weighted) {
  const total = weighted.reduce((a, w) => a + BigInt(w), 0n);
  return total > 0n ? walk(uniform(randomHex, total), weighted) : 0;
}

// round(p × 10^9) as Python rounds a float: halves to even (the server's probability_ppb).
export function probabilityPpb(p) {
  const v = Number(p || 0) * PPB;
  const f = Math.floor(v);
  const d = v - f; // exact: v and f are doubles of the same magnitude
  return d > 0.5 || (d === 0.5 && f % 2 === 1) ? f + 1 : f;
}

// The pools of the round's session, with the round's prize numbers each holds
// (numbered 1..n across the session's pools, in configured order).
export function poolsOf(activity, roundId) {
  const si = Number(String(roundId).split(":")[2]);
  const session = (activity.sessions || [])[si];
  if (!session) return null;
  let first = 1;
  return session.pools.map((pool) => {
    const out = { ...pool, first, last: first + pool.prizes.length - 1 };
    first = out.last + 1;
    return out;
  });
}

// The pool the rules give: the only one (time), the user's level (count), or
// the band holding the grant's amount (amount). 1-based; 0 when none does.
export function rulePool(activity, pools, { level, amount }) {
  if (activity.kind === "count") {
    if (level == null) return null;
    const j = pools.findIndex((p) => p.nth === level);
    if (j >= 0) return j + 1;
    const top = Math.max(...pools.map((p) => p.nth || 0));
    if (activity.after_last_pool === "repeat_last" && level > top) {
      return pools.findIndex((p) => p.nth === top) + 1;
    }
    return 0;
  }
  if (activity.kind === "amount") {
    if (amount == null) return null;
    const j = pools.findIndex(
      (p) => amount >= (p.amount_min || 0) && (p.amount_max == null || amount < p.amount_max),
    );
    return j + 1;
  }
  return 1;
}

// Check one draw. Every input is data, none is trusted:
//   seed      the round's seed, revealed after it ended (GET /v1/rounds/{id})
//   seedHash  the hash the draw was made under (its proof.seed_hash, else the round's)
//   user      the user id the draw was made for
//   draw      {round_id, won, prize_key, proof: {client_seed, nonce, random, pick?, pool?}}
//   activity  the published rules (GET /v1/activities/{id}): kind, odds, sessions
//   level     count activities: which of the user's draws in the activity this is
//   amount    amount activities: the amount of the grant the draw spent
// Returns {ok, complete, checks, facts}: each check is {id, ok, why}; ok is
// true (checked), false (mismatch) or null (the browser cannot check it, `why`
// says what is missing). `ok` is true when nothing failed, `complete` when
// everything could be checked.
export async function verifyDraw({ seed, seedHash: committed, user, draw, activity, level, amount }) {
  const checks = [];
  const add = (id, ok, why = "") => checks.push({ id, ok, why });
  const proof = draw.proof || {};
  const facts = { seed };

  // 1. The revealed seed is the one committed to before the round.
  facts.seedHash = await seedHash(seed);
  const sameSeed = facts.seedHash === String(committed || "").toLowerCase();
  add("seed", sameSeed, sameSeed ? "" : "seed_differs");

  // 2. The random value, from seed, user, client seed and nonce.
  facts.userKey = await userKey(seed, user, proof.client_seed ?? "");
  facts.random = await drawRandom(facts.userKey, proof.nonce);
  const sameRandom = facts.random === String(proof.random || "").toLowerCase();
  add("random", sameRandom, sameRandom ? "" : "random_differs");

  // 3. The pool: by the rules when level/amount are known, else as the record names it.
  const pools = poolsOf(activity, draw.round_id);
  if (!pools) {
    add("pool", false, "no_session");
    return finish(checks, facts);
  }
  const prizes = pools.flatMap((p) => p.prizes);
  const recorded = Number.isInteger(proof.pick) ? proof.pick : null;
  const keyIndex = draw.won ? prizes.findIndex((p) => p.key === draw.prize_key) + 1 : 0;
  const holding = (i) => pools.findIndex((p) => p.first <= i && i <= p.last) + 1;
  let pool = rulePool(activity, pools, { level, amount });
  if (pool === 0) add("pool", false, "no_pool");
  else if (pool !== null) {
    const ledger = proof.pool ?? (recorded ? holding(recorded) : keyIndex ? holding(keyIndex) : pool);
    add("pool", ledger === pool, ledger === pool ? "" : "other_pool");
  } else {
    // Which level or amount band this was is not in a pasted response: take the
    // pool that holds the prize the record names, and say so.
    pool = proof.pool ?? (recorded ? holding(recorded) : keyIndex ? holding(keyIndex) : null);
    add("pool", null, activity.kind === "count" ? "level_unknown" : "amount_unknown");
  }
  facts.pool = pool;
  if (!pool) {
    add("pick", null, "pool_unknown");
    add("outcome", null, "pool_unknown");
    return finish(checks, facts);
  }
  const { first, last } = pools[pool - 1];

  // 4. The pick, from our own random value and the published odds.
  let pick;
  if (activity.probability === "auto") {
    // weight × stock released and not yet won at that moment: not public.
    pick = recorded ?? keyIndex;
    add("pick", null, "auto_odds");
  } else {
    facts.total = PPB;
    facts.x = uniform(facts.random, PPB);
    const local = pickManual(
      facts.random,
      pools[pool - 1].prizes.map((p) => probabilityPpb(p.probability)),
    );
    pick = local ? first + local - 1 : 0;
    const same = recorded === null || recorded === pick;
    add("pick", same, same ? "" : "other_pick");
  }
  facts.pick = pick;
  const picked = pick >= first && pick <= last ? prizes[pick - 1] : null;
  facts.pickKey = picked ? picked.key : null;

  // 5. The outcome: a win is the picked prize; a loss is the remainder, an
  // "empty" prize, or a picked prize whose released stock was used up.
  if (draw.won) {
    const ok = Boolean(picked) && picked.type !== "empty" && picked.key === draw.prize_key;
    add("outcome", ok, ok ? "" : "won_other");
  } else if (!picked || picked.type === "empty") {
    add("outcome", pick === 0 || Boolean(picked), pick === 0 || picked ? "" : "pick_outside");
  } else if (activity.probability === "auto") {
    // Auto odds only ever pick a prize with stock left: such a pick always wins.
    add("outcome", false, "lost_with_stock");
  } else {
    add("outcome", null, "no_stock"); // fair only if its released stock was used up then
  }
  return finish(checks, facts);
}

function finish(checks, facts) {
  const ok = checks.every((c) => c.ok !== false);
  return { ok, complete: ok && checks.every((c) => c.ok === true), checks, facts };
}
