// The supervisor view: queue depth per queue, agents with status and load, the tickets
// waiting and the open ones, each with its live SLA state. Live: refreshed on every event of
// WatchTickets, and every few seconds for agent status changes (those are not ticket events)
// and the SLA countdowns. SLA warnings and breaches flash the ticket's row and show a toast.
import { describeError, isAbort, isTransient, watch } from "./api";
import { statusLabelOf, statusTone, type Ctx } from "./console";
import { h, options, replace } from "./dom";
import { age, duration, fullTime, humanize, roleName, statusLabel, statusName, toDate } from "./format";
import { AgentRole, type Agent } from "./gen/casework/v1/agent_service_pb";
import { SlaState, TicketEventType, TicketOrder, TicketStatus, type Queue, type Ticket } from "./gen/casework/v1/common_pb";
import type { GetQueueStatsResponse, WatchTicketsResponse } from "./gen/casework/v1/ticket_service_pb";
import { nextDue, severityChip, slaCell, slaStateName } from "./sla";
import { toast, toastError } from "./toast";

const PERIOD_MS = 3000;
const PRIORITY = ["—", "Low", "Medium", "High", "Urgent"];
const FLASH_MS = 2000;
const OPEN = [TicketStatus.ASSIGNED, TicketStatus.ON_HOLD, TicketStatus.ESCALATED];

interface QueueRow {
  queue: Queue;
  stats?: GetQueueStatsResponse;
  error?: string;
}

export class SupervisorPage {
  readonly element: HTMLElement;
  private abort?: AbortController;
  private timer?: ReturnType<typeof setInterval>;
  private lastEventId = 0n;
  private refreshing?: Promise<void>;
  private again = false;
  private rows: QueueRow[] = [];
  private agents: Agent[] = [];
  private waiting: Ticket[] = [];
  private open: Ticket[] = [];
  private openTotal = 0;
  private breachedOpen = 0;
  /** Ticket id → when its row started flashing, and why. */
  private readonly flashes = new Map<string, { at: number; kind: "warning" | "breach" }>();
  private lastError = "";
  private readonly kpis = h("div", { class: "kpis" });
  private readonly queuesEl = h("div", { class: "card-body" });
  private readonly agentsEl = h("div", { class: "card-body" });
  private readonly waitingEl = h("div", { class: "card-body" });
  private readonly openEl = h("div", { class: "card-body" });
  private readonly openTitle = h("h3", { class: "card-title" }, "Open tickets");
  private readonly updated = h("span", { class: "muted", "data-testid": "supervisor-updated" });
  private readonly live = h("span", { class: "connection", "data-testid": "supervisor-stream" });

  constructor(private readonly ctx: Ctx) {
    this.element = h(
      "div",
      { class: "supervisor-page", "data-testid": "supervisor-view" },
      h("div", { class: "sup-head" }, h("h2", null, "Supervisor"), this.live, h("div", { class: "spacer" }), this.updated),
      this.kpis,
      h(
        "div",
        { class: "sup-grid" },
        h("section", { class: "card", "data-testid": "queues-card" }, h("h3", { class: "card-title" }, "Queues"), this.queuesEl),
        h("section", { class: "card", "data-testid": "waiting-card" }, h("h3", { class: "card-title" }, "Waiting tickets"), this.waitingEl),
        h("section", { class: "card card-wide", "data-testid": "open-card" }, this.openTitle, this.openEl),
        h("section", { class: "card card-wide", "data-testid": "agents-card" }, h("h3", { class: "card-title" }, "Agents"), this.agentsEl),
      ),
    );
  }

