// /lotteries: the lotteries a player created or joined (GET /v1/me/lotteries),
// and a form to create one (POST /v1/lotteries), then off to its own page.
import { $, el, fieldError, t, when } from "./common.js";
import { playerApi, session, signIn, signOut } from "./player.js";

const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;

function showMine(list) {
  $("#mine-box").hidden = false;
  $("#mine-empty").hidden = list.length > 0;
  $("#mine").replaceChildren(
    ...list.map((l) =>
      el(
        "li",
        { class: `mine-item ${l.status}`, "data-lottery": l.id },
        el("a", { href: `/lotteries/${l.id}` }, el("strong", {}, l.title)),
        el("span", { class: "status", "data-status": l.status }, t(`lottery.status_${l.status}`)),
        el(
          "span",
          { class: "meta" },
          t("lottery.prize", { name: l.prize.name, n: l.prize.quantity }),
          " · ",
          t("lotteries.people", { n: l.participants }),
          " · ",
          when(l.draw_at),
        ),
        el(
          "span",
          { class: "role" },
          [l.is_creator ? t("lotteries.created") : null, l.joined ? t("lotteries.joined") : null, l.won === true ? t("lotteries.won") : null].filter(Boolean).join(" · "),
        ),
      ),
    ),
  );
}

// A local date-time input's value ("2026-12-06T20:00") as ISO-8601 with this device's offset.
function withOffset(local) {
  const d = new Date(local);
  if (Number.isNaN(d.getTime())) return null;
  return d.toISOString();
}

function check() {
  const title = $("#lt-title").value.trim();
  const prize = $("#lt-prize").value.trim();
  const n = Number($("#lt-quantity").value);
  const at = withOffset($("#lt-when").value);
  const ok = [
    fieldError("lt-title", title ? "" : t("lotteries.need_title")),
    fieldError("lt-prize", prize ? "" : t("lotteries.need_prize")),
    fieldError("lt-quantity", Number.isInteger(n) && n >= 1 && n <= 10000 ? "" : t("lotteries.need_quantity")),
    fieldError("lt-when", at && Date.parse(at) > Date.now() + 120_000 ? "" : t("lotteries.need_when")),
  ];
  return ok.every(Boolean) ? { title, draw_at: at, prize: { name: prize, quantity: n } } : null;
}

$("#create").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  $("#create-error").textContent = "";
  const body = check();
  if (!body) return $("#create [aria-invalid=true]")?.focus();
  const button = $("#create button[type=submit]");
  button.disabled = true;
  try {
    const made = await playerApi("POST", "/v1/lotteries", { body });
    location.href = `/lotteries/${made.id}`;
  } catch (e) {
    button.disabled = false;
    const field = { title: "lt-title", draw_at: "lt-when", "prize.name": "lt-prize", "prize.quantity": "lt-quantity" }[e.field];
    if (field) fieldError(field, e.message);
    else $("#create-error").textContent = e.code === "too_many_lotteries" ? t("lotteries.too_many") : e.status ? e.message : t("common.network");
  }
});

async function main() {
  // Tomorrow at 20:00 by default, in this device's time.
  const d = new Date(Date.now() + 86_400_000);
  d.setHours(20, 0, 0, 0);
  const pad = (x) => String(x).padStart(2, "0");
  $("#lt-when").value = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T20:00`;
  $("#lt-when-hint").textContent = t("lotteries.when_hint", { zone });
  await signIn($("#player-box"));
  $("#who").hidden = false;
  $("#who").replaceChildren(
    t("lotteries.signed_in_as", { user: session.user }),
    " ",
    el("button", { class: "quiet", type: "button", onclick: () => (signOut(), location.reload()) }, t("lotteries.switch")),
  );
  $("#create").hidden = false;
  try {
    showMine((await playerApi("GET", "/v1/me/lotteries")).lotteries);
  } catch (e) {
    $("#mine-box").hidden = false;
    $("#mine-empty").hidden = false;
    $("#mine-empty").textContent = e.status === 503 ? t("common.unavailable") : t("common.network");
  }
}

main();
