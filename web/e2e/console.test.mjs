// End-to-end test of the agent console: a real casework server (CASEWORK_BIN), Debian's
// Chromium driven by playwright-core, and a real gRPC client for what customers and other
// services do. Run: `node --test web/e2e/` (see web/README.md).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawn, spawnSync } from "node:child_process";
import { createWriteStream, existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const here = dirname(fileURLToPath(import.meta.url));
const webDir = resolve(here, "..");
const BIN = process.env.CASEWORK_BIN;
const CONSOLE_DIR = process.env.CASEWORK_CONSOLE_DIR ? resolve(process.env.CASEWORK_CONSOLE_DIR) : undefined;
const OUTPUT = resolve(process.env.E2E_OUTPUT_DIR || join(here, "output"));
const CHROMIUM = "/usr/bin/chromium";
const WAIT = 15_000; // bound of every wait on the page
const QUEUE = "chat-sg-en";
const AGENT = "agent@example.com";
const SUPERVISOR = "supervisor@example.com";

// The generated clients (npm run build or npm run generate writes them); made here if missing.
if (!existsSync(join(here, "gen/casework/v1/ticket_service_pb.js"))) {
  const buf = join(webDir, "node_modules/.bin/buf");
  const res = spawnSync(buf, ["generate"], { cwd: webDir, stdio: "inherit" });
  if (res.status !== 0) throw new Error("buf generate failed: run `npm ci && npm run build` in web/ first");
}
const { chromium } = await import("playwright-core");
const { createClient } = await import("@connectrpc/connect");
const { createGrpcTransport } = await import("@connectrpc/connect-node");
const { TicketService } = await import("./gen/casework/v1/ticket_service_pb.js");
const { ConversationService, SenderType } = await import("./gen/casework/v1/conversation_service_pb.js");
const { AgentService } = await import("./gen/casework/v1/agent_service_pb.js");
const { ReportService } = await import("./gen/casework/v1/report_service_pb.js");
const { ResolutionStatus, Severity, SlaState, TicketStatus } = await import("./gen/casework/v1/common_pb.js");

const run = promisify(execFile);

/** Everything the test started, so `after` can stop it whatever happened. */
const state = { server: undefined, browser: undefined, dir: undefined, log: undefined, exited: undefined };

async function freePort() {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", fail);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => ok(port));
    });
  });
}

/** The child's environment without CASEWORK_* settings of whoever runs the test. */
function cleanEnv() {
  const env = { ...process.env };
  for (const key of Object.keys(env)) if (key.startsWith("CASEWORK_")) delete env[key];
  return env;
}

