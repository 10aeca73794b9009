// The connection to the casework server: grpc-web transport, typed clients, errors, and a
// resumable watch loop for the server streams.
import { Code, ConnectError, createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import { AgentService } from "./gen/casework/v1/agent_service_pb";
import { CcrService } from "./gen/casework/v1/ccr_service_pb";
import { ConversationService } from "./gen/casework/v1/conversation_service_pb";
import { ReportService } from "./gen/casework/v1/report_service_pb";
import { TicketService } from "./gen/casework/v1/ticket_service_pb";

const TOKEN_KEY = "casework.token";

/** The server to talk to: `?api=http://host:port`, or the page's own origin. */
export function apiBaseUrl(): string {
  const param = new URLSearchParams(location.search).get("api");
  return (param && param.trim()) || location.origin;
}

export function storedToken(): string {
  try {
    return sessionStorage.getItem(TOKEN_KEY) ?? "";
  } catch {
    return "";
  }
}

export function storeToken(token: string): void {
  try {
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    // Storage may be unavailable (private mode); the session then lasts as long as the page.
  }
}

/** Strips a pasted "Bearer " prefix, quotes and whitespace. */
export function normalizeToken(raw: string): string {
  return raw.trim().replace(/^["']|["']$/g, "").replace(/^bearer\s+/i, "").trim();
}

export interface Api {
  agents: Client<typeof AgentService>;
  tickets: Client<typeof TicketService>;
  conversations: Client<typeof ConversationService>;
  ccr: Client<typeof CcrService>;
  reports: Client<typeof ReportService>;
}

/** Clients that send `authorization: bearer <token>` on every call. */
export function connect(baseUrl: string, token: string, onUnauthenticated: () => void): Api {
  const auth: Interceptor = (next) => async (req) => {
    req.header.set("authorization", `bearer ${token}`);
    try {
      return await next(req);
    } catch (err) {
      if (ConnectError.from(err).code === Code.Unauthenticated) onUnauthenticated();
      throw err;
    }
  };
  const transport = createGrpcWebTransport({ baseUrl, interceptors: [auth] });
  return {
    agents: createClient(AgentService, transport),
    tickets: createClient(TicketService, transport),
    conversations: createClient(ConversationService, transport),
    ccr: createClient(CcrService, transport),
    reports: createClient(ReportService, transport),
  };
}

/** True for the error an aborted call throws. */
export function isAbort(err: unknown): boolean {
  return ConnectError.from(err).code === Code.Canceled;
}

/** Errors of the network or the server's availability, worth retrying quietly. */
export function isTransient(err: unknown): boolean {
  const code = ConnectError.from(err).code;
  return code === Code.Unavailable || code === Code.Unknown || code === Code.DeadlineExceeded || code === Code.ResourceExhausted || code === Code.Internal;
}

/** A one-line description of a failed call: the server's message and the status code. */
export function describeError(err: unknown): string {
  const e = ConnectError.from(err);
  const code = Code[e.code] ?? String(e.code);
  const name = code.replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase();
  return e.rawMessage ? `${e.rawMessage} (${name})` : name;
}

export type StreamState = "connecting" | "live" | "retrying";

export interface WatchOptions<T> {
  /** Opens the stream; `onHeader` must be passed on as the call's `onHeader` option. */
  open: (signal: AbortSignal, onHeader: () => void) => AsyncIterable<T>;
  /** Runs once the server has accepted the stream (its headers arrived), before any message. */
  onOpen?: () => Promise<void> | void;
  onMessage: (message: T) => void;
  onState?: (state: StreamState, error?: unknown) => void;
  signal: AbortSignal;
}

/**
 * Keeps a server stream open: reopens it when it ends or fails, with a growing delay after
 * failures (reset by every message). `open` resumes from the caller's own cursor. `onOpen`
 * (e.g. loading the initial list) runs once the server has accepted the stream, so nothing
 * that happens between the list and the stream is missed; should the headers be held back,
 * it runs after a short wait anyway.
 */
export async function watch<T>(opts: WatchOptions<T>): Promise<void> {
  let failures = 0;
  while (!opts.signal.aborted) {
    opts.onState?.("connecting");
    const attempt = new AbortController();
    const stop = () => attempt.abort();
    opts.signal.addEventListener("abort", stop, { once: true });
    let opened: Promise<void> | undefined;
    let openError: unknown;
    const runOpen = () => {
      if (!opened) {
        opened = Promise.resolve().then(() => opts.onOpen?.());
        opened.then(
          () => opts.onState?.("live"),
          (err) => {
            openError = err;
            attempt.abort();
          },
        );
      }
      return opened;
    };
    const fallback = setTimeout(runOpen, 1500);
    try {
      for await (const message of opts.open(attempt.signal, runOpen)) {
        await runOpen();
        failures = 0;
        opts.onMessage(message);
      }
      await runOpen();
      failures = 0;
    } catch (err) {
      if (opts.signal.aborted) return;
      const error = openError ?? err;
      if (ConnectError.from(error).code === Code.Unauthenticated) return;
      failures++;
      opts.onState?.("retrying", error);
    } finally {
      clearTimeout(fallback);
      opts.signal.removeEventListener("abort", stop);
      attempt.abort();
    }
    // A clean end (the server's stream lifetime) reconnects at once; failures back off.
    const delay = failures === 0 ? 50 : Math.min(5_000, 500 * 2 ** Math.min(failures - 1, 4));
    await sleep(delay, opts.signal);
  }
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
  });
}

/** A random RFC 4122 v4 UUID (crypto.randomUUID needs a secure context; this does not). */
export function uuid(): string {
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const hex = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
