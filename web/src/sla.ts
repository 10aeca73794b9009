// SLA display, shared by the supervisor view and the ticket details: the state badge, the
// countdown to the next due time, severity and the clocks of each target.
import { h } from "./dom";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { duration, fullTime, shortTime, toDate } from "./format";
import { Severity, SlaState, SlaTarget, type SlaClock, type TicketSla } from "./gen/casework/v1/common_pb";

const SEVERITY: Record<number, string> = {
  [Severity.UNSPECIFIED]: "Not set",
  [Severity.LOW]: "Low",
  [Severity.MEDIUM]: "Medium",
  [Severity.HIGH]: "High",
};

const STATE: Record<number, string> = {
  [SlaState.UNSPECIFIED]: "—",
  [SlaState.ONGOING]: "Ongoing",
  [SlaState.WITHIN_SLA]: "Within SLA",
  [SlaState.BREACHED]: "Breached",
};

const TARGET: Record<number, string> = {
  [SlaTarget.UNSPECIFIED]: "Target",
  [SlaTarget.FIRST_REPLY]: "First reply",
  [SlaTarget.NEXT_REPLY]: "Next reply",
  [SlaTarget.RESOLUTION]: "Resolution",
};

export function severityLabel(severity: Severity): string {
  return SEVERITY[severity] ?? String(severity);
}

/** `ONGOING`, `WITHIN_SLA`, `BREACHED`, or `NONE` without a policy. */
export function slaStateName(sla: TicketSla | undefined): string {
  if (!sla?.hasPolicy) return "NONE";
  return SlaState[sla.state] ?? String(sla.state);
}

/** "due in 3m" / "overdue 2m", from now. */
export function countdown(due: Date, now = Date.now()): string {
  const ms = due.getTime() - now;
  return ms >= 0 ? `due in ${duration(ms)}` : `overdue ${duration(-ms)}`;
}

/** The badge: Ongoing / Within SLA / Breached, or "No SLA". */
export function slaBadge(sla: TicketSla | undefined): HTMLElement {
  const name = slaStateName(sla);
  const label = name === "NONE" ? "No SLA" : (STATE[sla?.state ?? 0] ?? name);
  return h("span", { class: `sla-badge sla-${name.toLowerCase()}`, "data-testid": "sla-badge", "data-state": name }, label);
}

/** The earliest due time of a running target, missed ones included (their clocks run until
 *  the reply or close: "overdue 2m"); else the server's `next_due_at`. */
export function nextDue(sla: TicketSla | undefined): { at: Date; target: SlaTarget } | undefined {
  let best: { at: Date; target: SlaTarget } | undefined;
  for (const clock of sla?.clocks ?? []) {
    const at = toDate(clock.dueAt);
    if (clock.running && at && (!best || at < best.at)) best = { at, target: clock.target };
  }
  const next = toDate(sla?.nextDueAt);
  return best ?? (next ? { at: next, target: SlaTarget.UNSPECIFIED } : undefined);
}

/** The countdown to the earliest running target ("due in 3m · first reply"), or "—". */
export function slaDue(sla: TicketSla | undefined, now = Date.now()): HTMLElement {
  const due = nextDue(sla);
  if (!due) return h("span", { class: "muted", "data-testid": "sla-due" }, "—");
  const late = due.at.getTime() < now;
  return h(
    "span",
    { class: `sla-due${late ? " overdue" : ""}`, "data-testid": "sla-due", title: fullTime(timestampFromDate(due.at)) },
    countdown(due.at, now),
    due.target ? h("span", { class: "sla-due-target" }, ` · ${TARGET[due.target].toLowerCase()}`) : null,
  );
}

/** The SLA column of a table: the badge over the countdown. */
export function slaCell(sla: TicketSla | undefined, now = Date.now()): HTMLElement {
  return h("div", { class: "sla-cell" }, slaBadge(sla), sla?.hasPolicy ? slaDue(sla, now) : null);
}

export function severityChip(severity: Severity): HTMLElement {
  return h("span", { class: `sev sev-${severity}`, "data-testid": "severity", "data-severity": Severity[severity] ?? String(severity) }, severityLabel(severity));
}

/** One clock, compactly: "First reply  met 14:02", "14:05 (due in 3m)", "missed". */
export function clockLine(clock: SlaClock, now = Date.now()): HTMLElement {
  const due = toDate(clock.dueAt);
  let text: string;
  let tone = "";
  if (clock.breached) {
    text = clock.metAt ? `missed, met ${shortTime(clock.metAt)}` : "missed";
    tone = "overdue";
  } else if (clock.metAt) {
    text = `met ${shortTime(clock.metAt)}`;
    tone = "sla-ok";
  } else if (clock.running && due) {
    text = `${shortTime(clock.dueAt)} (${countdown(due, now)})`;
    if (due.getTime() < now) tone = "overdue";
  } else {
    text = clock.usedSeconds > 0n ? `paused (${duration(Number(clock.usedSeconds) * 1000)} used)` : "not started";
    tone = "muted";
  }
  return h(
    "li",
    { class: "sla-clock", "data-testid": "sla-clock", "data-target": SlaTarget[clock.target] ?? String(clock.target), title: `target ${duration(Number(clock.targetSeconds) * 1000)}` },
    h("span", { class: "sla-clock-name" }, TARGET[clock.target] ?? "Target"),
    h("span", { class: tone }, text),
  );
}
