// What a win gives the player (SPEC §10): the prize in their language, its
// redemption code, how to redeem it (the activity's redeem_hint), and for a
// physical prize the delivery address form (PUT /v1/me/draws/{id}/delivery).
import { $, ApiError, el, prizesOf, t, toast } from "./common.js";
import { playerApi, sleep } from "./player.js";

// The prize's name from the rules (localized) by key; a history row only has
// the name in the campaign's first language.
export function prizeName(d, info) {
  const key = d.prize?.key;
  return prizesOf(info).find((p) => p.key === key)?.name || d.prize?.name || key || "";
}

// The prizes of several draws, each name once: "6.66 yuan ×2", in the order first won.
export function tally(draws, info) {
  const counts = new Map();
  for (const d of draws) if (d.won) counts.set(prizeName(d, info), (counts.get(prizeName(d, info)) || 0) + 1);
  return [...counts].map(([name, k]) => (k > 1 ? `${name} ×${k}` : name));
}

// awaiting_address | address_given | shipped, for a physical win; else null.
export const delivery = (d) => (d.won && d.prize?.type === "physical" ? d.delivery || "awaiting_address" : null);

// Open the win dialog for a draw (`addressOnly`: straight to the address form).
export function openPrize(d, info, { addressOnly = false, onSaved } = {}) {
  const dlg = $("#pop");
  $("#pop-list").hidden = true;
  dlg.className = `pop ${d.won ? "won" : "lost"}`;
  $("#pop-title").textContent = addressOnly ? t("play.address_title") : d.won ? t("play.pop_won") : t("play.pop_lost");
  $("#pop-prize").textContent = d.won ? prizeName(d, info) : t("play.pop_lost_text");
  const code = d.won ? d.prize?.code : null;
  $("#pop-code").hidden = !code;
  $("#pop-code-text").textContent = code || "";
  const status = delivery(d);
  const hint = info?.redeem_hint;
  let note = "";
  if (d.won) note = status === "shipped" ? t("play.delivery_shipped") : hint || (status ? "" : t("play.pop_won_note")); // the form asks for the address itself
  $("#pop-note").textContent = note;
  const form = $("#pop-address");
  form.hidden = !status || status === "shipped";
  form.dataset.draw = d.draw_id;
  $("#pop-address-msg").textContent = status === "address_given" ? t("play.address_given") : "";
  form.onsubmit = (ev) => saveAddress(ev, d, onSaved);
  if (!dlg.open) dlg.showModal();
  (addressOnly && !form.hidden ? $("#addr-name") : $("#pop-close")).focus();
}

// The dialog after several draws of one request: how many won, and each
// draw in order (a code to copy, a physical prize's address to give).
export function openHaul(draws, info, { onSaved } = {}) {
  const won = draws.filter((d) => d.won);
  if (won.length === 1) return openPrize(won[0], info, { onSaved });
  const dlg = $("#pop");
  dlg.className = `pop many ${won.length ? "won" : "lost"}`;
  $("#pop-title").textContent = won.length ? t("play.pop_won") : t("play.pop_lost");
  $("#pop-prize").textContent = won.length ? t("play.haul_won", { n: won.length, of: draws.length }) : t("play.haul_lost", { n: draws.length });
  $("#pop-code").hidden = true;
  $("#pop-address").hidden = true;
  $("#pop-note").textContent = won.length ? info?.redeem_hint || t("play.pop_won_note") : "";
  $("#pop-list").replaceChildren(
    ...draws.map((d) =>
      el(
        "li",
        { class: d.won ? "won" : "lost" },
        el("span", { class: "what" }, d.won ? prizeName(d, info) : t("play.no_prize")),
        d.won && d.prize?.code ? el("code", {}, d.prize.code) : null,
        deliveryLine(d, info, onSaved),
      ),
    ),
  );
  $("#pop-list").hidden = false;
  if (!dlg.open) dlg.showModal();
  $("#pop-close").focus();
}

// A win reaches the ledger once the worker flushed it (about a second): until
// then the draw is not found, so a quick answer waits for it a few times.
async function putAddress(drawId, body) {
  for (let i = 0; ; i++) {
    try {
      return await playerApi("PUT", `/v1/me/draws/${encodeURIComponent(drawId)}/delivery`, { body });
    } catch (e) {
      if (!(e instanceof ApiError && e.code === "draw_not_found") || i >= 5) throw e;
      await sleep(1000);
    }
  }
}

async function saveAddress(ev, d, onSaved) {
  ev.preventDefault();
  const form = ev.target;
  if (!form.reportValidity()) return;
  const body = { name: $("#addr-name").value.trim(), phone: $("#addr-phone").value.trim(), address: $("#addr-address").value.trim() };
  const msg = $("#pop-address-msg");
  const button = $("button[type=submit]", form);
  button.disabled = true;
  try {
    await putAddress(d.draw_id, body);
    d.delivery = "address_given";
    msg.textContent = t("play.address_saved");
    toast(t("play.address_saved"));
    onSaved?.(d);
  } catch (e) {
    const code = e instanceof ApiError ? e.code : "network";
    msg.textContent = t(`play.address_${code === "already_shipped" ? "shipped" : code === "validation_error" ? "invalid" : "failed"}`);
  } finally {
    button.disabled = false;
  }
}

// The copy button beside a code.
$("#pop-copy")?.addEventListener("click", async () => {
  const code = $("#pop-code-text").textContent;
  try {
    await navigator.clipboard.writeText(code);
    toast(t("play.code_copied"));
  } catch {
    getSelection().selectAllChildren($("#pop-code-text")); // the player copies it by hand
  }
});

// One line of the results list for a physical win: its delivery, and a button to give the address.
export function deliveryLine(d, info, onSaved) {
  const status = delivery(d);
  if (!status) return null;
  return el(
    "span",
    { class: `delivery ${status}` },
    t(`play.delivery_${status}`),
    status === "shipped" ? null : el("button", { type: "button", class: "quiet address", onclick: () => openPrize(d, info, { addressOnly: true, onSaved }) }, t(status === "address_given" ? "play.address_change" : "play.address_give")),
  );
}
