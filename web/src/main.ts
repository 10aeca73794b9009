// Entry point: sign in with a bearer token, then run the console.
import "./console.css";
import { Code, ConnectError } from "@connectrpc/connect";
import { apiBaseUrl, connect, describeError, normalizeToken, storeToken, storedToken } from "./api";
import { Console } from "./console";
import { h, replace } from "./dom";
import { logo } from "./icons";

const root = document.getElementById("app") ?? document.body.appendChild(h("div", { id: "app" }));
let current: Console | undefined;

function signOut(message?: string): void {
  current?.dispose();
  current = undefined;
  storeToken("");
  showSignIn(message);
}

async function start(token: string): Promise<void> {
  const api = connect(apiBaseUrl(), token, () => {
    if (current) signOut("Your session has expired or the token was refused. Sign in again.");
  });
  const me = (await api.agents.getMe({})).agent;
  if (!me) throw new ConnectError("the server returned no agent", Code.Internal);
  storeToken(token);
  current?.dispose();
  current = new Console(root, api, me, () => signOut());
  await current.start();
}

function showSignIn(message?: string): void {
  document.title = "Sign in · casework";
  const input = h("textarea", {
    id: "token",
    class: "signin-token",
    "data-testid": "signin-token",
    rows: 5,
    spellcheck: "false",
    autocomplete: "off",
    placeholder: "eyJhbGciOi…",
    required: true,
  });
  const error = h("div", { class: "signin-error", "data-testid": "signin-error", role: "alert" }, message ?? "");
  error.hidden = !message;
  const button = h("button", { type: "submit", class: "btn btn-primary btn-block", "data-testid": "signin-submit" }, "Sign in");
  const form = h(
    "form",
    {
      class: "signin-card",
      "data-testid": "signin-form",
      onsubmit: async (event: Event) => {
        event.preventDefault();
        const token = normalizeToken(input.value);
        if (!token) {
          error.textContent = "Paste your access token first.";
          error.hidden = false;
          return;
        }
        button.disabled = true;
        button.textContent = "Signing in…";
        error.hidden = true;
        try {
          await start(token);
        } catch (err) {
          storeToken("");
          error.textContent = `Sign-in failed: ${describeError(err)}`;
          error.hidden = false;
          button.disabled = false;
          button.textContent = "Sign in";
        }
      },
    },
    h("div", { class: "signin-brand" }, logo(), h("span", null, "casework")),
    h("h1", null, "Sign in to the agent console"),
    h("label", { for: "token" }, "Access token"),
    input,
    error,
    button,
    h(
      "p",
      { class: "signin-help" },
      "Paste the bearer token you were given. Developers can mint one with ",
      h("code", null, "casework token --sub you@example.com --role agent"),
      ".",
    ),
    h("p", { class: "signin-server" }, "Server: ", h("code", { "data-testid": "signin-server" }, apiBaseUrl())),
  );
  replace(root, h("div", { class: "signin" }, form));
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  input.focus();
}

async function boot(): Promise<void> {
  const token = storedToken();
  if (!token) return showSignIn();
  replace(root, h("div", { class: "boot" }, logo(), h("span", null, "Connecting…")));
  try {
    await start(token);
  } catch (err) {
    storeToken("");
    showSignIn(`Could not resume your session: ${describeError(err)}`);
  }
}

void boot();