async function waitForHealth(base, deadlineMs) {
  const until = Date.now() + deadlineMs;
  let last = "";
  while (Date.now() < until) {
    if (state.exited) throw new Error(`casework exited early (${state.exited}); see ${join(OUTPUT, "server.log")}`);
    try {
      const res = await fetch(`${base}/healthz`, { signal: AbortSignal.timeout(1000) });
      if (res.ok) return;
      last = `HTTP ${res.status}`;
    } catch (err) {
      last = String(err?.cause?.code ?? err);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`casework did not become healthy in ${deadlineMs} ms (${last})`);
}

async function stopServer() {
  const child = state.server;
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
  await exited;
  clearTimeout(timer);
}

// Last resort: never leave a server behind, even if the runner is torn down.
process.on("exit", () => {
  try {
    state.server?.kill("SIGKILL");
  } catch {
    // already gone
  }
});

let base;
let dbUrl;
let tokens = {};
let grpc;

async function mint(sub, role) {
  const { stdout } = await run(BIN, ["token", "--sub", sub, "--role", role, "--database-url", dbUrl], { env: cleanEnv(), timeout: 20_000 });
  const token = stdout.trim();
  assert.match(token, /^[\w-]+\.[\w-]+\.[\w-]+$/, `casework token printed no JWT for ${sub}`);
  return token;
}

const auth = (token) => ({ headers: { authorization: `bearer ${token}` }, timeoutMs: 10_000 });

let serverArgs;

/** Starts `casework serve` (again, after a stop: same port, same database). */
async function startServer() {
  state.exited = undefined;
  state.server = spawn(BIN, serverArgs, { env: cleanEnv(), stdio: ["ignore", "pipe", "pipe"] });
  state.server.stdout.pipe(state.log, { end: false });
  state.server.stderr.pipe(state.log, { end: false });
  state.server.on("exit", (code, signal) => (state.exited = signal ?? `code ${code}`));
  await waitForHealth(base, 30_000);
}

before(async () => {
  assert.ok(BIN, "set CASEWORK_BIN to the casework binary");
  assert.ok(existsSync(BIN), `CASEWORK_BIN ${BIN} does not exist`);
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing (apt-get install chromium)`);
  await mkdir(OUTPUT, { recursive: true });
  state.dir = await mkdtemp(join(tmpdir(), "casework-e2e-"));
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  dbUrl = `sqlite://${join(state.dir, "cw.db")}`;
  serverArgs = ["serve", "--demo", "--listen", `127.0.0.1:${port}`, "--database-url", dbUrl, "--log", "info"];
  if (CONSOLE_DIR) serverArgs.push("--console-dir", CONSOLE_DIR);
  state.log = createWriteStream(join(OUTPUT, "server.log"));
  await startServer();

  // The page under test must be this checkout's bundle, not an older one built into the binary.
  const dist = CONSOLE_DIR ?? join(webDir, "dist");
  for (const name of ["index.html", "console.js", "console.css"]) {
    const served = Buffer.from(await (await fetch(`${base}/${name}`)).arrayBuffer());
    assert.ok(
      served.equals(await readFile(join(dist, name))),
      `the server's ${name} differs from ${join(dist, name)}: rebuild the casework binary after \`npm run build\`, or set CASEWORK_CONSOLE_DIR=web/dist`,
    );
  }

  tokens = {
    agent: await mint(AGENT, "agent"),
    supervisor: await mint(SUPERVISOR, "supervisor"),
    admin: await mint("admin@example.com", "admin"),
  };
  const transport = createGrpcTransport({ baseUrl: base, httpVersion: "2" });
  grpc = {
    tickets: createClient(TicketService, transport),
    conversations: createClient(ConversationService, transport),
    agents: createClient(AgentService, transport),
    reports: createClient(ReportService, transport),
  };

  state.browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
    timeout: 30_000,
  });
});

after(async () => {
  await state.browser?.close().catch(() => {});
  await stopServer();
  state.log?.end();
  if (state.dir) await rm(state.dir, { recursive: true, force: true });
});

/** A fresh browser context (own sessionStorage) on the console, watching for page errors. */
async function openConsole(name) {
  const context = await state.browser.newContext({ viewport: { width: 1440, height: 900 } });
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT);
  page.setDefaultNavigationTimeout(WAIT);
  const problems = [];
  page.on("pageerror", (err) => problems.push(`${name}: page error: ${err.message}`));
  page.on("console", (msg) => {
    // Chromium logs each failed request; the restart step causes those on purpose.
    if (msg.type() === "error" && !msg.text().startsWith("Failed to load resource")) {
      problems.push(`${name}: console error: ${msg.text()}`);
    }
  });
  page.on("request", (req) => {
    if (!req.url().startsWith(base) && !req.url().startsWith("data:") && !req.url().startsWith("blob:")) {
      problems.push(`${name}: request outside the server: ${req.url()}`);
    }
  });
  await page.goto(base);
  return { page, problems };
}

async function signIn(page, token) {
  await page.getByTestId("signin-token").fill(token);
  await page.getByTestId("signin-submit").click();
  await page.getByTestId("console").waitFor();
}

async function shot(page, name) {
  await page.screenshot({ path: join(OUTPUT, `${name}.png`), fullPage: false });
}

