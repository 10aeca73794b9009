// Display helpers: enum names, times, durations.
import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import { ResolutionStatus, TicketEventType, TicketStatus } from "./gen/casework/v1/common_pb";
import { AgentRole } from "./gen/casework/v1/agent_service_pb";

/** Name of an enum value without the enum's prefix, e.g. `ON_HOLD` (as generated). */
function enumName(table: Record<number, string>, value: number): string {
  return table[value] ?? String(value);
}

export function statusName(status: TicketStatus): string {
  return enumName(TicketStatus, status);
}

/** "On hold" */
export function statusLabel(status: TicketStatus): string {
  return humanize(statusName(status));
}

export function eventTypeName(type: TicketEventType): string {
  return enumName(TicketEventType, type);
}

export function resolutionLabel(status: ResolutionStatus): string {
  return humanize(enumName(ResolutionStatus, status));
}

export function roleName(role: AgentRole): string {
  return enumName(AgentRole, role);
}

/** `CUSTOMER_LEFT_CHAT` → `Customer left chat`. */
export function humanize(name: string): string {
  const words = name.toLowerCase().replace(/_/g, " ");
  return words.charAt(0).toUpperCase() + words.slice(1);
}

export function toDate(ts: Timestamp | undefined): Date | undefined {
  return ts ? timestampDate(ts) : undefined;
}

const two = (n: number) => String(n).padStart(2, "0");

/** `14:05` today, `3 Mar 14:05` otherwise. */
export function shortTime(ts: Timestamp | undefined): string {
  const d = toDate(ts);
  if (!d) return "";
  const now = new Date();
  const hm = `${two(d.getHours())}:${two(d.getMinutes())}`;
  if (d.toDateString() === now.toDateString()) return hm;
  const month = d.toLocaleString("en", { month: "short" });
  return `${d.getDate()} ${month} ${hm}`;
}

/** Full local date and time, for tooltips and the audit trail. */
export function fullTime(ts: Timestamp | undefined): string {
  const d = toDate(ts);
  if (!d) return "";
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
}

/** `45s`, `12m`, `3h 05m`, `2d 4h`. */
export function duration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m`;
  const hours = Math.floor(m / 60);
  if (hours < 24) return `${hours}h ${two(m % 60)}m`;
  return `${Math.floor(hours / 24)}d ${hours % 24}h`;
}

/** Time since `ts`, e.g. `12m`. */
export function age(ts: Timestamp | undefined): string {
  const d = toDate(ts);
  return d ? duration(Date.now() - d.getTime()) : "";
}

/** Initials for an avatar: `Ada Lovelace` → `AL`. */
export function initials(name: string): string {
  const parts = name.replace(/@.*/, "").split(/[\s._-]+/).filter(Boolean);
  return ((parts[0]?.[0] ?? "?") + (parts.length > 1 ? parts[parts.length - 1][0] : "")).toUpperCase();
}
