// A confirmation that says what is about to happen before money moves:
// publish, top-up, pause and resume each show a summary (rounds, budget,
// what changes) and wait for an explicit yes. Resolves true or false.
import { el, t } from "../common.js";

export function confirmWith({ title, lines = [], extra = null, ok, danger = false }) {
  return new Promise((resolve) => {
    const done = (yes) => {
      dialog.close();
      dialog.remove();
      resolve(yes);
    };
    const yes = el("button", { type: "button", id: "confirm-yes", class: danger ? "danger primary-danger" : "primary", onclick: () => done(true) }, ok);
    const dialog = el(
      "dialog",
      { id: "confirm-dialog", class: "confirm", "aria-labelledby": "confirm-title" },
      el("h2", { id: "confirm-title" }, title),
      lines.length ? el("ul", { class: "summary" }, lines.map((l) => el("li", {}, l))) : null,
      extra,
      el("div", { class: "row" }, yes, el("button", { type: "button", id: "confirm-no", onclick: () => done(false) }, t("console.cancel"))),
    );
    dialog.addEventListener("cancel", (ev) => {
      ev.preventDefault();
      done(false);
    });
    document.body.append(dialog);
    dialog.showModal();
    (danger ? dialog.querySelector("#confirm-no") : yes).focus(); // a stop is never one Enter away
  });
}
