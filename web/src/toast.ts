// Toasts: every failed call is shown, never swallowed.
import { describeError } from "./api";
import { h } from "./dom";

let host: HTMLElement | undefined;

function container(): HTMLElement {
  if (!host || !host.isConnected) {
    host = h("div", { class: "toasts", "data-testid": "toasts", role: "status", "aria-live": "polite" });
    document.body.appendChild(host);
  }
  return host;
}

export type ToastKind = "error" | "warning" | "info" | "success";

export function toast(text: string, kind: ToastKind = "info", title?: string): void {
  const el = h(
    "div",
    { class: `toast toast-${kind}`, "data-testid": "toast", "data-kind": kind },
    h("div", { class: "toast-body" }, title ? h("strong", null, title) : null, h("span", null, text)),
    h("button", { class: "toast-close", title: "Dismiss", "aria-label": "Dismiss", onclick: () => el.remove() }, "×"),
  );
  container().appendChild(el);
  // Errors stay until dismissed or replaced by many newer ones; warnings a while; the rest fade.
  const ms = kind === "error" ? 12_000 : kind === "warning" ? 6_000 : 3_000;
  setTimeout(() => el.remove(), ms);
  const all = container().children;
  while (all.length > 5) all[0].remove();
}

/** Shows a failed call: what was being done, then the server's message. */
export function toastError(what: string, err: unknown): void {
  toast(describeError(err), "error", what);
}
