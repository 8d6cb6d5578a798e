// The player on a page: who is signed in, and the one way a tap draws.
//
// A player token comes, in this order, from the page address's fragment
// (`#token=…`, how a mini-program or app web view hands over its session; a
// fragment never reaches a server log), from this browser's storage, or from
// the sign-in form: a user id with dev login (embedded/demo), else a pasted token.
import { api, el, t, toast } from "./common.js";

const KEY = "redrain.player";
export const session = { token: "", user: "" };

function userOf(token) {
  // rd1.<user>.<expiry>.<mac>: the user id is readable; the server checks the MAC.
  const parts = token.split(".");
  return parts.length >= 3 ? parts[1] : "";
}

function adopt(token) {
  session.token = token;
  session.user = userOf(token);
  try {
    localStorage.setItem(KEY, token);
  } catch {
    /* private mode: the session lasts this page */
  }
}

export function signOut() {
  session.token = "";
  session.user = "";
  try {
    localStorage.removeItem(KEY);
  } catch {
    /* nothing stored */
  }
}

function fromFragment() {
  const m = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (!m) return "";
  history.replaceState(null, "", location.pathname + location.search); // keep it out of shared links
  return decodeURIComponent(m[1]);
}

// Resolves once somebody is signed in; shows the form in `box` until then.
export function signIn(box) {
  const given = fromFragment() || (() => {
    try {
      return localStorage.getItem(KEY) || "";
    } catch {
      return "";
    }
  })();
  if (given) {
    adopt(given);
    box.hidden = true;
    return Promise.resolve(session);
  }
  return new Promise((resolve) => {
    const input = el("input", {
      id: "player-id",
      name: "player",
      autocomplete: "username",
      required: true,
      maxlength: "2000",
      "aria-describedby": "player-hint",
    });
    const hint = el("p", { class: "hint", id: "player-hint" }, t("player.hint"));
    const error = el("p", { class: "error", role: "alert" });
    const form = el(
      "form",
      { class: "signin card", id: "signin" },
      el("h2", {}, t("player.who")),
      el("label", {}, t("player.user_id"), input),
      hint,
      error,
      el("button", { class: "primary", type: "submit" }, t("player.play")),
    );
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      error.textContent = "";
      const value = input.value.trim();
      if (value.startsWith("rd1.")) {
        adopt(value);
      } else {
        try {
          const got = await api("POST", "/v1/auth/dev", { body: { user_id: value } });
          adopt(got.token);
        } catch (e) {
          if (e.status === 404) {
            hint.textContent = t("player.paste_token");
            input.value = "";
            input.focus();
          } else error.textContent = e.status ? e.message : t("common.network");
          return;
        }
      }
      box.hidden = true;
      resolve(session);
    });
    box.replaceChildren(form);
    box.hidden = false;
  });
}

// An Idempotency-Key. crypto.randomUUID needs a secure context; this does not.
function freshKey() {
  const b = crypto.getRandomValues(new Uint8Array(16));
  return [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// An API call as the player; 401 means the token expired: sign in again.
export async function playerApi(method, path, opts = {}) {
  try {
    return await api(method, path, { ...opts, token: session.token });
  } catch (e) {
    if (e.status === 401) {
      signOut();
      location.reload();
    }
    throw e;
  }
}

// How long to wait before retry `i` (0-based) of a refused or failed tap: at
// least the server's Retry-After (503 busy: the server is past its capacity),
// times a random factor in [1, 2) so that a crowd refused at once does not
// come back at once.
export function backoff(i, retryAfter) {
  return Math.max(300 * 2 ** i, (retryAfter || 0) * 1000) * (1 + Math.random());
}

// One tap: POST /v1/draw with an Idempotency-Key. A retry after a network
// failure or a 503 (busy or unavailable) reuses the key, so the server answers
// the first draw instead of drawing again. The caller may show the waits:
// onSend(i) as attempt i goes out, onWait(ms, error) before a retry waits
// (without it, a toast says so).
export async function draw(body, { tries = 5, onSend, onWait } = {}) {
  const key = freshKey();
  for (let i = 0; ; i++) {
    try {
      onSend?.(i);
      return await playerApi("POST", "/v1/draw", { body, headers: { "Idempotency-Key": key } });
    } catch (e) {
      const again = e instanceof TypeError || e.status === 503;
      if (!again || i >= tries - 1) throw e;
      const ms = backoff(i, e.retryAfter);
      if (onWait) onWait(ms, e);
      else toast(t(e.code === "busy" ? "common.busy" : "common.network"));
      await sleep(ms);
    }
  }
}

// Where the player sees who they are, with a way out.
export function whoami(box) {
  box.replaceChildren(
    el("span", {}, t("player.playing_as", { user: session.user })),
    " ",
    el(
      "button",
      {
        class: "quiet",
        type: "button",
        onclick: () => {
          signOut();
          location.reload();
        },
      },
      t("player.switch"),
    ),
  );
}

