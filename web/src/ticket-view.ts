// One open ticket: the conversation (centre) and its details, contact reason, actions and audit
// trail (right).
import { Code, ConnectError } from "@connectrpc/connect";
import { describeError, isAbort, isTransient, uuid, watch, type StreamState } from "./api";
import type { Ctx } from "./console";
import { debounce, h, options, replace } from "./dom";
import { age, fullTime, humanize, resolutionLabel, shortTime, statusLabel, statusName, eventTypeName, toDate } from "./format";
import { ResolutionStatus, TicketStatus, type Ticket, type TicketEvent } from "./gen/casework/v1/common_pb";
import { SenderType, type Message, type WatchRoomResponse } from "./gen/casework/v1/conversation_service_pb";
import type { SearchableCcrChild } from "./gen/casework/v1/ccr_service_pb";
import { icon } from "./icons";
import { clockLine, nextDue, severityLabel, slaBadge, slaDue, slaStateName } from "./sla";
import { toast, toastError } from "./toast";

export interface TicketViewHooks {
  /** A newer ticket came back from a call made here. */
  onTicket: (ticket: Ticket) => void;
  /** MarkRead moved the unread count of a ticket. */
  onUnread: (ticketId: string, unread: number) => void;
  /** The agent closed the view. */
  onClose: () => void;
}

const OPEN = [TicketStatus.CREATED, TicketStatus.ASSIGNED, TicketStatus.ON_HOLD, TicketStatus.ESCALATED];
const PRIORITY = ["Not set", "Low", "Medium", "High", "Urgent"];
const KNOWN_RESOLUTIONS = [ResolutionStatus.NO_ACTION, ResolutionStatus.REFUNDED, ResolutionStatus.CUSTOMER_LEFT_CHAT];

/** What the ticket's status allows (DESIGN.md §3's transition table). */
export function allowed(status: TicketStatus) {
  const open = OPEN.includes(status);
  return {
    open,
    hold: status === TicketStatus.ASSIGNED,
    resume: status === TicketStatus.ON_HOLD,
    escalate: status === TicketStatus.ASSIGNED || status === TicketStatus.ON_HOLD,
    transfer: open,
    close: open,
    update: open,
  };
}

/** CCR code → "Level 1 › Level 2 › Leaf" in some language, shared by all views. */
const ccrLabels = new Map<string, string>();

type Action = "escalate" | "transfer" | "close";

export class TicketView {
  readonly element: HTMLElement;
  private ticket: Ticket;
  private readonly abort = new AbortController();
  private readonly messages = new Map<string, Message>();
  private lastMessageId = "";
  private messagesLoaded = false;
  private olderToken = "";
  private readRequested = "";
  private lastReadError = "";
  private pendingKey = "";
  private mode: "reply" | "note" = "reply";
  private sideTab: "details" | "audit" = "details";
  private auditStale = true;
  private openAction?: Action;
  private isLost = false;
  private roomState: StreamState = "connecting";
  private busy = false;

  // Conversation
  private readonly head = h("div", { class: "conv-head" });
  private readonly banner = h("div", { class: "conv-banner-host" });
  private readonly thread = h("div", { class: "thread", "data-testid": "message-list", "aria-live": "polite" });
  private readonly input = h("textarea", {
    class: "composer-input",
    "data-testid": "composer-input",
    rows: 3,
    placeholder: "Write a reply…",
    "aria-label": "Message",
  });
  private readonly sendButton = h("button", { class: "btn btn-primary", "data-testid": "composer-send", type: "submit" }, icon("send"), h("span", null, "Send"));
  private readonly modeReply = h("button", { type: "button", class: "seg active", "data-testid": "composer-mode-reply", onclick: () => this.setMode("reply") }, icon("chat", 14), "Reply");
  private readonly modeNote = h("button", { type: "button", class: "seg", "data-testid": "composer-mode-note", onclick: () => this.setMode("note") }, icon("note", 14), "Internal note");
  private readonly composerNote = h("div", { class: "composer-hint" });
  private readonly composer: HTMLFormElement;

  // Side
  private readonly sideTabs = h("div", { class: "side-tabs" });
  private readonly detailsPane = h("div", { class: "side-body", "data-testid": "details-pane" });
  private readonly auditPane = h("div", { class: "side-body", "data-testid": "audit-pane" });
  private readonly summary = h("div", { class: "section" });
  private readonly ccrCurrent = h("div", { class: "ccr-current", "data-testid": "ccr-current" });
  private readonly ccrSearch = h("input", { type: "search", class: "input", placeholder: "Search contact reasons…", "data-testid": "ccr-search", "aria-label": "Search contact reasons" });
  private readonly ccrLanguage = h("select", { class: "input input-lang", "data-testid": "ccr-language", "aria-label": "Language of contact reasons" });
  private readonly ccrResults = h("div", { class: "ccr-results", "data-testid": "ccr-results" });
  private readonly actionsRow = h("div", { class: "actions" });
  private readonly actionForm = h("div", { class: "action-form-host" });
  private readonly outcome = h("div", { class: "section-host" });
  private ccrSeq = 0;