/** Polls `fn` until it returns a truthy value, for checks made over gRPC. */
async function eventually(fn, what, ms = WAIT) {
  const until = Date.now() + ms;
  let last;
  while (Date.now() < until) {
    try {
      const value = await fn();
      if (value) return value;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ""}`);
}

test("agent console end to end", { timeout: 180_000 }, async (t) => {
  let failed = false;
  let agent;
  let supervisor;
  const step = (name, fn) =>
    t.test(name, async (s) => {
      if (failed) return s.skip("an earlier step failed");
      try {
        await fn();
      } catch (err) {
        failed = true;
        for (const p of [agent?.page, supervisor?.page]) if (p) await shot(p, `failed-${name.replace(/\W+/g, "-")}`).catch(() => {});
        throw err;
      }
    });

  const suffix = Date.now().toString(36);
  const customer = { id: `cust-${suffix}`, name: "Casey Customer", email: "casey@example.com" };
  let ticket;

  await step("sign in as an agent and go online", async () => {
    agent = await openConsole("agent");
    const { page } = agent;
    await page.getByTestId("signin-form").waitFor();
    await shot(page, "01-sign-in");
    // A token the server refuses: its answer is shown, and the console stays closed.
    await page.getByTestId("signin-token").fill("not-a-token");
    await page.getByTestId("signin-submit").click();
    await page.getByTestId("signin-error").filter({ hasText: "UNAUTHENTICATED" }).waitFor();
    await signIn(page, tokens.agent);
    await page.getByTestId("agent-name").filter({ hasText: /\S/ }).waitFor();
    await page.locator('[data-testid="connection-state"][data-state="live"]').waitFor();
    await page.getByTestId("status-picker").selectOption("online");
    await page.locator('[data-testid="status-picker"][data-status="online"]').waitFor();
    const me = await grpc.agents.getMe({}, auth(tokens.agent));
    assert.equal(me.agent.status, "online");
    await shot(page, "02-online");
  });

  await step("a ticket created over gRPC appears without reload", async () => {
    const { page } = agent;
    const res = await grpc.tickets.createTicket(
      {
        requestId: `e2e-1-${suffix}`,
        queue: QUEUE,
        channel: "chat",
        subject: `My order is late (${suffix})`,
        customer,
        initialMessage: "Hello, my order is 40 minutes late.",
        metadata: { language: "en", country: "sg" },
      },
      auth(tokens.admin),
    );
    ticket = res.ticket;
    assert.equal(ticket.assignee, AGENT, "the online agent should get the ticket at once");
    assert.ok(ticket.metadata?.roomId, "a chat ticket has a room");
    const item = page.locator(`[data-testid="ticket-item"][data-ticket-id="${ticket.id}"]`);
    await item.waitFor();
    await item.getByTestId("ticket-subject").filter({ hasText: ticket.subject }).waitFor();
    await item.getByTestId("ticket-customer").filter({ hasText: customer.name }).waitFor();
    await item.getByTestId("ticket-queue").filter({ hasText: QUEUE }).waitFor();
    // The customer's first message is unread until the agent looks at it.
    await item.getByTestId("unread-badge").filter({ hasText: "1" }).waitFor();
    await shot(page, "03-ticket-arrived");
  });

  await step("open the ticket, write, and receive the customer's reply live", async () => {
    const { page } = agent;
    await page.locator(`[data-testid="ticket-item"][data-ticket-id="${ticket.id}"]`).click();
    const view = page.locator(`[data-testid="ticket-view"][data-ticket-id="${ticket.id}"]`);
    await view.waitFor();
    const thread = view.getByTestId("message-list");
    await thread.locator('[data-testid="message"][data-sender-type="CUSTOMER"]').filter({ hasText: "40 minutes late" }).waitFor();
    const item = page.locator(`[data-testid="ticket-item"][data-ticket-id="${ticket.id}"]`);
    await item.getByTestId("unread-badge").waitFor({ state: "detached" });

    const reply = "Sorry about that! Let me check with the rider.";
    await view.getByTestId("composer-input").fill(reply);
    await view.getByTestId("composer-send").click();
    await thread.locator('[data-testid="message"][data-sender-type="AGENT"][data-internal="false"]').filter({ hasText: reply }).waitFor();
    await assert.doesNotReject(view.getByTestId("composer-input").and(page.locator(":not(:disabled)")).waitFor());
    assert.equal(await view.getByTestId("composer-input").inputValue(), "", "the composer is cleared after sending");

    const note = "Rider app shows a flat tyre; offer a voucher if it gets worse.";
    await view.getByTestId("composer-mode-note").click();
    await view.getByTestId("composer-input").fill(note);
    await view.getByTestId("composer-send").click();
    const noteEl = thread.locator('[data-testid="message"][data-internal="true"]').filter({ hasText: note });
    await noteEl.waitFor();
    await noteEl.getByTestId("note-label").filter({ hasText: "Internal note" }).waitFor();
    await view.getByTestId("composer-mode-reply").click();

    const customerToken = await mint(customer.id, "customer");
    const answer = "Thanks, I will wait a bit longer.";
    await grpc.conversations.sendMessage(
      { roomId: ticket.metadata.roomId, clientMessageId: `e2e-cust-${suffix}`, senderType: SenderType.CUSTOMER, body: answer },
      auth(customerToken),
    );
    await thread.locator('[data-testid="message"][data-sender-type="CUSTOMER"]').filter({ hasText: answer }).waitFor();
    // Read while on screen: the server's unread count for the agent goes back to 0.
    await eventually(async () => {
      const room = await grpc.conversations.getRoom({ roomId: ticket.metadata.roomId }, auth(tokens.agent));
      return room.room.unreadCount === 0;
    }, "the agent's unread count to return to 0");
    await item.getByTestId("unread-badge").waitFor({ state: "detached" });

    // The reply met the first-reply target; the details say so, with the next-reply clock running.
    await view.locator('[data-testid="detail-sla"] [data-testid="sla-clock"][data-target="FIRST_REPLY"]').filter({ hasText: "met" }).waitFor();
    await view.locator('[data-testid="detail-sla"] [data-testid="sla-badge"][data-state="ONGOING"]').waitFor();
    await view.getByTestId("detail-severity").filter({ hasText: "Not set" }).waitFor();

    // What the server stored matches what the page shows.
    const stored = await grpc.conversations.listMessages({ roomId: ticket.metadata.roomId, pageSize: 50 }, auth(tokens.admin));
    const bodies = stored.messages.map((m) => m.body);
    assert.ok(bodies.includes(reply) && bodies.includes(note) && bodies.includes(answer), `stored messages: ${bodies.join(" | ")}`);
    assert.equal(stored.messages.find((m) => m.body === note).visibleToCustomer, false, "the note is internal");
    await shot(page, "04-conversation");
  });

  await step("set the contact reason by search", async () => {
    const { page } = agent;
    const view = page.getByTestId("ticket-view");
    await view.getByTestId("ccr-search").fill("late");
    const first = view.getByTestId("ccr-result").first();
    await first.waitFor();
    await shot(page, "05-ccr-search");
    const code = await first.getAttribute("data-code");
    assert.ok(code, "a search result carries its code");
    await first.click();
    await view.locator(`[data-testid="ccr-current"][data-code="${code}"]`).waitFor();
    await view.getByTestId("ccr-current").filter({ hasText: code }).waitFor();
    const stored = await grpc.tickets.getTicket({ key: { case: "id", value: ticket.id } }, auth(tokens.admin));
    assert.equal(stored.ticket.metadata.ccr, code);
    await shot(page, "06-ccr-set");
  });

  await step("close the ticket with a resolution", async () => {
    const { page } = agent;
    const view = page.getByTestId("ticket-view");
    await view.getByTestId("action-close").click();
    await view.getByTestId("close-resolution").selectOption({ label: "Refunded" });
    await view.getByTestId("close-reason").fill("Voucher issued for the delay.");
    await view.getByTestId("close-submit").click();
    await view.locator('[data-testid="ticket-status-pill"][data-status="CLOSED"]').waitFor();
    await view.getByTestId("ticket-closed-banner").filter({ hasText: "Refunded" }).waitFor();
    await page.locator(`[data-testid="ticket-item"][data-ticket-id="${ticket.id}"][data-status="CLOSED"]`).waitFor();
    for (const action of ["action-escalate", "action-transfer", "action-close", "action-hold"]) {
      assert.equal(await view.getByTestId(action).isDisabled(), true, `${action} is disabled on a closed ticket`);
    }
    assert.equal(await view.getByTestId("composer-input").isDisabled(), true, "no writing to a closed ticket");
    const stored = await grpc.tickets.getTicket({ key: { case: "id", value: ticket.id } }, auth(tokens.admin));
    assert.equal(stored.ticket.status, TicketStatus.CLOSED);
    assert.equal(stored.ticket.resolution.status, ResolutionStatus.REFUNDED);
    await shot(page, "07-closed");

    await view.getByTestId("side-tab-audit").click();
    await view.locator('[data-testid="audit-event"][data-type="CLOSED"]').waitFor();
    await view.locator('[data-testid="audit-event"][data-type="CREATED"]').waitFor();
    await view.locator('[data-testid="audit-event"][data-type="UPDATE_FIELD"]').first().waitFor();
    await shot(page, "08-audit-trail");
  });

  await step("the supervisor sees the queue depth change live", async () => {
    supervisor = await openConsole("supervisor");
    const { page } = supervisor;
    await signIn(page, tokens.supervisor);
    await page.getByTestId("tab-supervisor").click();
    const waiting = page.locator(`[data-testid="queue-row"][data-queue="${QUEUE}"] [data-testid="queue-waiting"]`);
    await page.locator(`[data-testid="queue-row"][data-queue="${QUEUE}"] [data-testid="queue-waiting"][data-count="0"]`).waitFor();
    await page.locator(`[data-testid="agent-row"][data-agent="${AGENT}"][data-status="online"]`).waitFor();
    await shot(page, "09-supervisor-before");

    // The agent goes offline in its console; the supervisor's table follows (periodic refresh).
    await agent.page.getByTestId("status-picker").selectOption("offline");
    await agent.page.locator('[data-testid="status-picker"][data-status="offline"]').waitFor();
    await page.locator(`[data-testid="agent-row"][data-agent="${AGENT}"][data-status="offline"]`).waitFor();

    // Nobody can take a new ticket now: it waits, and the depth goes 0 → 1.
    const res = await grpc.tickets.createTicket(
      { requestId: `e2e-2-${suffix}`, queue: QUEUE, channel: "chat", subject: `Wrong item delivered (${suffix})`, customer: { id: `cust2-${suffix}`, name: "Robin Buyer" } },
      auth(tokens.admin),
    );
    assert.equal(res.ticket.status, TicketStatus.CREATED, "with the agent offline the ticket waits");
    await page.locator(`[data-testid="queue-row"][data-queue="${QUEUE}"] [data-testid="queue-waiting"][data-count="1"]`).waitFor();
    await page.locator(`[data-testid="waiting-ticket"][data-ticket-id="${res.ticket.id}"]`).waitFor();
    assert.equal(await waiting.textContent(), "1");
    await shot(page, "10-supervisor-waiting");

    // The supervisor hands the waiting ticket to the agent: it leaves the queue and shows up
    // in the agent's list at once (even though the agent is offline).
    const row = page.locator(`[data-testid="waiting-ticket"][data-ticket-id="${res.ticket.id}"]`);
    await row.getByRole("combobox").selectOption(AGENT);
    await page.locator('[data-testid="toast"][data-kind="success"]').filter({ hasText: `assigned to ${AGENT}` }).waitFor();
    await row.waitFor({ state: "detached" });
    await page.locator(`[data-testid="queue-row"][data-queue="${QUEUE}"] [data-testid="queue-waiting"][data-count="0"]`).waitFor();
    await agent.page.locator(`[data-testid="ticket-item"][data-ticket-id="${res.ticket.id}"]`).waitFor();
    const got = await grpc.tickets.getTicket({ key: { case: "id", value: res.ticket.id } }, auth(tokens.admin));
    assert.equal(got.ticket.assignee, AGENT);
    await agent.page.getByTestId("status-picker").selectOption("online");
    await page.locator(`[data-testid="agent-row"][data-agent="${AGENT}"][data-status="online"]`).waitFor();
    await shot(page, "11-supervisor-drained");
    await shot(agent.page, "12-agent-second-ticket");
  });

  await step("after a server restart the streams resume where they stopped", async () => {
    const { page } = agent;
    const second = await eventually(async () => {
      const res = await grpc.agents.listMyTickets({ filter: { statuses: [TicketStatus.ASSIGNED] } }, auth(tokens.agent));
      return res.tickets[0];
    }, "the agent's second ticket");
    await page.locator(`[data-testid="ticket-item"][data-ticket-id="${second.id}"]`).click();
    const view = page.locator(`[data-testid="ticket-view"][data-ticket-id="${second.id}"]`);
    await view.getByTestId("no-messages").waitFor();

    // Keep the console from reconnecting while things happen that it must not miss.
    const hold = (route) => route.abort();
    const streams = ["**/casework.v1.AgentService/WatchMyTickets", "**/casework.v1.ConversationService/WatchRoom"];
    for (const url of streams) await page.route(url, hold);
    await stopServer();
    await page.locator('[data-testid="connection-state"][data-state="retrying"]').waitFor();
    await startServer();
    await shot(page, "13-reconnecting");

    const customerToken = await mint(second.customer.id, "customer");
    const missed = "Are you still there? It is the wrong item.";
    await grpc.conversations.sendMessage(
      { roomId: second.metadata.roomId, clientMessageId: `e2e-missed-${suffix}`, senderType: SenderType.CUSTOMER, body: missed },
      auth(customerToken),
    );
    await grpc.tickets.closeTicket({ ticketId: second.id, resolutionStatus: ResolutionStatus.NO_ACTION, statusReason: "closed by the e2e test" }, auth(tokens.admin));
    // A new chat is routed to the agent while its console is away: only resuming the stream
    // after the last event seen brings it in (the list is not reloaded on reconnect).
    const third = (
      await grpc.tickets.createTicket(
        { requestId: `e2e-3-${suffix}`, queue: QUEUE, channel: "chat", subject: `Refund request (${suffix})`, customer: { id: `cust3-${suffix}`, name: "Jo Shopper" } },
        auth(tokens.admin),
      )
    ).ticket;
    assert.equal(third.assignee, AGENT);

    // The page still shows the ticket open; closing it again is refused by the server, and
    // the refusal is shown.
    await view.getByTestId("action-close").click();
    await view.getByTestId("close-submit").click();
    await page.locator('[data-testid="toast"][data-kind="error"]').filter({ hasText: "FAILED_PRECONDITION" }).waitFor();
    await shot(page, "14-error-toast");
    // After the refusal the view reloads the ticket and shows it closed.
    await view.locator('[data-testid="ticket-status-pill"][data-status="CLOSED"]').waitFor();
    await view.getByTestId("room-reconnecting").waitFor();

    // Let the streams back in: they resume after the last event and message seen.
    for (const url of streams) await page.unroute(url, hold);
    await page.locator('[data-testid="connection-state"][data-state="live"]').waitFor();
    await view.locator('[data-testid="message"][data-sender-type="CUSTOMER"]').filter({ hasText: missed }).waitFor();
    await view.getByTestId("room-reconnecting").waitFor({ state: "detached" });
    await page.locator(`[data-testid="ticket-item"][data-ticket-id="${second.id}"][data-status="CLOSED"]`).waitFor();
    await page.locator(`[data-testid="ticket-item"][data-ticket-id="${third.id}"]`).waitFor();
    await shot(page, "15-resumed");
  });

  await step("no page errors and no requests beyond the server", async () => {
    const problems = [...(agent?.problems ?? []), ...(supervisor?.problems ?? [])];
    assert.deepEqual(problems, []);
  });
});

test("supervisor SLA state and the report page", { timeout: 120_000 }, async (t) => {
  let failed = false;
  let sup;
  const step = (name, fn) =>
    t.test(name, async (s) => {
      if (failed) return s.skip("an earlier step failed");
      try {
        await fn();
      } catch (err) {
        failed = true;
        if (sup?.page) await shot(sup.page, `failed-sla-${name.replace(/\W+/g, "-")}`).catch(() => {});
        throw err;
      }
    });

  const suffix = `sla-${Date.now().toString(36)}`;
  // Nobody of these queues is online in the demo, so their tickets wait unassigned.
  const CHAT_QUEUE = "chat-de-de";
  const FAST_QUEUE = "vendor-sg-en";
  let waitingTicket;
  let breachTicket;

  await step("a waiting chat ticket shows its SLA state and severity", async () => {
    sup = await openConsole("supervisor-sla");
    const { page } = sup;
    await signIn(page, tokens.supervisor);
    await page.getByTestId("tab-supervisor").click();
    await page.locator('[data-testid="supervisor-stream"][data-state="live"]').waitFor();
    waitingTicket = (
      await grpc.tickets.createTicket(
        { requestId: `e2e-${suffix}-1`, queue: CHAT_QUEUE, channel: "chat", subject: `Rider did not arrive (${suffix})`, severity: Severity.MEDIUM, customer: { id: `cust-${suffix}-1`, name: "Mia Waiting" } },
        auth(tokens.admin),
      )
    ).ticket;
    assert.equal(waitingTicket.status, TicketStatus.CREATED, "nobody of chat-de-de is online: the ticket waits");
    assert.equal(waitingTicket.sla?.hasPolicy, true, "the demo policy of chat queues applies");
    assert.equal(waitingTicket.sla?.state, SlaState.ONGOING);
    const row = page.locator(`[data-testid="waiting-ticket"][data-ticket-id="${waitingTicket.id}"]`);
    await row.locator('[data-testid="sla-badge"][data-state="ONGOING"]').filter({ hasText: "Ongoing" }).waitFor();
    await row.getByTestId("sla-due").filter({ hasText: /^due in \d/ }).waitFor();
    await row.locator('[data-testid="severity"][data-severity="MEDIUM"]').filter({ hasText: "Medium" }).waitFor();
    await shot(page, "20-supervisor-sla-ongoing");
  });

  await step("a missed first reply shows as breached, flashes and raises a toast", async () => {
    const { page } = sup;
    // A one-second first reply on a queue nobody serves: the sweeper (every second) finds the
    // miss almost at once, on the real clock.
    await grpc.reports.upsertSlaPolicy({ policy: { queue: FAST_QUEUE, firstReplySeconds: 1n, resolutionSeconds: 3600n } }, auth(tokens.admin));
    breachTicket = (
      await grpc.tickets.createTicket(
        { requestId: `e2e-${suffix}-2`, queue: FAST_QUEUE, channel: "chat", subject: `Vendor tablet offline (${suffix})`, severity: Severity.HIGH, customer: { id: `cust-${suffix}-2`, name: "Vera Vendor" } },
        auth(tokens.admin),
      )
    ).ticket;
    assert.equal(breachTicket.status, TicketStatus.CREATED);
    assert.equal(breachTicket.sla?.hasPolicy, true, "the new policy applies to tickets created after it");
    const row = page.locator(`[data-testid="waiting-ticket"][data-ticket-id="${breachTicket.id}"]`);
    await row.waitFor();
    await page.locator(`[data-testid="waiting-ticket"][data-ticket-id="${breachTicket.id}"][data-sla-state="BREACHED"]`).waitFor();
    // The SLA_BREACHED event flashes the row (for two seconds) and says so in a toast.
    await page.locator(`[data-testid="waiting-ticket"][data-ticket-id="${breachTicket.id}"][data-flash="breach"]`).waitFor({ timeout: 5_000 });
    await page.locator('[data-testid="toast"][data-kind="warning"]').filter({ hasText: `SLA breached: ticket #${breachTicket.number}` }).waitFor();
    await row.locator('[data-testid="sla-badge"][data-state="BREACHED"]').filter({ hasText: "Breached" }).waitFor();
    await row.getByTestId("sla-due").filter({ hasText: /^overdue \d/ }).waitFor();
    await row.locator('[data-testid="severity"][data-severity="HIGH"]').waitFor();
    await page.getByTestId("kpi-breached").filter({ hasText: /^[1-9]\d*$/ }).waitFor();
    // The other ticket is still within its minute.
    await page.locator(`[data-testid="waiting-ticket"][data-ticket-id="${waitingTicket.id}"] [data-testid="sla-badge"][data-state="ONGOING"]`).waitFor();
    const stored = await grpc.tickets.getTicket({ key: { case: "id", value: breachTicket.id } }, auth(tokens.admin));
    assert.equal(stored.ticket.sla.state, SlaState.BREACHED);
    await shot(page, "21-supervisor-sla-breached");
  });

  await step("the report page draws the last 7 days and exports them as CSV", async () => {
    const { page } = sup;
    await page.getByTestId("tab-reports").click();
    const view = page.getByTestId("report-view");
    await view.waitFor();
    await page.getByTestId("report-range").selectOption("7");
    await page.getByTestId("report-bucket").selectOption({ label: "Day" });
    await page.getByTestId("report-group").selectOption({ label: "Nothing (totals)" });
    await page.locator('[data-testid="report-view"][data-state="ready"]').waitFor();
    for (const chart of ["chart-volume", "chart-first-reply", "chart-sla", "chart-csat"]) await page.locator(`svg[data-testid="${chart}"]`).waitFor();
    const volume = page.locator('svg[data-testid="chart-volume"]');
    const created = Number(await volume.getAttribute("data-created"));
    assert.ok(created >= 2, `the chart counts the tickets created (${created})`);
    assert.ok((await volume.locator("rect").count()) > 0, "the volume chart has bars");
    assert.equal(Number(await page.getByTestId("report-total-created").textContent()), created, "the total matches the chart");
    const cells = await page.locator('[data-testid="report-row"] [data-testid="row-created"]').allTextContents();
    assert.equal(cells.length, 7, "one row per day of the last 7 days");
    assert.equal(cells.reduce((n, c) => n + Number(c), 0), created, "the table adds up to the chart");
    await shot(page, "22-report");

    // By queue: the breached ticket's queue has its own row.
    await page.getByTestId("report-group").selectOption({ label: "Queue" });
    await page.locator(`[data-testid="report-row"][data-group="${FAST_QUEUE}"]`).first().waitFor();
    await page.locator('[data-testid="report-view"][data-state="ready"]').waitFor();
    await page.locator(`svg[data-testid="chart-sla"]`).waitFor();
    await shot(page, "23-report-by-queue");

    const [download] = await Promise.all([page.waitForEvent("download"), page.getByTestId("report-csv").click()]);
    assert.match(download.suggestedFilename(), /^casework-report-.*\.csv$/);
    const csv = await readFile(await download.path(), "utf8");
    assert.match(csv, /^bucket_start,bucket,group,created/);
    assert.ok(csv.includes(FAST_QUEUE), "the CSV has the queue rows");
    await page.locator('[data-testid="toast"][data-kind="success"]').filter({ hasText: "CSV" }).waitFor();
  });

  await step("no page errors and no requests beyond the server", async () => {
    assert.deepEqual(sup?.problems ?? [], []);
  });
});
