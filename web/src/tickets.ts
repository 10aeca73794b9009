// "My tickets": the list on the left (ListMyTickets, then WatchMyTickets live) and the open
// ticket beside it.
import { watch, type StreamState } from "./api";
import type { Ctx } from "./console";
import { h, replace } from "./dom";
import { shortTime, statusLabel, statusName, fullTime } from "./format";
import type { WatchMyTicketsResponse } from "./gen/casework/v1/agent_service_pb";
import { TicketOrder, TicketStatus, type Ticket } from "./gen/casework/v1/common_pb";
import { icon } from "./icons";
import { TicketView } from "./ticket-view";
import { toastError } from "./toast";

const OPEN_STATUSES = [TicketStatus.CREATED, TicketStatus.ASSIGNED, TicketStatus.ON_HOLD, TicketStatus.ESCALATED];

export class TicketsPage {
  readonly element: HTMLElement;
  private readonly tickets = new Map<string, Ticket>();
  /** Tickets the stream said we can no longer see, with the version at that point. */
  private readonly gone = new Map<string, bigint>();
  /** Ids seen for the first time after the initial load, highlighted once. */
  private readonly fresh = new Set<string>();
  private lastEventId = 0n;
  private loaded = false;
  private selectedId = "";
  private view?: TicketView;
  private filterText = "";
  private showClosed = true;
  private readonly listEl = h("div", { class: "ticket-list", "data-testid": "ticket-list" });
  private readonly countEl = h("span", { class: "count", "data-testid": "ticket-count" });
  private readonly viewHost = h("div", { class: "ticket-host" });

  constructor(
    private readonly ctx: Ctx,
    private readonly onStreamState: (state: StreamState) => void,
    private readonly onUnreadChange: () => void,
  ) {
    const filter = h("input", {
      type: "search",
      class: "input input-sm",
      placeholder: "Filter by subject, customer or #",
      "aria-label": "Filter tickets",
      "data-testid": "ticket-filter",
    });
    filter.addEventListener("input", () => {
      this.filterText = filter.value.trim().toLowerCase();
      this.renderList();
    });
    this.element = h(
      "div",
      { class: "tickets-page" },
      h(
        "aside",
        { class: "pane pane-list" },
        h("div", { class: "pane-head" }, h("h2", null, "My tickets"), this.countEl),
        h("div", { class: "pane-tools" }, filter),
        this.listEl,
      ),
      this.viewHost,
    );
    this.renderEmptyView();
    this.renderList();
  }

  start(): void {
    void watch<WatchMyTicketsResponse>({
      signal: this.ctx.signal,
      open: (signal, onHeader) =>
        this.ctx.api.agents.watchMyTickets({ afterEventId: this.lastEventId }, { signal, onHeader }),
      // Until an event has been seen there is no cursor to resume from: (re)load the list once
      // the stream is open, so nothing falls between the list and the stream.
      onOpen: () => (this.lastEventId === 0n ? this.load() : undefined),
      onMessage: (res) => this.onEvent(res),
      onState: (state, err) => {
        this.onStreamState(state);
        if (state === "retrying" && !this.loaded) void this.loadWithoutStream(err);
      },
    });
  }

  dispose(): void {
    this.view?.dispose();
  }

  unreadTotal(): number {
    let total = 0;
    for (const t of this.tickets.values()) if (t.status !== TicketStatus.CLOSED) total += t.unreadCount;
    return total;
  }

  private lastFallback = 0;

  /** The stream cannot open at all (e.g. a proxy that does not pass it): list the tickets
   * anyway, at most every 10 s, until it can. */
  private async loadWithoutStream(streamError: unknown): Promise<void> {
    if (Date.now() - this.lastFallback < 10_000) return;
    if (this.lastFallback === 0) toastError("Live updates unavailable; retrying", streamError);
    this.lastFallback = Date.now();
    try {
      await this.load();
    } catch (err) {
      toastError("Could not load your tickets", err);
    }
  }