  start(): void {
    if (this.abort && !this.abort.signal.aborted) return;
    const abort = new AbortController();
    this.abort = abort;
    this.ctx.signal.addEventListener("abort", () => abort.abort(), { once: true });
    void this.refresh();
    this.timer = setInterval(() => void this.refresh(), PERIOD_MS);
    void watch<WatchTicketsResponse>({
      signal: abort.signal,
      open: (signal, onHeader) => this.ctx.api.tickets.watchTickets({ afterEventId: this.lastEventId }, { signal, onHeader }),
      onOpen: () => this.refresh(),
      onMessage: (res) => {
        if (res.event && res.event.id > this.lastEventId) this.lastEventId = res.event.id;
        this.onSlaEvent(res);
        void this.refresh();
      },
      onState: (state, err) => {
        this.live.className = `connection connection-${state}`;
        this.live.dataset.state = state;
        replace(this.live, h("span", { class: "dot" }), state === "live" ? "Live" : "Reconnecting…");
        if (state === "retrying" && err && !isTransient(err)) this.report("Live queue updates stopped", err);
      },
    });
  }

  stop(): void {
    this.abort?.abort();
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** An SLA warning or breach: a toast now, and the row flashes once the refresh shows it. */
  private onSlaEvent(res: WatchTicketsResponse): void {
    const type = res.event?.type;
    if (type !== TicketEventType.SLA_BREACH_WARNING && type !== TicketEventType.SLA_BREACHED) return;
    const id = res.event?.ticketId ?? "";
    const known = res.ticket ?? [...this.waiting, ...this.open].find((t) => t.id === id);
    const label = known ? `ticket #${known.number}` : `ticket ${id}`;
    const breach = type === TicketEventType.SLA_BREACHED;
    this.flashes.set(id, { at: Date.now(), kind: breach ? "breach" : "warning" });
    toast(breach ? `SLA breached: ${label}` : `SLA about to be missed: ${label}`, "warning");
  }

  /** Attributes that flash a row for FLASH_MS after an SLA event (a re-render continues the
   *  animation where it was instead of restarting it). */
  private flash(t: Ticket): Record<string, string> {
    const f = this.flashes.get(t.id);
    if (!f) return {};
    const elapsed = Date.now() - f.at;
    if (elapsed >= FLASH_MS) {
      this.flashes.delete(t.id);
      return {};
    }
    return { class: `flash flash-${f.kind}`, style: `animation-delay:-${elapsed}ms`, "data-flash": f.kind };
  }

  /** One refresh at a time; calls during one ask for another right after it. */
  private refresh(): Promise<void> {
    if (this.refreshing) {
      this.again = true;
      return this.refreshing;
    }
    this.refreshing = this.load()
      .catch((err) => {
        if (isAbort(err)) return;
        // The server being away shows beside the last update time; anything else is a toast.
        this.updated.classList.add("stale");
        this.updated.textContent = `Refresh failed at ${new Date().toLocaleTimeString("en-GB")}; retrying`;
        if (!isTransient(err)) this.report("Could not refresh the supervisor view", err);
      })
      .finally(() => {
        this.refreshing = undefined;
        if (this.again && this.abort && !this.abort.signal.aborted) {
          this.again = false;
          void this.refresh();
        }
      });
    return this.refreshing;
  }

  private report(what: string, err: unknown): void {
    const text = `${what}: ${describeError(err)}`;
    if (text === this.lastError) return;
    this.lastError = text;
    toastError(what, err);
  }

  private async load(): Promise<void> {
    const signal = this.abort?.signal;
    const { tickets } = this.ctx.api;
    const queues = (await tickets.listQueues({}, { signal })).queues;
    this.ctx.queues = queues;
    const [rows, agentList, waiting, open, breached] = await Promise.all([
      Promise.all(
        queues.map(async (queue): Promise<QueueRow> => {
          try {
            return { queue, stats: await tickets.getQueueStats({ queueId: queue.id }, { signal }) };
          } catch (err) {
            if (isAbort(err)) throw err;
            return { queue, error: describeError(err) };
          }
        }),
      ),
      this.listAgents(),
      tickets.listTickets(
        { filter: { statuses: [TicketStatus.CREATED], unassigned: true }, orderBy: TicketOrder.PRIORITY_DESC, pageSize: 50 },
        { signal },
      ),
      tickets.listTickets({ filter: { statuses: OPEN }, orderBy: TicketOrder.PRIORITY_DESC, pageSize: 50, includeTotalSize: true }, { signal }),
      tickets.listTickets({ filter: { statuses: [TicketStatus.CREATED, ...OPEN], slaBreached: true }, pageSize: 1, includeTotalSize: true }, { signal }),
    ]);
    this.rows = rows;
    this.agents = agentList;
    this.waiting = waiting.tickets.filter((t) => !t.botId);
    this.open = open.tickets.sort(bySla);
    this.openTotal = Number(open.totalSize);
    this.breachedOpen = Number(breached.totalSize);
    this.lastError = "";
    this.render();
  }

  private async listAgents(): Promise<Agent[]> {
    const all: Agent[] = [];
    let pageToken = "";
    for (let page = 0; page < 10; page++) {
      const res = await this.ctx.api.agents.listAgents({ pageSize: 500, pageToken }, { signal: this.abort?.signal });
      all.push(...res.agents);
      pageToken = res.nextPageToken;
      if (!pageToken) break;
    }
    return all;
  }

  private receiving(agent: Agent): boolean {
    return !!this.ctx.statuses.find((s) => s.name === agent.status)?.receivesTickets;
  }

  private render(): void {
    const now = new Date();
    for (const [id, f] of this.flashes) if (now.getTime() - f.at >= FLASH_MS) this.flashes.delete(id);
    this.updated.classList.remove("stale");
    this.updated.textContent = `Updated ${now.toLocaleTimeString("en-GB")}`;
    const totalWaiting = this.rows.reduce((n, r) => n + Number(r.stats?.waitingCount ?? 0n), 0);
    const oldest = this.rows
      .map((r) => toDate(r.stats?.oldestWaitingSince)?.getTime())
      .filter((t): t is number => t !== undefined)
      .sort((a, b) => a - b)[0];
    const online = this.agents.filter((a) => this.receiving(a)).length;
    const active = this.agents.reduce((n, a) => n + a.activeTicketCount, 0);
    const kpi = (label: string, value: string, testid: string, tone = "") =>
      h("div", { class: `kpi ${tone}` }, h("div", { class: "kpi-value", "data-testid": testid }, value), h("div", { class: "kpi-label" }, label));
    replace(
      this.kpis,
      kpi("Waiting", String(totalWaiting), "kpi-waiting", totalWaiting > 0 ? "warn" : ""),
      kpi("Longest wait", oldest ? duration(now.getTime() - oldest) : "—", "kpi-longest"),
      kpi("Agents receiving", `${online} / ${this.agents.length}`, "kpi-online"),
      kpi("Active tickets", String(active), "kpi-active"),
      kpi("Breached open tickets", String(this.breachedOpen), "kpi-breached", this.breachedOpen > 0 ? "bad" : ""),
    );

    replace(
      this.queuesEl,
      h(
        "table",
        { class: "table", "data-testid": "queue-table" },
        h("thead", null, h("tr", null, h("th", null, "Queue"), h("th", null, "Lang"), h("th", { class: "num" }, "Waiting"), h("th", null, "Oldest waiting"), h("th", { class: "num" }, "Agents receiving"))),
        h(
          "tbody",
          null,
          this.rows.map((r) => {
            const waiting = Number(r.stats?.waitingCount ?? 0n);
            const serving = this.agents.filter((a) => a.queues.includes(r.queue.id) && this.receiving(a)).length;
            return h(
              "tr",
              { "data-testid": "queue-row", "data-queue": r.queue.id },
              h("td", null, h("strong", null, r.queue.name || r.queue.id)),
              h("td", null, r.queue.language),
              r.error
                ? h("td", { class: "num muted", colspan: 2, title: r.error, "data-testid": "queue-waiting", "data-error": "true" }, "not visible")
                : h("td", { class: `num${waiting > 0 ? " warn-text" : ""}`, "data-testid": "queue-waiting", "data-count": String(waiting) }, String(waiting)),
              r.error ? null : h("td", { "data-testid": "queue-oldest", title: fullTime(r.stats?.oldestWaitingSince) }, r.stats?.oldestWaitingSince ? age(r.stats.oldestWaitingSince) : "—"),
              h("td", { class: `num${waiting > 0 && serving === 0 ? " warn-text" : ""}` }, String(serving)),
            );
          }),
        ),
      ),
    );

    this.renderWaiting();
    this.renderOpen();
    this.renderAgents();
  }

  /** Leaves tables alone while a select in them is in use (a re-render would close it). */
  private busy(el: HTMLElement): boolean {
    return el.contains(document.activeElement) && document.activeElement?.tagName === "SELECT";
  }

  private renderWaiting(): void {
    if (this.busy(this.waitingEl)) return;
    if (this.waiting.length === 0) {
      replace(this.waitingEl, h("div", { class: "list-note", "data-testid": "no-waiting" }, "Nothing is waiting."));
      return;
    }
    replace(
      this.waitingEl,
      h(
        "table",
        { class: "table" },
        h("thead", null, h("tr", null, h("th", null, "#"), h("th", null, "Subject"), h("th", null, "Priority"), h("th", null, "Severity"), h("th", null, "SLA"), h("th", null, "Waiting"), h("th", null, "Assign to"))),
        h(
          "tbody",
          null,
          this.waiting.map((t) => {
            const candidates = this.agents.filter((a) => a.queues.includes(t.queue));
            const select = h("select", { class: "input input-sm", "aria-label": `Assign #${t.number}` }, options([{ value: "", label: "Choose…" }, ...candidates.map((a) => ({ value: a.id, label: `${a.name || a.id} (${statusLabelOf(a.status, this.ctx.statuses)})` }))]));
            select.addEventListener("change", () => {
              if (select.value) void this.assign(t, select.value);
            });
            return h(
              "tr",
              { "data-testid": "waiting-ticket", "data-ticket-id": t.id, "data-sla-state": slaStateName(t.sla), ...this.flash(t) },
              h("td", { class: "mono" }, String(t.number)),
              h("td", { class: "wrap" }, t.subject || "(no subject)", h("div", { class: "muted small" }, [t.customer?.name, t.queue].filter(Boolean).join(" · "))),
              h("td", null, PRIORITY[t.priority] ?? String(t.priority)),
              h("td", null, severityChip(t.severity)),
              h("td", null, slaCell(t.sla)),
              h("td", { title: fullTime(t.createdAt) }, age(t.createdAt)),
              h("td", null, select),
            );
          }),
        ),
      ),
    );
  }

  /** Open tickets (assigned, on hold, escalated), breached first, then by the next due time. */
  private renderOpen(): void {
    const shown = this.open.length;
    this.openTitle.textContent = this.openTotal > shown ? `Open tickets (${shown} of ${this.openTotal})` : "Open tickets";
    if (shown === 0) {
      replace(this.openEl, h("div", { class: "list-note", "data-testid": "no-open" }, "No open tickets."));
      return;
    }
    replace(
      this.openEl,
      h(
        "table",
        { class: "table", "data-testid": "open-table" },
        h("thead", null, h("tr", null, h("th", null, "#"), h("th", null, "Subject"), h("th", null, "Queue"), h("th", null, "Assignee"), h("th", null, "Status"), h("th", null, "Severity"), h("th", null, "SLA"), h("th", null, "Age"))),
        h(
          "tbody",
          null,
          this.open.map((t) =>
            h(
              "tr",
              { "data-testid": "open-ticket", "data-ticket-id": t.id, "data-sla-state": slaStateName(t.sla), ...this.flash(t) },
              h("td", { class: "mono" }, String(t.number)),
              h("td", { class: "wrap" }, t.subject || "(no subject)", h("div", { class: "muted small" }, t.customer?.name ?? "")),
              h("td", null, t.queue),
              h("td", null, t.assignee || "—"),
              h("td", null, h("span", { class: `pill pill-${statusName(t.status).toLowerCase()}` }, statusLabel(t.status))),
              h("td", null, severityChip(t.severity)),
              h("td", null, slaCell(t.sla)),
              h("td", { title: fullTime(t.createdAt) }, age(t.createdAt)),
            ),
          ),
        ),
      ),
    );
  }

  private async assign(t: Ticket, agentId: string): Promise<void> {
    try {
      await this.ctx.api.tickets.assignTicket({ ticketId: t.id, agentId });
      toast(`#${t.number} assigned to ${agentId}.`, "success");
    } catch (err) {
      toastError(`Could not assign #${t.number}`, err);
    } finally {
      (document.activeElement as HTMLElement | null)?.blur();
      void this.refresh();
    }
  }

  private renderAgents(): void {
    if (this.busy(this.agentsEl)) return;
    const statuses = this.ctx.statuses;
    replace(
      this.agentsEl,
      h(
        "table",
        { class: "table", "data-testid": "agent-table" },
        h("thead", null, h("tr", null, h("th", null, "Agent"), h("th", null, "Role"), h("th", null, "Status"), h("th", null, "In status"), h("th", null, "Load"), h("th", null, "Queues"), h("th", null, "Languages"))),
        h(
          "tbody",
          null,
          this.agents.map((a) => {
            const cap = a.maxConcurrent;
            const pct = cap > 0 ? Math.min(100, Math.round((a.activeTicketCount / cap) * 100)) : 0;
            const since = toDate(a.statusUpdatedAt);
            const picker = h(
              "select",
              { class: "input input-sm status-select", "aria-label": `Status of ${a.id}`, "data-testid": "agent-status-select" },
              options(statuses.map((s) => ({ value: s.name, label: s.alias || humanize(s.name) })), a.status),
            );
            picker.addEventListener("change", () => void this.setStatus(a, picker.value));
            // Supervisors manage the agents of their own queues; admins manage everyone.
            const me = this.ctx.me;
            const manages = me.role === AgentRole.ADMIN || a.id === me.id || a.queues.some((q) => me.queues.includes(q));
            if (!manages) {
              picker.disabled = true;
              picker.title = "Not an agent of your queues";
            }
            return h(
              "tr",
              { "data-testid": "agent-row", "data-agent": a.id, "data-status": a.status },
              h("td", null, h("div", null, h("strong", null, a.name || a.id)), h("div", { class: "muted small" }, a.id)),
              h("td", null, humanize(roleName(a.role))),
              h(
                "td",
                { "data-testid": "agent-status" },
                h("span", { class: "status-cell" }, h("span", { class: `dot tone-${statusTone(a.status, statuses)}` }), statuses.length ? picker : statusLabelOf(a.status, statuses)),
              ),
              h("td", { title: since ? fullTime(a.statusUpdatedAt) : "" }, since ? duration(Date.now() - since.getTime()) : "—"),
              h(
                "td",
                { "data-testid": "agent-load", "data-active": String(a.activeTicketCount) },
                h("div", { class: "load" }, h("span", { class: "load-text" }, `${a.activeTicketCount} / ${cap > 0 ? cap : "—"}`), h("span", { class: "bar" }, h("span", { class: `fill${pct >= 100 ? " full" : ""}`, style: `width:${pct}%` }))),
              ),
              h("td", { class: "small" }, a.queues.join(", ")),
              h("td", { class: "small" }, a.languages.join(", ")),
            );
          }),
        ),
      ),
    );
  }

  private async setStatus(agent: Agent, status: string): Promise<void> {
    try {
      await this.ctx.api.agents.setStatus({ agentId: agent.id, status });
      toast(`${agent.name || agent.id} is now ${statusLabelOf(status, this.ctx.statuses).toLowerCase()}.`, "success");
    } catch (err) {
      toastError(`Could not change the status of ${agent.id}`, err);
    } finally {
      (document.activeElement as HTMLElement | null)?.blur();
      void this.refresh();
    }
  }
}

/** Breached first, then the earliest next due time, then tickets without a running target. */
function bySla(a: Ticket, b: Ticket): number {
  const breached = (t: Ticket) => (t.sla?.state === SlaState.BREACHED ? 0 : 1);
  const due = (t: Ticket) => nextDue(t.sla)?.at.getTime() ?? Number.MAX_SAFE_INTEGER;
  return breached(a) - breached(b) || due(a) - due(b);
}