  constructor(
    private readonly ctx: Ctx,
    ticket: Ticket,
    private readonly hooks: TicketViewHooks,
  ) {
    this.ticket = ticket;
    this.composer = h(
      "form",
      { class: "composer", "data-testid": "composer", onsubmit: (e: Event) => { e.preventDefault(); void this.send(); } },
      h("div", { class: "composer-top" }, h("div", { class: "segmented", role: "group", "aria-label": "Message kind" }, this.modeReply, this.modeNote), this.composerNote),
      this.input,
      h("div", { class: "composer-bottom" }, h("span", { class: "composer-keys" }, "Enter to send · Shift+Enter for a new line"), this.sendButton),
    );
    this.input.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        void this.send();
      }
    });
    this.input.addEventListener("input", () => (this.pendingKey = ""));

    const searchNow = debounce(() => void this.searchCcr(), 250);
    this.ccrSearch.addEventListener("input", searchNow);
    this.ccrLanguage.addEventListener("change", () => void this.searchCcr());
    const languages = [...new Set([ticket.metadata?.language, ...ctx.me.languages, "en", "de", "fr"].filter((l): l is string => !!l))];
    replace(this.ccrLanguage, options(languages.map((l) => ({ value: l, label: l.toUpperCase() })), languages[0]));

    this.element = h(
      "div",
      { class: "ticket-view", "data-testid": "ticket-view", "data-ticket-id": ticket.id },
      h("section", { class: "pane pane-conversation" }, this.head, this.banner, this.thread, this.composer),
      h(
        "aside",
        { class: "pane pane-side" },
        this.sideTabs,
        this.detailsPane,
        this.auditPane,
      ),
    );
    replace(
      this.detailsPane,
      this.summary,
      h(
        "div",
        { class: "section" },
        h("h3", null, "Contact reason"),
        this.ccrCurrent,
        h("div", { class: "ccr-search-row" }, h("span", { class: "input-icon" }, icon("search", 14)), this.ccrSearch, this.ccrLanguage),
        this.ccrResults,
      ),
      h("div", { class: "section" }, h("h3", null, "Actions"), this.actionsRow, this.actionForm),
      this.outcome,
    );
    this.renderSideTabs();
    this.render();
    this.startRoom();
    document.addEventListener("visibilitychange", this.onVisible);
    // Ages ("3m ago", overdue, SLA countdowns) move on by themselves.
    this.ticker = setInterval(() => this.render(), 15_000);
  }

  private readonly ticker: ReturnType<typeof setInterval>;

  dispose(): void {
    clearInterval(this.ticker);
    this.abort.abort();
    document.removeEventListener("visibilitychange", this.onVisible);
  }

  /** The ticket changed (from the list's stream). */
  update(ticket: Ticket): void {
    if (ticket.version < this.ticket.version) return;
    const before = this.ticket;
    this.ticket = ticket;
    this.auditStale = true;
    this.render();
    if (this.sideTab === "audit") void this.loadAudit();
    if (ticket.unreadCount > 0) this.markRead();
    const closedBy = ticket.resolution?.closedBy;
    if (before.status !== ticket.status && ticket.status === TicketStatus.CLOSED && closedBy && closedBy !== this.ctx.me.id) {
      toast(`#${ticket.number} was closed by ${closedBy}.`, "info");
    }
  }

  /** Whether the ticket left the agent's sight. */
  get gone(): boolean {
    return this.isLost;
  }

  /** The ticket left the agent's sight (transferred, escalated away, re-queued). */
  lost(): void {
    if (this.isLost) return;
    this.isLost = true;
    this.abort.abort();
    this.render();
  }

  private readonly onVisible = () => {
    if (document.visibilityState === "visible") this.markRead();
  };

  // ---- rendering -------------------------------------------------------------------------

  private render(): void {
    const t = this.ticket;
    const status = statusName(t.status);
    const can = allowed(t.status);
    const live = can.open && !this.isLost;
    this.element.dataset.status = status;

    replace(
      this.head,
      h(
        "div",
        { class: "conv-title" },
        h("h2", { "data-testid": "ticket-title" }, t.subject || "(no subject)"),
        h("span", { class: `pill pill-${status.toLowerCase()}`, "data-testid": "ticket-status-pill", "data-status": status }, statusLabel(t.status)),
      ),
      h(
        "div",
        { class: "conv-sub" },
        h("span", { class: "mono" }, `#${t.number}`),
        h("span", null, t.customer?.name || t.customer?.id || "Unknown customer"),
        h("span", null, t.queue),
        h("span", null, t.channel),
        t.priority > 0 ? h("span", { class: `prio prio-${t.priority}` }, PRIORITY[t.priority] ?? `P${t.priority}`) : null,
      ),
    );

    this.renderBanner();

    // Composer
    const roomId = t.metadata?.roomId ?? "";
    const roomClosed = !!t.metadata?.chatRoomClosed;
    let why = "";
    if (this.isLost) why = "You can no longer write to this ticket.";
    else if (!roomId) why = `This ${t.channel || "ticket"} ticket has no chat room.`;
    else if (t.status === TicketStatus.CLOSED) why = "The ticket is closed.";
    else if (roomClosed) why = "The chat room is closed.";
    const canWrite = !why;
    this.input.disabled = !canWrite || this.busy;
    this.sendButton.disabled = !canWrite || this.busy;
    this.modeReply.disabled = this.modeNote.disabled = !canWrite;
    this.composer.classList.toggle("disabled", !canWrite);
    this.composerNote.textContent = why || (this.mode === "note" ? "Only agents see internal notes." : "");

    // Details
    const m = t.metadata;
    const due = toDate(m?.dueAt);
    const overdue = !!due && can.open && due.getTime() < Date.now();
    const row = (label: string, value: Node | string | null | undefined, testid?: string) =>
      value ? [h("dt", null, label), h("dd", testid ? { "data-testid": testid } : null, value)] : [];
    replace(
      this.summary,
      h("h3", null, "Ticket"),
      h(
        "dl",
        { class: "facts" },
        row("Status", h("span", null, statusLabel(t.status), t.statusReason && t.statusReason.toLowerCase() !== statusLabel(t.status).toLowerCase() ? h("span", { class: "muted" }, ` · ${t.statusReason}`) : null), "detail-status"),
        row("Assignee", t.assignee || "Unassigned", "detail-assignee"),
        row("Queue", t.queue, "detail-queue"),
        row("Channel", t.channel),
        row("Priority", PRIORITY[t.priority] ?? String(t.priority)),
        row("Severity", severityLabel(t.severity), "detail-severity"),
        row("SLA", this.slaFacts(), "detail-sla"),
        row("Created", h("span", { title: fullTime(t.createdAt) }, `${shortTime(t.createdAt)} (${age(t.createdAt)} ago)`)),
        row("Due", due ? h("span", { class: overdue ? "overdue" : "", title: fullTime(m?.dueAt) }, `${shortTime(m?.dueAt)}${overdue ? " · overdue" : ""}`) : null),
        row("Order", m?.orderId ? `${m.orderId}${m.entityId ? ` (${m.entityId})` : ""}` : null),
        row("Language", [m?.language, m?.country?.toUpperCase()].filter(Boolean).join(" · ") || null),
        row("Tags", m?.tags.length ? h("span", { class: "tags" }, m.tags.map((tag) => h("span", { class: "tag" }, tag))) : null),
        row("External id", t.externalId || null),
      ),
      h("h3", null, "Customer"),
      h(
        "dl",
        { class: "facts" },
        row("Name", t.customer?.name || [t.customer?.firstName, t.customer?.lastName].filter(Boolean).join(" ") || null, "detail-customer"),
        row("Email", t.customer?.email || null),
        row("Phone", t.customer?.phone || null),
        row("Id", t.customer?.id ? h("span", { class: "mono" }, t.customer.id) : null),
      ),
    );

    this.renderCcrCurrent();
    this.ccrSearch.disabled = this.ccrLanguage.disabled = !live;
    if (!live) replace(this.ccrResults);

    const button = (id: string, label: string, ic: Parameters<typeof icon>[0], enabled: boolean, onclick: () => void, tone = "") =>
      h("button", { class: `btn btn-sm ${tone}${this.openAction === id ? " active" : ""}`, "data-testid": `action-${id}`, disabled: !enabled || !live || this.busy, onclick }, icon(ic, 14), label);
    replace(
      this.actionsRow,
      can.resume
        ? button("resume", "Resume", "play", true, () => void this.run("Resume", () => this.ctx.api.tickets.resumeTicket({ ticketId: t.id }), "Ticket resumed."))
        : button("hold", "Hold", "pause", can.hold, () => void this.run("Hold", () => this.ctx.api.tickets.holdTicket({ ticketId: t.id, reason: "" }), "Ticket on hold.")),
      button("escalate", "Escalate", "up", can.escalate, () => this.toggleAction("escalate")),
      button("transfer", "Transfer", "transfer", can.transfer, () => this.toggleAction("transfer")),
      button("close", "Close", "check", can.close, () => this.toggleAction("close"), "btn-close"),
    );
    if (this.openAction && (!live || !can[this.openAction])) this.openAction = undefined;
    this.renderActionForm();

    // Outcome
    const outcome: Node[] = [];
    if (t.escalation && (t.escalation.department || t.escalation.toAgent)) {
      const e = t.escalation;
      outcome.push(
        h("div", { class: "section" }, h("h3", null, "Escalation"), h("dl", { class: "facts" },
          row("Department", this.departmentLabel(e.department) || null),
          row("To", e.toAgent || null),
          row("From", e.fromAgent || null),
          row("When", e.at ? fullTime(e.at) : null),
          row("Reason", e.statusReason || null),
        )),
      );
    }
    if (t.resolution && t.status === TicketStatus.CLOSED) {
      const r = t.resolution;
      outcome.push(
        h("div", { class: "section", "data-testid": "resolution" }, h("h3", null, "Resolution"), h("dl", { class: "facts" },
          row("Outcome", resolutionLabel(r.status), "detail-resolution"),
          row("Reason", r.reason || null),
          row("Closed by", r.closedBy || null),
          row("Closed", r.closedAt ? fullTime(r.closedAt) : null),
        )),
      );
    }
    if (t.rating && t.rating.score > 0) {
      outcome.push(h("div", { class: "section" }, h("h3", null, "Rating"), h("div", { class: "rating" }, "★".repeat(t.rating.score) + "☆".repeat(Math.max(0, 5 - t.rating.score)), t.rating.comment ? h("p", null, t.rating.comment) : null)));
    }
    replace(this.outcome, outcome);
  }

  /** The SLA state, the countdown to the next due time and one line per target. */
  private slaFacts(): HTMLElement {
    const sla = this.ticket.sla;
    if (!sla?.hasPolicy) return h("span", { class: "muted", "data-sla-state": "NONE" }, "No SLA policy");
    const now = Date.now();
    return h(
      "div",
      { class: "sla-facts", "data-sla-state": slaStateName(sla) },
      h("div", { class: "sla-line" }, slaBadge(sla), nextDue(sla) ? slaDue(sla, now) : null),
      sla.clocks.length ? h("ul", { class: "sla-clocks" }, sla.clocks.map((c) => clockLine(c, now))) : null,
    );
  }

  private renderBanner(): void {
    const t = this.ticket;
    const banners: Node[] = [];
    if (this.roomState === "retrying" && !this.isLost) {
      banners.push(h("div", { class: "banner banner-reconnect", "data-testid": "room-reconnecting" }, h("span", null, "Live conversation interrupted; reconnecting…")));
    }
    if (this.isLost) {
      banners.push(
        h(
          "div",
          { class: "banner banner-warn", "data-testid": "ticket-lost-banner" },
          h("span", null, "This ticket is no longer in your list (transferred, escalated or re-queued)."),
          h("button", { class: "btn btn-sm", onclick: () => this.hooks.onClose() }, "Close view"),
        ),
      );
    } else if (t.status === TicketStatus.CLOSED) {
      const r = t.resolution;
      banners.push(
        h(
          "div",
          { class: "banner banner-closed", "data-testid": "ticket-closed-banner" },
          icon("lock", 14),
          h(
            "span",
            null,
            "Closed",
            r ? ` · ${resolutionLabel(r.status)}` : "",
            r?.closedBy ? ` · by ${r.closedBy}` : "",
            r?.closedAt ? ` · ${fullTime(r.closedAt)}` : "",
          ),
        ),
      );
    } else if (t.status === TicketStatus.ON_HOLD) {
      banners.push(h("div", { class: "banner banner-hold", "data-testid": "ticket-hold-banner" }, icon("pause", 14), h("span", null, "On hold", t.statusReason ? ` · ${t.statusReason}` : "")));
    } else if (t.status === TicketStatus.ESCALATED && t.escalation) {
      const e = t.escalation;
      banners.push(h("div", { class: "banner banner-esc" }, icon("up", 14), h("span", null, `Escalated to ${this.departmentLabel(e.department) || e.toAgent}`, e.statusReason ? ` · ${e.statusReason}` : "")));
    }
    replace(this.banner, banners);
  }

  private departmentLabel(id: string): string {
    return this.ctx.departments.find((d) => d.id === id)?.label || id;
  }

  private renderSideTabs(): void {
    const tab = (id: "details" | "audit", label: string) =>
      h("button", { class: `side-tab${this.sideTab === id ? " active" : ""}`, "data-testid": `side-tab-${id}`, onclick: () => this.showSide(id) }, label);
    replace(this.sideTabs, tab("details", "Details"), tab("audit", "Audit trail"));
    this.detailsPane.hidden = this.sideTab !== "details";
    this.auditPane.hidden = this.sideTab !== "audit";
  }

  private showSide(tab: "details" | "audit"): void {
    this.sideTab = tab;
    this.renderSideTabs();
    if (tab === "audit" && this.auditStale) void this.loadAudit();
  }

  // ---- conversation ----------------------------------------------------------------------

  private startRoom(): void {
    const roomId = this.ticket.metadata?.roomId;
    if (!roomId) {
      replace(this.thread, h("div", { class: "thread-note" }, "No conversation for this ticket."));
      return;
    }
    replace(this.thread, h("div", { class: "thread-note" }, "Loading conversation…"));
    let reported = false;
    void watch<WatchRoomResponse>({
      signal: this.abort.signal,
      open: (signal, onHeader) => this.ctx.api.conversations.watchRoom({ roomId, afterMessageId: this.lastMessageId }, { signal, onHeader }),
      // With no message seen yet there is no cursor: list once the stream is open.
      onOpen: () => (!this.messagesLoaded || !this.lastMessageId ? this.loadMessages(roomId) : undefined),
      onMessage: (res) => {
        if (res.message) this.addMessages([res.message]);
        reported = false;
      },
      onState: (state, err) => {
        this.thread.dataset.stream = state;
        this.roomState = state;
        this.renderBanner();
        // Access lost (transferred, escalated away): the room is no longer ours to watch.
        const code = err ? ConnectError.from(err).code : undefined;
        if (state === "retrying" && (code === Code.PermissionDenied || code === Code.NotFound)) {
          this.lost();
          return;
        }
        // Network trouble shows in the banner; any other refusal is worth a toast.
        if (state === "retrying" && err && !isTransient(err) && !reported) {
          reported = true;
          toastError("Live conversation stopped", err);
        }
      },
    });
  }

  private async loadMessages(roomId: string): Promise<void> {
    const res = await this.ctx.api.conversations.listMessages({ roomId, pageSize: 100, newestFirst: true }, { signal: this.abort.signal });
    if (!this.messagesLoaded) this.olderToken = res.nextPageToken;
    this.messagesLoaded = true;
    this.addMessages(res.messages, true);
  }

  private async loadOlder(): Promise<void> {
    const roomId = this.ticket.metadata?.roomId;
    if (!roomId || !this.olderToken) return;
    try {
      const res = await this.ctx.api.conversations.listMessages({ roomId, pageSize: 100, newestFirst: true, pageToken: this.olderToken }, { signal: this.abort.signal });
      this.olderToken = res.nextPageToken;
      const height = this.thread.scrollHeight;
      this.addMessages(res.messages, false, true);
      this.thread.scrollTop += this.thread.scrollHeight - height;
    } catch (err) {
      if (!isAbort(err)) toastError("Could not load earlier messages", err);
    }
  }

  private addMessages(list: Message[], forceBottom = false, keepScroll = false): void {
    let added = false;
    for (const m of list) {
      if (!this.messages.has(m.id)) {
        this.messages.set(m.id, m);
        added = true;
      }
      if (m.id > this.lastMessageId) this.lastMessageId = m.id;
    }
    if (!added && !forceBottom) return;
    const nearBottom = this.thread.scrollHeight - this.thread.scrollTop - this.thread.clientHeight < 120;
    this.renderThread();
    if (!keepScroll && (forceBottom || nearBottom)) this.thread.scrollTop = this.thread.scrollHeight;
    this.markRead();
  }

  private renderThread(): void {
    const sorted = [...this.messages.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const nodes: Node[] = [];
    if (this.olderToken) {
      nodes.push(h("button", { class: "btn btn-sm btn-ghost older", "data-testid": "load-older", onclick: () => void this.loadOlder() }, "Load earlier messages"));
    }
    if (sorted.length === 0) nodes.push(h("div", { class: "thread-note", "data-testid": "no-messages" }, "No messages yet."));
    let day = "";
    for (const m of sorted) {
      const d = toDate(m.createdAt);
      const label = d ? d.toLocaleDateString("en", { weekday: "short", day: "numeric", month: "short", year: "numeric" }) : "";
      if (label && label !== day) {
        day = label;
        nodes.push(h("div", { class: "day" }, h("span", null, d && d.toDateString() === new Date().toDateString() ? "Today" : label)));
      }
      nodes.push(this.messageEl(m));
    }
    replace(this.thread, nodes);
  }

  private messageEl(m: Message): HTMLElement {
    const kind = SenderType[m.senderType] ?? "UNSPECIFIED";
    const note = !m.visibleToCustomer;
    const side = m.senderType === SenderType.SYSTEM ? "center" : m.senderType === SenderType.AGENT || note ? "right" : "left";
    const mine = m.senderId === this.ctx.me.id;
    return h(
      "div",
      {
        class: `msg msg-${kind.toLowerCase()} msg-${side}${note ? " msg-note" : ""}${mine ? " msg-mine" : ""}`,
        "data-testid": "message",
        "data-message-id": m.id,
        "data-sender-type": kind,
        "data-internal": note ? "true" : "false",
      },
      m.senderType === SenderType.SYSTEM
        ? null
        : h(
            "div",
            { class: "msg-meta" },
            h("span", { class: "msg-sender" }, m.senderName || m.senderId || humanize(kind)),
            m.senderType === SenderType.BOT ? h("span", { class: "tag" }, "Bot") : null,
            h("span", { class: "msg-time", title: fullTime(m.createdAt) }, shortTime(m.createdAt)),
          ),
      h(
        "div",
        { class: "msg-bubble" },
        note ? h("div", { class: "msg-note-label", "data-testid": "note-label" }, icon("note", 12), "Internal note") : null,
        h("div", { class: "msg-body", "data-testid": "message-body" }, m.body),
        m.attachments.length
          ? h("div", { class: "msg-attachments" }, m.attachments.map((a) =>
              h("button", { class: "attachment", title: `${a.contentType} · ${a.size} bytes`, onclick: () => void this.download(a.id, a.name) }, a.name)))
          : null,
        m.buttons.length ? h("div", { class: "msg-buttons" }, m.buttons.map((b) => h("span", { class: "chip", title: b.payload }, b.label))) : null,
      ),
      m.senderType === SenderType.SYSTEM ? h("div", { class: "msg-time", title: fullTime(m.createdAt) }, shortTime(m.createdAt)) : null,
    );
  }

  /** Saves an attachment. The blob gets the server's `downloadContentType`, never the
   *  uploaded type: a blob URL lives in this page's origin, so HTML or SVG must not render. */
  private async download(id: string, name: string): Promise<void> {
    try {
      const res = await this.ctx.api.conversations.getAttachment({ attachmentId: id });
      const type = res.downloadContentType || "application/octet-stream";
      const url = URL.createObjectURL(new Blob([res.data.slice()], { type }));
      const a = h("a", { href: url, download: name });
      a.click();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
    } catch (err) {
      toastError(`Could not download ${name}`, err);
    }
  }

  /** Moves the read position to the latest message while the agent looks at it. */
  private markRead(): void {
    const roomId = this.ticket.metadata?.roomId;
    if (!roomId || !this.lastMessageId || this.isLost || document.visibilityState !== "visible") return;
    if (this.readRequested === this.lastMessageId && this.ticket.unreadCount === 0) return;
    this.markReadSoon(roomId);
  }

  private readonly markReadSoon = debounce(async (roomId: string) => {
    const messageId = this.lastMessageId;
    this.readRequested = messageId;
    try {
      const res = await this.ctx.api.conversations.markRead({ roomId, messageId }, { signal: this.abort.signal });
      this.lastReadError = "";
      const unread = res.room?.unreadCount ?? 0;
      this.ticket = { ...this.ticket, unreadCount: unread };
      this.hooks.onUnread(this.ticket.id, unread);
    } catch (err) {
      if (isAbort(err)) return;
      this.readRequested = "";
      const text = describeError(err);
      if (text !== this.lastReadError) toastError("Could not mark the conversation read", err);
      this.lastReadError = text;
    }
  }, 250);

  private setMode(mode: "reply" | "note"): void {
    this.mode = mode;
    this.pendingKey = "";
    this.modeReply.classList.toggle("active", mode === "reply");
    this.modeNote.classList.toggle("active", mode === "note");
    this.composer.classList.toggle("note-mode", mode === "note");
    this.input.placeholder = mode === "note" ? "Write an internal note (agents only)…" : "Write a reply…";
    this.sendButton.lastElementChild!.textContent = mode === "note" ? "Add note" : "Send";
    this.render();
    this.input.focus();
  }

  private async send(): Promise<void> {
    const body = this.input.value.trim();
    const roomId = this.ticket.metadata?.roomId;
    if (!body || !roomId || this.input.disabled || this.busy) return;
    // The same key for a retry of the same text: a reply lost on the way is never sent twice.
    this.pendingKey ||= uuid();
    this.busy = true;
    this.render();
    try {
      const res = await this.ctx.api.conversations.sendMessage({
        roomId,
        clientMessageId: this.pendingKey,
        senderType: SenderType.AGENT,
        body,
        internalNote: this.mode === "note",
      });
      this.input.value = "";
      this.pendingKey = "";
      if (res.message) this.addMessages([res.message], true);
    } catch (err) {
      toastError(this.mode === "note" ? "Note not saved" : "Message not sent", err);
    } finally {
      this.busy = false;
      this.render();
      this.input.focus();
    }
  }

  // ---- contact reason --------------------------------------------------------------------

  private renderCcrCurrent(): void {
    const code = this.ticket.metadata?.ccr ?? "";
    if (!code) {
      replace(this.ccrCurrent, h("span", { class: "muted" }, "Not set"));
      this.ccrCurrent.dataset.code = "";
      return;
    }
    this.ccrCurrent.dataset.code = code;
    const label = ccrLabels.get(code);
    replace(this.ccrCurrent, h("span", { class: "ccr-code mono" }, code), label ? h("span", { class: "ccr-label" }, label) : null);
    if (label === undefined) void this.describeCcr(code);
  }

  private async describeCcr(code: string): Promise<void> {
    ccrLabels.set(code, "");
    const language = this.ccrLanguage.value || "en";
    const parts: string[] = [];
    try {
      let next = code;
      for (let depth = 0; next && depth < 3; depth++) {
        const ccr = (await this.ctx.api.ccr.getCcr({ code: next }, { signal: this.abort.signal })).ccr;
        if (!ccr) break;
        const tr = ccr.translations.find((x) => x.language === language) ?? ccr.translations.find((x) => x.language === "en") ?? ccr.translations[0];
        parts.unshift(tr?.text ?? ccr.code);
        next = ccr.parentCode;
      }
      ccrLabels.set(code, parts.join(" › "));
      if (this.ticket.metadata?.ccr === code) this.renderCcrCurrent();
    } catch (err) {
      ccrLabels.delete(code);
      if (!isAbort(err)) toastError(`Could not describe contact reason ${code}`, err);
    }
  }

  private async searchCcr(): Promise<void> {
    const query = this.ccrSearch.value.trim();
    const seq = ++this.ccrSeq;
    if (!query) {
      replace(this.ccrResults);
      return;
    }
    this.ccrResults.dataset.state = "loading";
    try {
      const res = await this.ctx.api.ccr.searchCcr({ query, language: this.ccrLanguage.value, pageSize: 20 }, { signal: this.abort.signal });
      if (seq !== this.ccrSeq) return;
      this.ccrResults.dataset.state = "done";
      if (res.results.length === 0) {
        replace(this.ccrResults, h("div", { class: "list-note", "data-testid": "ccr-empty" }, `No contact reason matches “${query}”.`));
        return;
      }
      replace(this.ccrResults, res.results.map((r) => this.ccrResult(r)));
    } catch (err) {
      if (seq !== this.ccrSeq || isAbort(err)) return;
      this.ccrResults.dataset.state = "error";
      replace(this.ccrResults);
      toastError("Contact reason search failed", err);
    }
  }

  private ccrResult(r: SearchableCcrChild): HTMLElement {
    const leaf = r.data;
    const code = leaf?.code ?? "";
    const path = [...r.parents.map((p) => p.translation || p.code), leaf?.translation || code];
    const current = this.ticket.metadata?.ccr === code;
    return h(
      "button",
      {
        class: `ccr-result${current ? " current" : ""}`,
        "data-testid": "ccr-result",
        "data-code": code,
        disabled: this.busy,
        onclick: () => void this.setCcr(code, path.join(" › ")),
      },
      h("span", { class: "ccr-code mono" }, code),
      h("span", { class: "ccr-path" }, r.parents.map((p) => h("span", { class: "muted" }, `${p.translation || p.code} › `)), h("strong", null, leaf?.translation || code)),
    );
  }

  private async setCcr(code: string, label: string): Promise<void> {
    ccrLabels.set(code, label);
    const ok = await this.run(
      "Contact reason not saved",
      () => this.ctx.api.tickets.updateTicket({ ticketId: this.ticket.id, ticket: { metadata: { ccr: code } }, updateMask: { paths: ["metadata.ccr"] } }),
      `Contact reason set to ${code}.`,
    );
    if (ok) {
      this.ccrSearch.value = "";
      replace(this.ccrResults);
    }
  }

  // ---- actions ---------------------------------------------------------------------------

  private toggleAction(action: Action): void {
    this.openAction = this.openAction === action ? undefined : action;
    this.render();
    this.actionForm.scrollIntoView({ block: "nearest" });
    this.actionForm.querySelector<HTMLElement>("select, textarea")?.focus();
  }

  private renderedAction?: Action;

  /** Builds the open action's form once, so updates arriving meanwhile keep what was typed. */
  private renderActionForm(): void {
    const action = this.openAction;
    if (action === this.renderedAction) {
      this.actionForm.querySelectorAll<HTMLButtonElement>("button[type=submit]").forEach((b) => (b.disabled = this.busy || b.dataset.empty === "true"));
      return;
    }
    this.renderedAction = action;
    if (!action) {
      replace(this.actionForm);
      return;
    }
    const t = this.ticket;
    const reason = h("textarea", { class: "input", rows: 2, "data-testid": `${action}-reason`, placeholder: action === "close" ? "Resolution note (optional)" : "Reason (optional)" });
    const cancel = h("button", { type: "button", class: "btn btn-sm btn-ghost", "data-testid": "action-cancel", onclick: () => this.toggleAction(action) }, "Cancel");
    let field: HTMLSelectElement;
    let submit: HTMLButtonElement;
    let title: string;
    if (action === "escalate") {
      title = "Escalate to a department";
      field = h("select", { class: "input", "data-testid": "escalate-department", required: true }, options(this.ctx.departments.map((d) => ({ value: d.id, label: d.label || d.id }))));
      submit = h("button", { type: "submit", class: "btn btn-sm btn-primary", "data-testid": "escalate-submit" }, "Escalate");
    } else if (action === "transfer") {
      title = "Transfer to a queue";
      const queues = this.ctx.queues.filter((q) => q.id !== t.queue);
      field = h("select", { class: "input", "data-testid": "transfer-queue", required: true }, options(queues.map((q) => ({ value: q.id, label: `${q.name || q.id}${q.language ? ` (${q.language})` : ""}` }))));
      submit = h("button", { type: "submit", class: "btn btn-sm btn-primary", "data-testid": "transfer-submit" }, "Transfer");
    } else {
      title = "Close with a resolution";
      const list = this.ctx.resolutions.length ? this.ctx.resolutions : KNOWN_RESOLUTIONS;
      field = h("select", { class: "input", "data-testid": "close-resolution", required: true }, options(list.map((s) => ({ value: String(s), label: resolutionLabel(s) }))));
      submit = h("button", { type: "submit", class: "btn btn-sm btn-primary", "data-testid": "close-submit" }, "Close ticket");
    }
    if (field.options.length === 0) {
      submit.disabled = true;
      submit.dataset.empty = "true";
    }
    const form = h(
      "form",
      {
        class: "action-form",
        "data-testid": `${action}-form`,
        onsubmit: (e: Event) => {
          e.preventDefault();
          void this.submitAction(action, field.value, reason.value.trim());
        },
      },
      h("div", { class: "action-form-title" }, title),
      field,
      reason,
      h("div", { class: "action-form-buttons" }, cancel, submit),
    );
    replace(this.actionForm, form);
  }

  private async submitAction(action: Action, value: string, reason: string): Promise<void> {
    const { tickets } = this.ctx.api;
    const ticketId = this.ticket.id;
    let ok = false;
    if (action === "escalate") {
      ok = await this.run("Escalation failed", () => tickets.escalateTicket({ ticketId, department: value, statusReason: reason }), `Escalated to ${this.departmentLabel(value)}.`);
    } else if (action === "transfer") {
      ok = await this.run("Transfer failed", () => tickets.transferTicket({ ticketId, queueId: value, reason }), `Transferred to ${value}.`);
    } else {
      ok = await this.run(
        "Close failed",
        () => tickets.closeTicket({ ticketId, resolutionStatus: Number(value) as ResolutionStatus, resolutionReason: reason }),
        `#${this.ticket.number} closed.`,
      );
    }
    if (ok) {
      this.openAction = undefined;
      this.render();
    }
  }

  /** Runs a ticket call; shows success or the server's error; applies the returned ticket. */
  private async run(what: string, call: () => Promise<{ ticket?: Ticket }>, success: string): Promise<boolean> {
    if (this.busy) return false;
    this.busy = true;
    this.element.dataset.busy = "true";
    this.render();
    try {
      const res = await call();
      if (res.ticket && res.ticket.version >= this.ticket.version) {
        this.ticket = res.ticket;
        this.auditStale = true;
        this.hooks.onTicket(res.ticket);
      }
      toast(success, "success");
      return true;
    } catch (err) {
      toastError(what, err);
      // Refused because the ticket moved on (closed, changed, gone elsewhere): show it as it is.
      if (isStale(err)) void this.resync();
      return false;
    } finally {
      this.busy = false;
      delete this.element.dataset.busy;
      this.render();
      if (this.sideTab === "audit") void this.loadAudit();
    }
  }

  private async resync(): Promise<void> {
    try {
      const res = await this.ctx.api.tickets.getTicket({ key: { case: "id", value: this.ticket.id } }, { signal: this.abort.signal });
      if (res.ticket && res.ticket.version >= this.ticket.version) {
        this.update(res.ticket);
        this.hooks.onTicket(res.ticket);
      }
    } catch (err) {
      // Not visible any more: the list's stream will say so.
      if (!isAbort(err) && ConnectError.from(err).code !== Code.NotFound && ConnectError.from(err).code !== Code.PermissionDenied) {
        toastError("Could not reload the ticket", err);
      }
    }
  }

  // ---- audit trail -----------------------------------------------------------------------

  private auditSeq = 0;

  private async loadAudit(): Promise<void> {
    const seq = ++this.auditSeq;
    this.auditStale = false;
    if (!this.auditPane.firstChild) replace(this.auditPane, h("div", { class: "list-note" }, "Loading…"));
    try {
      const events: TicketEvent[] = [];
      let pageToken = "";
      for (let page = 0; page < 10; page++) {
        const res = await this.ctx.api.tickets.listTicketEvents({ ticketId: this.ticket.id, pageSize: 500, pageToken }, { signal: this.abort.signal });
        events.push(...res.events);
        pageToken = res.nextPageToken;
        if (!pageToken) break;
      }
      if (seq !== this.auditSeq) return;
      replace(
        this.auditPane,
        h(
          "ol",
          { class: "audit", "data-testid": "audit-list", "data-count": String(events.length) },
          [...events].reverse().map((e) =>
            h(
              "li",
              { class: "audit-event", "data-testid": "audit-event", "data-type": eventTypeName(e.type) },
              h("div", { class: "audit-head" }, h("span", { class: `audit-type type-${eventTypeName(e.type).toLowerCase()}` }, humanize(eventTypeName(e.type))), h("time", { title: fullTime(e.at) }, fullTime(e.at))),
              h("div", { class: "audit-actor" }, e.actor || "system", h("span", { class: "muted" }, ` · v${e.version}`)),
              payloadSummary(e.payload),
            ),
          ),
        ),
      );
    } catch (err) {
      if (isAbort(err) || seq !== this.auditSeq) return;
      this.auditStale = true;
      replace(this.auditPane, h("div", { class: "list-note" }, "Could not load the audit trail."));
      toastError("Could not load the audit trail", err);
    }
  }
}

/** Refusals that mean the page showed an outdated ticket. */
function isStale(err: unknown): boolean {
  const code = ConnectError.from(err).code;
  return code === Code.FailedPrecondition || code === Code.Aborted;
}

function payloadSummary(payload: Record<string, unknown> | undefined): HTMLElement | null {
  if (!payload) return null;
  const entries = Object.entries(payload).filter(([, v]) => v !== null && v !== "" && !(Array.isArray(v) && v.length === 0));
  if (entries.length === 0) return null;
  const show = (v: unknown) => (typeof v === "string" ? v : JSON.stringify(v));
  return h("dl", { class: "audit-payload" }, entries.slice(0, 8).flatMap(([k, v]) => [h("dt", null, k), h("dd", null, show(v).slice(0, 200))]));
}