  private async load(): Promise<void> {
    const { agents } = this.ctx.api;
    const [open, closed] = await Promise.all([
      agents.listMyTickets({ filter: { statuses: OPEN_STATUSES }, orderBy: TicketOrder.UPDATED_DESC, pageSize: 200 }, { signal: this.ctx.signal }),
      agents.listMyTickets({ filter: { statuses: [TicketStatus.CLOSED] }, orderBy: TicketOrder.UPDATED_DESC, pageSize: 25 }, { signal: this.ctx.signal }),
    ]);
    for (const ticket of [...open.tickets, ...closed.tickets]) this.merge(ticket, false);
    this.loaded = true;
    this.renderList();
  }

  /** Keeps the newest version of a ticket; returns whether it changed what we hold. */
  private merge(ticket: Ticket, live: boolean): boolean {
    const held = this.tickets.get(ticket.id);
    if (held && held.version > ticket.version) return false;
    const goneAt = this.gone.get(ticket.id);
    if (goneAt !== undefined) {
      // (Equal versions: the same change seen as "not mine" and then as "mine" again, as
      // when a transfer is routed back to us in one transaction; the later word wins.)
      if (goneAt > ticket.version) return false;
      this.gone.delete(ticket.id);
    }
    if (!held && live && this.loaded) this.fresh.add(ticket.id);
    this.tickets.set(ticket.id, ticket);
    return true;
  }

  private onEvent(res: WatchMyTicketsResponse): void {
    const event = res.event;
    if (event && event.id > this.lastEventId) this.lastEventId = event.id;
    // A ticket we may still see but that is no longer ours (e.g. transferred to a queue we
    // serve, waiting there) leaves "my tickets" like one we cannot see at all.
    if (res.ticket && res.ticket.assignee !== this.ctx.me.id) {
      this.drop(res.ticket.id, res.ticket.version);
    } else if (res.ticket) {
      // The stream carries the ticket as it is now, unread count included.
      const ticket = res.ticket;
      if (this.merge(ticket, true) && ticket.id === this.selectedId) {
        if (this.view?.gone) {
          // It came back (e.g. routed to us again after a transfer): open it afresh.
          this.selectedId = "";
          this.select(ticket.id);
        } else {
          this.view?.update(ticket);
        }
      }
    } else if (event) {
      this.drop(event.ticketId, event.version);
    }
    this.renderList();
  }

  private drop(id: string, version: bigint): void {
    const prior = this.gone.get(id) ?? 0n;
    if (version > prior) this.gone.set(id, version);
    const had = this.tickets.delete(id);
    if (had && id === this.selectedId) this.view?.lost();
  }

  /** A newer ticket from a call the view made (the stream will confirm it). */
  private accept(ticket: Ticket): void {
    if (this.merge(ticket, false)) this.renderList();
  }

  private select(id: string): void {
    if (id === this.selectedId) return;
    const ticket = this.tickets.get(id);
    if (!ticket) return;
    this.selectedId = id;
    this.fresh.delete(id);
    this.view?.dispose();
    this.view = new TicketView(this.ctx, ticket, {
      onTicket: (t) => this.accept(t),
      onUnread: (ticketId, unread) => {
        const t = this.tickets.get(ticketId);
        if (t && t.unreadCount !== unread) {
          this.tickets.set(ticketId, { ...t, unreadCount: unread });
          this.renderList();
        }
      },
      onClose: () => {
        this.view?.dispose();
        this.view = undefined;
        this.selectedId = "";
        this.renderEmptyView();
        this.renderList();
      },
    });
    replace(this.viewHost, this.view.element);
    this.renderList();
  }

  private renderEmptyView(): void {
    replace(
      this.viewHost,
      h(
        "div",
        { class: "empty-view", "data-testid": "no-ticket" },
        icon("chat", 40),
        h("h3", null, "No ticket open"),
        h("p", null, "Pick a ticket on the left. New tickets appear there as they are assigned to you."),
      ),
    );
  }

