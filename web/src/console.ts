// The signed-in console: header (who, status, tabs) and the pages under it.
import type { Api, StreamState } from "./api";
import { h, options, replace } from "./dom";
import { humanize, initials, roleName } from "./format";
import type { Agent, AgentStatus } from "./gen/casework/v1/agent_service_pb";
import { AgentRole } from "./gen/casework/v1/agent_service_pb";
import type { EscalationDepartment, Queue, ResolutionStatus } from "./gen/casework/v1/common_pb";
import { icon, logo } from "./icons";
import { ReportsPage } from "./reports";
import { SupervisorPage } from "./supervisor";
import { TicketsPage } from "./tickets";
import { toast, toastError } from "./toast";

/** What every page needs: the clients, who is signed in, and the reference data. */
export interface Ctx {
  api: Api;
  me: Agent;
  statuses: AgentStatus[];
  queues: Queue[];
  departments: EscalationDepartment[];
  resolutions: ResolutionStatus[];
  /** Aborted when the console closes (sign-out). */
  signal: AbortSignal;
}

type Tab = "tickets" | "supervisor" | "reports";
const TAB_KEY = "casework.tab";

export function statusTone(name: string, statuses: AgentStatus[]): string {
  const known = ["online", "offline", "break", "busy"];
  if (known.includes(name)) return name;
  return statuses.find((s) => s.name === name)?.receivesTickets ? "online" : "away";
}

export function statusLabelOf(name: string, statuses: AgentStatus[]): string {
  const status = statuses.find((s) => s.name === name);
  return status?.alias || humanize(name || "unknown");
}

export class Console {
  private readonly abort = new AbortController();
  private readonly ctx: Ctx;
  private readonly tickets: TicketsPage;
  private supervisor?: SupervisorPage;
  private reports?: ReportsPage;
  private readonly main = h("main", { class: "main" });
  private readonly tabBar = h("nav", { class: "tabs", "aria-label": "Views" });
  private readonly who = h("div", { class: "who" });
  private readonly picker = h("select", { class: "status-picker", "data-testid": "status-picker", "aria-label": "My status" });
  private readonly statusDot = h("span", { class: "dot" });
  private readonly connection = h("span", { class: "connection", "data-testid": "connection-state" });
  private meTimer?: ReturnType<typeof setInterval>;

  constructor(
    private readonly root: HTMLElement,
    api: Api,
    me: Agent,
    private readonly onSignOut: () => void,
  ) {
    this.ctx = { api, me, statuses: [], queues: [], departments: [], resolutions: [], signal: this.abort.signal };
    this.tickets = new TicketsPage(this.ctx, (state) => this.setConnection(state), () => this.renderTitle());
  }

  get isSupervisor(): boolean {
    return this.ctx.me.role === AgentRole.SUPERVISOR || this.ctx.me.role === AgentRole.ADMIN;
  }

  async start(): Promise<void> {
    const { api } = this.ctx;
    const [statuses, queues, departments, resolutions] = await Promise.allSettled([
      api.agents.listStatuses({}),
      api.tickets.listQueues({}),
      api.tickets.listEscalationDepartments({}),
      api.tickets.listResolutionStatuses({}),
    ]);
    if (statuses.status === "fulfilled") this.ctx.statuses = statuses.value.statuses;
    else toastError("Could not load agent statuses", statuses.reason);
    if (queues.status === "fulfilled") this.ctx.queues = queues.value.queues;
    else toastError("Could not load queues", queues.reason);
    if (departments.status === "fulfilled") this.ctx.departments = departments.value.departments;
    else toastError("Could not load escalation departments", departments.reason);
    if (resolutions.status === "fulfilled") this.ctx.resolutions = resolutions.value.statuses;
    else toastError("Could not load resolution statuses", resolutions.reason);

    this.picker.addEventListener("change", () => void this.setStatus(this.picker.value));
    const header = h(
      "header",
      { class: "topbar" },
      h("div", { class: "brand" }, logo(), h("span", null, "casework")),
      this.tabBar,
      h("div", { class: "spacer" }),
      this.connection,
      this.who,
      h("label", { class: "status-control", title: "My status" }, this.statusDot, this.picker),
      h(
        "button",
        { class: "btn btn-ghost btn-icon", title: "Sign out", "aria-label": "Sign out", "data-testid": "sign-out", onclick: () => this.onSignOut() },
        icon("logout"),
      ),
    );
    replace(this.root, h("div", { class: "app", "data-testid": "console" }, header, this.main));
    this.renderMe();
    const saved = sessionStorage.getItem(TAB_KEY) as Tab | null;
    this.show((saved === "supervisor" || saved === "reports") && this.isSupervisor ? saved : "tickets");
    this.tickets.start();
    // Status changes made elsewhere (a supervisor, another tab) show up within a few seconds.
    this.meTimer = setInterval(() => void this.refreshMe(), 15_000);
  }

