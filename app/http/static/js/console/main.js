// The operator console: sign-in, then views picked by the address's hash
// (#/activities, #/new, #/edit/7, #/live/7, #/users/<id>, #/blacklist, #/audit, #/operators).
import { $, $$, boot, t } from "../common.js";
import "./activities.js";
import "./admin.js";
import "./editor.js";
import "./live.js";
import "./support.js";
import { api, can, failure, flash, session, views } from "./state.js";

function signedIn(who) {
  session.csrf = who.csrf_token;
  session.operator = who.operator;
  $("#login").hidden = true;
  $("#app").hidden = false;
  $("#whoami").textContent = `${who.operator.username} (${t(`console.role_${who.operator.role}`)})`;
  $("#whoami").dataset.role = who.operator.role;
  for (const a of $$(".side nav a[data-needs]")) a.hidden = !can(a.dataset.needs);
  route();
}

function signedOut() {
  session.csrf = null;
  session.operator = null;
  $("#app").hidden = true;
  $("#login").hidden = false;
  $("#username").focus();
}

let current = null;

function route() {
  if (!session.operator) return;
  const [name = "activities", arg] = location.hash.replace(/^#\/?/, "").split("/");
  const view = { new: "editor", edit: "editor" }[name] || name;
  if (!views[view]) {
    location.hash = "#/activities";
    return;
  }
  if (current && current !== view && views[current].leave) views[current].leave();
  current = view;
  for (const s of $$(".view")) s.hidden = s.id !== `view-${view}`;
  for (const a of $$(".side nav a")) {
    const on = a.dataset.view === view && (view !== "editor" || name === "new");
    if (on) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  flash(...(flash.next || [""]));
  flash.next = null;
  views[view].show(name, arg).catch((e) => flash(failure(e), true));
}

window.addEventListener("hashchange", route);

$("#login").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  $("#login-error").textContent = "";
  try {
    const who = await api("POST", "/v1/admin/login", {
      username: $("#username").value.trim(),
      password: $("#password").value,
    });
    $("#password").value = "";
    signedIn(who);
  } catch (e) {
    $("#login-error").textContent =
      e.status === 401 ? t("console.wrong_password") : e.status === 429 ? t("console.throttled") : failure(e);
  }
});

$("#logout").addEventListener("click", async () => {
  try {
    await api("POST", "/v1/admin/logout");
  } finally {
    signedOut();
  }
});

// A session cookie from an earlier visit: carry on where the operator was.
if (boot.session) api("GET", "/v1/admin/session").then(signedIn, signedOut);
else signedOut();