  private matches(t: Ticket): boolean {
    if (!this.filterText) return true;
    const q = this.filterText.replace(/^#/, "");
    return (
      t.subject.toLowerCase().includes(q) ||
      (t.customer?.name ?? "").toLowerCase().includes(q) ||
      String(t.number) === q ||
      t.queue.toLowerCase().includes(q)
    );
  }

  private renderList(): void {
    const all = [...this.tickets.values()];
    const byUpdate = (a: Ticket, b: Ticket) => Number((b.updatedAt?.seconds ?? 0n) - (a.updatedAt?.seconds ?? 0n)) || Number(b.number - a.number);
    const open = all.filter((t) => t.status !== TicketStatus.CLOSED && this.matches(t)).sort(byUpdate);
    const closed = all.filter((t) => t.status === TicketStatus.CLOSED && this.matches(t)).sort(byUpdate);
    this.countEl.textContent = String(all.filter((t) => t.status !== TicketStatus.CLOSED).length);
    const sections: Node[] = [];
    if (!this.loaded && all.length === 0) {
      sections.push(h("div", { class: "list-note" }, "Loading…"));
    } else if (open.length === 0) {
      sections.push(
        h(
          "div",
          { class: "list-note", "data-testid": "no-tickets" },
          this.filterText
            ? "No open ticket matches."
            : this.ctx.statuses.find((s) => s.name === this.ctx.me.status)?.receivesTickets
              ? "No open tickets. New chats appear here as they are assigned to you."
              : "No open tickets. Set your status to online to receive chats.",
        ),
      );
    }
    sections.push(...open.map((t) => this.item(t)));
    if (closed.length) {
      const toggle = h(
        "button",
        { class: "list-section", "aria-expanded": String(this.showClosed), "data-testid": "closed-toggle", onclick: () => { this.showClosed = !this.showClosed; this.renderList(); } },
        h("span", { class: `caret${this.showClosed ? " open" : ""}` }, "▸"),
        `Recently closed (${closed.length})`,
      );
      sections.push(toggle);
      if (this.showClosed) sections.push(...closed.map((t) => this.item(t)));
    }
    replace(this.listEl, sections);
    this.onUnreadChange();
  }

  private item(t: Ticket): HTMLElement {
    const status = statusName(t.status);
    const selected = t.id === this.selectedId;
    const unread = t.status !== TicketStatus.CLOSED && t.unreadCount > 0;
    return h(
      "button",
      {
        class: `ticket-item${selected ? " selected" : ""}${unread ? " has-unread" : ""}${this.fresh.has(t.id) ? " fresh" : ""} status-${status.toLowerCase()}`,
        "data-testid": "ticket-item",
        "data-ticket-id": t.id,
        "data-ticket-number": String(t.number),
        "data-status": status,
        "aria-current": selected ? "true" : false,
        onclick: () => this.select(t.id),
      },
      h(
        "div",
        { class: "ti-row" },
        h("span", { class: "ti-subject", "data-testid": "ticket-subject" }, t.subject || "(no subject)"),
        h("span", { class: "ti-time", title: fullTime(t.updatedAt) }, shortTime(t.updatedAt)),
      ),
      h(
        "div",
        { class: "ti-row" },
        h("span", { class: "ti-customer", "data-testid": "ticket-customer" }, t.customer?.name || t.customer?.id || "Unknown customer"),
        unread ? h("span", { class: "badge badge-unread", "data-testid": "unread-badge", title: `${t.unreadCount} unread` }, String(t.unreadCount)) : null,
      ),
      h(
        "div",
        { class: "ti-row ti-meta" },
        h("span", { class: "ti-number" }, `#${t.number}`),
        h("span", { class: "ti-queue", "data-testid": "ticket-queue" }, t.queue),
        h("span", { class: `pill pill-${status.toLowerCase()}`, "data-testid": "ticket-status" }, statusLabel(t.status)),
      ),
    );
  }
}