  dispose(): void {
    this.abort.abort();
    clearInterval(this.meTimer);
    this.tickets.dispose();
    this.supervisor?.stop();
    this.reports?.stop();
    document.title = "casework";
  }

  private show(tab: Tab): void {
    sessionStorage.setItem(TAB_KEY, tab);
    const tabs: { id: Tab; label: string; icon: "inbox" | "users" | "chart" }[] = [{ id: "tickets", label: "My tickets", icon: "inbox" }];
    if (this.isSupervisor) tabs.push({ id: "supervisor", label: "Supervisor", icon: "users" }, { id: "reports", label: "Reports", icon: "chart" });
    replace(
      this.tabBar,
      tabs.map((t) =>
        h(
          "button",
          {
            class: `tab${t.id === tab ? " active" : ""}`,
            "data-testid": `tab-${t.id}`,
            "aria-pressed": String(t.id === tab),
            onclick: () => this.show(t.id),
          },
          icon(t.icon),
          t.label,
        ),
      ),
    );
    if (tab !== "supervisor") this.supervisor?.stop();
    if (tab !== "reports") this.reports?.stop();
    if (tab === "tickets") {
      replace(this.main, this.tickets.element);
    } else if (tab === "supervisor") {
      this.supervisor ??= new SupervisorPage(this.ctx);
      replace(this.main, this.supervisor.element);
      this.supervisor.start();
    } else {
      this.reports ??= new ReportsPage(this.ctx);
      replace(this.main, this.reports.element);
      this.reports.start();
    }
  }

  private setConnection(state: StreamState): void {
    const label = state === "live" ? "Live" : state === "connecting" ? "Connecting…" : "Reconnecting…";
    this.connection.className = `connection connection-${state}`;
    this.connection.dataset.state = state;
    this.connection.title = state === "live" ? "Receiving live updates" : "Live updates paused; retrying";
    replace(this.connection, h("span", { class: "dot" }), label);
  }

  private renderMe(): void {
    const { me, statuses } = this.ctx;
    const list = statuses.length ? statuses : [{ name: me.status, alias: me.statusAlias, receivesTickets: false } as AgentStatus];
    const items = list.map((s) => ({ value: s.name, label: s.alias || humanize(s.name) }));
    if (!items.some((i) => i.value === me.status)) items.unshift({ value: me.status, label: me.statusAlias || humanize(me.status || "unknown") });
    replace(this.picker, options(items, me.status));
    this.picker.value = me.status;
    this.picker.dataset.status = me.status;
    this.statusDot.className = `dot tone-${statusTone(me.status, statuses)}`;
    replace(
      this.who,
      h("span", { class: "avatar" }, initials(me.name || me.id)),
      h(
        "span",
        { class: "who-text" },
        h("span", { class: "who-name", "data-testid": "agent-name" }, me.name || me.id),
        h("span", { class: "who-role", "data-testid": "agent-role" }, humanize(roleName(me.role))),
      ),
    );
    this.renderTitle();
  }

  private renderTitle(): void {
    // (Called while the tickets page is being built, before `this.tickets` is set.)
    const unread = this.tickets?.unreadTotal() ?? 0;
    document.title = `${unread ? `(${unread}) ` : ""}casework · ${this.ctx.me.name || this.ctx.me.id}`;
  }

  private async setStatus(status: string): Promise<void> {
    const previous = this.ctx.me.status;
    if (status === previous) return;
    this.picker.disabled = true;
    try {
      const res = await this.ctx.api.agents.setStatus({ agentId: "", status });
      if (res.agent) this.ctx.me = res.agent;
      toast(`You are now ${statusLabelOf(this.ctx.me.status, this.ctx.statuses).toLowerCase()}.`, "success");
    } catch (err) {
      toastError("Could not change your status", err);
    } finally {
      this.picker.disabled = false;
      this.renderMe();
    }
  }

  private async refreshMe(): Promise<void> {
    if (this.picker.disabled || document.activeElement === this.picker) return;
    try {
      const res = await this.ctx.api.agents.getMe({}, { signal: this.ctx.signal });
      if (res.agent && (res.agent.status !== this.ctx.me.status || res.agent.name !== this.ctx.me.name)) {
        this.ctx.me = res.agent;
        this.renderMe();
      }
    } catch {
      // The next poll tries again; lasting trouble shows in the connection state.
    }
  }
}
