// The report page (supervisors and admins): GetReport over the last 7 or 30 days in a time
// zone, per hour, day or week, optionally by queue, agent or channel. Charts of tickets created
// and closed, first-reply time, within-SLA share and CSAT, the rows as a table, and the same
// report as CSV (ExportReport).
import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { isAbort } from "./api";
import { barChart, DURATION_STEPS, lineChart, type Series } from "./charts";
import type { Ctx } from "./console";
import { h, options, replace } from "./dom";
import { duration } from "./format";
import { ReportBucket, ReportGroupBy, type GetReportRequestSchema, type ReportRow } from "./gen/casework/v1/report_service_pb";
import { icon } from "./icons";
import { toast, toastError } from "./toast";

type ReportInit = MessageInitShape<typeof GetReportRequestSchema>;

/** Lines drawn per chart when grouped: the busiest groups. */
const MAX_GROUPS = 6;
/** Rows shown in the table; the CSV has them all. */
const MAX_TABLE_ROWS = 500;
const DAY_MS = 86_400_000;
const SLOT_MS = 15 * 60_000;

const BUCKETS = [
  { value: String(ReportBucket.DAY), label: "Day" },
  { value: String(ReportBucket.WEEK), label: "Week" },
  { value: String(ReportBucket.HOUR), label: "Hour" },
];
const GROUPS = [
  { value: String(ReportGroupBy.UNSPECIFIED), label: "Nothing (totals)" },
  { value: String(ReportGroupBy.QUEUE), label: "Queue" },
  { value: String(ReportGroupBy.AGENT), label: "Agent" },
  { value: String(ReportGroupBy.CHANNEL), label: "Channel" },
];

export function browserTimeZone(): string {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  } catch {
    return "UTC";
  }
}

function timeZones(current: string): string[] {
  let all: string[] = [];
  try {
    all = Intl.supportedValuesOf("timeZone");
  } catch {
    // An older browser: the current zone and UTC only.
  }
  return [...new Set([current, "UTC", ...all])].sort((a, b) => (a === current ? -1 : b === current ? 1 : a.localeCompare(b)));
}

/** Milliseconds `timeZone` is ahead of UTC at `at`. */
function offset(at: number, timeZone: string): number {
  const parts = new Intl.DateTimeFormat("en-US", {
    timeZone,
    hourCycle: "h23",
    year: "numeric",
    month: "numeric",
    day: "numeric",
    hour: "numeric",
    minute: "numeric",
    second: "numeric",
  }).formatToParts(new Date(at));
  const get = (type: string) => Number(parts.find((p) => p.type === type)?.value ?? 0);
  const local = Date.UTC(get("year"), get("month") - 1, get("day"), get("hour"), get("minute"), get("second"));
  return local - Math.floor(at / 1000) * 1000;
}

/** The instant local midnight began, `daysBack` days before today, in `timeZone`. */
export function localMidnight(now: number, daysBack: number, timeZone: string): number {
  const today = new Date(now + offset(now, timeZone));
  const wall = Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), today.getUTCDate() - daysBack);
  let at = wall - offset(wall, timeZone);
  at = wall - offset(at, timeZone); // again, in case the offset changed in between (DST)
  return at;
}

const sum = (rows: ReportRow[], f: (r: ReportRow) => bigint) => rows.reduce((n, r) => n + Number(f(r)), 0);
const num = (v: bigint | undefined) => (v === undefined ? null : Number(v));
const seconds = (v: number) => (v === 0 ? "0" : duration(v * 1000));
const percent = (v: number) => `${Math.round(v)}%`;

export class ReportsPage {
  readonly element: HTMLElement;
  private abort?: AbortController;
  private seq = 0;
  private rows: ReportRow[] = [];
  private readonly range = h("select", { class: "input input-sm", "data-testid": "report-range", "aria-label": "Range" }, options([{ value: "7", label: "Last 7 days" }, { value: "30", label: "Last 30 days" }], "7"));
  private readonly bucket = h("select", { class: "input input-sm", "data-testid": "report-bucket", "aria-label": "Bucket" }, options(BUCKETS, String(ReportBucket.DAY)));
  private readonly zone: HTMLSelectElement;
  private readonly groupBy = h("select", { class: "input input-sm", "data-testid": "report-group", "aria-label": "Group by" }, options(GROUPS, String(ReportGroupBy.UNSPECIFIED)));
  private readonly refreshButton = h("button", { class: "btn btn-sm", "data-testid": "report-refresh", title: "Run the report again" }, icon("refresh", 14), "Refresh");
  private readonly csvButton = h("button", { class: "btn btn-sm", "data-testid": "report-csv" }, icon("download", 14), "Download CSV");
  private readonly rangeText = h("span", { class: "muted", "data-testid": "report-range-text" });
  private readonly totals = h("div", { class: "kpis" });
  private readonly charts = h("div", { class: "report-charts" });
  private readonly tableEl = h("div", { class: "card-body" });

  constructor(private readonly ctx: Ctx) {
    ctx.signal.addEventListener("abort", () => this.abort?.abort(), { once: true });
    const tz = browserTimeZone();
    this.zone = h("select", { class: "input input-sm", "data-testid": "report-tz", "aria-label": "Time zone" }, options(timeZones(tz).map((z) => ({ value: z, label: z })), tz));
    for (const control of [this.range, this.bucket, this.zone, this.groupBy]) control.addEventListener("change", () => void this.load());
    this.refreshButton.addEventListener("click", () => void this.load());
    this.csvButton.addEventListener("click", () => void this.download());
    const field = (label: string, control: HTMLElement) => h("label", { class: "report-field" }, h("span", null, label), control);
    this.element = h(
      "div",
      { class: "supervisor-page report-page", "data-testid": "report-view", "data-state": "idle" },
      h("div", { class: "sup-head" }, h("h2", null, "Reports"), this.rangeText, h("div", { class: "spacer" })),
      h(
        "div",
        { class: "report-controls" },
        field("Range", this.range),
        field("Bucket", this.bucket),
        field("Time zone", this.zone),
        field("Group by", this.groupBy),
        h("div", { class: "spacer" }),
        this.refreshButton,
        this.csvButton,
      ),
      this.totals,
      this.charts,
      h("section", { class: "card", "data-testid": "report-table-card" }, h("h3", { class: "card-title" }, "Rows"), this.tableEl),
    );
  }

  start(): void {
    void this.load();
  }

  stop(): void {
    this.abort?.abort();
  }

  /** The report the controls describe: local midnight `days - 1` days ago until now (rounded
   *  up to the server's 15-minute slots, so the current one counts). */
  private request(): ReportInit {
    const now = Date.now();
    const days = Number(this.range.value) || 7;
    const timeZone = this.zone.value || "UTC";
    const start = localMidnight(now, days - 1, timeZone);
    const end = Math.min(start + 366 * DAY_MS, (Math.floor(now / SLOT_MS) + 1) * SLOT_MS);
    return {
      startTime: timestampFromDate(new Date(start)),
      endTime: timestampFromDate(new Date(end)),
      timeZone,
      bucket: Number(this.bucket.value) as ReportBucket,
      groupBy: Number(this.groupBy.value) as ReportGroupBy,
    };
  }

  private setState(state: "loading" | "ready" | "empty" | "error"): void {
    this.element.dataset.state = state;
    this.element.classList.toggle("loading", state === "loading");
  }

  private async load(): Promise<void> {
    this.abort?.abort();
    const abort = new AbortController();
    this.abort = abort;
    const seq = ++this.seq;
    const req = this.request();
    this.describe(req);
    this.setState("loading");
    try {
      const res = await this.ctx.api.reports.getReport(req, { signal: abort.signal });
      if (seq !== this.seq) return;
      this.rows = res.rows;
      this.render(req);
      const active = this.rows.some((r) => r.created || r.closed || r.backlog || r.ratings || r.firstReply?.count);
      this.setState(active ? "ready" : "empty");
    } catch (err) {
      if (isAbort(err) || seq !== this.seq) return;
      this.setState("error");
      toastError("Could not load the report", err);
    }
  }

  private describe(req: ReportInit): void {
    const fmt = new Intl.DateTimeFormat("en-GB", { timeZone: req.timeZone, day: "numeric", month: "short", year: "numeric" });
    const start = new Date(Number(req.startTime?.seconds ?? 0n) * 1000);
    const end = new Date(Number(req.endTime?.seconds ?? 0n) * 1000 - 1000);
    this.rangeText.textContent = `${fmt.format(start)} – ${fmt.format(end)} · ${req.timeZone}`;
  }

  private async download(): Promise<void> {
    const req = this.request();
    this.csvButton.disabled = true;
    try {
      const chunks: Uint8Array<ArrayBuffer>[] = [];
      for await (const res of this.ctx.api.reports.exportReport({ report: req }, { signal: this.ctx.signal })) chunks.push(res.csv.slice());
      const url = URL.createObjectURL(new Blob(chunks, { type: "text/csv" }));
      const day = (ts: typeof req.startTime) => new Date(Number(ts?.seconds ?? 0n) * 1000).toISOString().slice(0, 10);
      const bucket = (ReportBucket[req.bucket ?? 0] ?? "day").toLowerCase();
      h("a", { href: url, download: `casework-report-${day(req.startTime)}-${day(req.endTime)}-${bucket}.csv` }).click();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
      toast("Report downloaded as CSV.", "success");
    } catch (err) {
      if (!isAbort(err)) toastError("Could not export the report", err);
    } finally {
      this.csvButton.disabled = false;
    }
  }

  // ---- rendering -------------------------------------------------------------------------

  private render(req: ReportInit): void {
    const rows = this.rows;
    const grouped = (req.groupBy ?? ReportGroupBy.UNSPECIFIED) !== ReportGroupBy.UNSPECIFIED;
    const hourly = req.bucket === ReportBucket.HOUR;
    // Buckets in order, and each row's index among them.
    const starts: bigint[] = [];
    const labels: string[] = [];
    const index = new Map<bigint, number>();
    for (const r of rows) {
      const key = r.bucketStart?.seconds ?? 0n;
      if (!index.has(key)) {
        index.set(key, starts.length);
        starts.push(key);
        labels.push(hourly ? r.bucketLabel.slice(5) : r.bucketLabel.slice(5, 10));
      }
    }
    const at = (r: ReportRow) => index.get(r.bucketStart?.seconds ?? 0n) ?? 0;
    const blank = () => labels.map((): number | null => null);

    // Counts add up over groups; medians, shares and averages are drawn per group.
    const created = labels.map(() => 0);
    const closed = labels.map(() => 0);
    for (const r of rows) {
      created[at(r)] += Number(r.created);
      closed[at(r)] += Number(r.closed);
    }
    const groups = grouped ? this.busiestGroups(rows) : [""];
    const perGroup = (f: (r: ReportRow) => number | null, name: (g: string) => string): Series[] =>
      groups.map((g) => {
        const values = blank();
        for (const r of rows) if (r.group === g) values[at(r)] = f(r);
        return { name: name(g), values };
      });
    const groupName = (g: string) => g || (req.groupBy === ReportGroupBy.AGENT ? "(unassigned)" : "(none)");
    const firstReply: Series[] = grouped
      ? perGroup((r) => num(r.firstReply?.medianSeconds), (g) => `${groupName(g)} median`)
      : [...perGroup((r) => num(r.firstReply?.medianSeconds), () => "Median"), ...perGroup((r) => num(r.firstReply?.p90Seconds), () => "90th percentile").map((s) => ({ ...s, dashed: true }))];
    const share = perGroup((r) => (r.withinSlaShare === undefined ? null : r.withinSlaShare * 100), grouped ? groupName : () => "Within SLA");
    const csat = perGroup((r) => (r.ratingAverage === undefined ? null : r.ratingAverage), grouped ? groupName : () => "CSAT");

    const card = (title: string, chart: SVGSVGElement, series: Series[], testid: string) =>
      h(
        "section",
        { class: "card chart-card", "data-testid": testid },
        h("h3", { class: "card-title" }, title),
        h("div", { class: "card-body chart-body" }, chart),
        h(
          "div",
          { class: "legend" },
          series.map((s, i) => h("span", { class: `legend-item series-${i}${s.dashed ? " dashed" : ""}` }, h("span", { class: "swatch" }), s.name)),
        ),
      );
    const bars: Series[] = [
      { name: "Created", values: created },
      { name: "Closed", values: closed },
    ];
    const createdChart = barChart({ testid: "chart-volume", title: "Tickets created and closed", labels, format: (v) => String(Math.round(v)) }, bars);
    createdChart.dataset.created = String(created.reduce((a, b) => a + b, 0));
    createdChart.dataset.closed = String(closed.reduce((a, b) => a + b, 0));
    replace(
      this.charts,
      card(`Tickets created and closed per ${hourly ? "hour" : req.bucket === ReportBucket.WEEK ? "week" : "day"}`, createdChart, bars, "card-volume"),
      card("First-reply time", lineChart({ testid: "chart-first-reply", title: "First-reply time", labels, format: seconds, steps: DURATION_STEPS }, firstReply), firstReply, "card-first-reply"),
      card("Within-SLA share of closed tickets", lineChart({ testid: "chart-sla", title: "Within-SLA share", labels, format: percent, min: 0, max: 100 }, share), share, "card-sla"),
      card("CSAT (average rating)", lineChart({ testid: "chart-csat", title: "CSAT", labels, format: (v) => v.toFixed(1).replace(/\.0$/, ""), min: 1, max: 5, steps: [1] }, csat), csat, "card-csat"),
    );
    if (grouped && new Set(rows.map((r) => r.group)).size > groups.length) {
      this.charts.append(h("p", { class: "muted small report-note" }, `The lines show the ${groups.length} busiest groups; the table and the CSV have them all.`));
    }
    this.renderTotals(rows, starts);
    this.renderTable(rows, grouped, req.groupBy === ReportGroupBy.AGENT);
  }

  private busiestGroups(rows: ReportRow[]): string[] {
    const load = new Map<string, number>();
    for (const r of rows) load.set(r.group, (load.get(r.group) ?? 0) + Number(r.created + r.closed + r.ratings + (r.firstReply?.count ?? 0n)));
    return [...load.entries()]
      .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
      .slice(0, MAX_GROUPS)
      .map(([g]) => g);
  }

  private renderTotals(rows: ReportRow[], starts: bigint[]): void {
    const last = starts[starts.length - 1];
    const ratings = sum(rows, (r) => r.ratings);
    const rated = rows.reduce((n, r) => n + (r.ratingAverage ?? 0) * Number(r.ratings), 0);
    const slaClosed = sum(rows, (r) => (r.withinSlaShare === undefined ? 0n : r.slaClosed));
    const within = rows.reduce((n, r) => n + (r.withinSlaShare ?? 0) * Number(r.slaClosed), 0);
    const breaches = sum(rows, (r) => r.breaches);
    const kpi = (label: string, value: string, testid: string, tone = "") =>
      h("div", { class: `kpi ${tone}` }, h("div", { class: "kpi-value", "data-testid": testid }, value), h("div", { class: "kpi-label" }, label));
    replace(
      this.totals,
      kpi("Created", String(sum(rows, (r) => r.created)), "report-total-created"),
      kpi("Closed", String(sum(rows, (r) => r.closed)), "report-total-closed"),
      kpi("Open at the end", String(sum(rows.filter((r) => r.bucketStart?.seconds === last), (r) => r.backlog)), "report-total-backlog"),
      kpi("Within SLA", slaClosed ? percent((within / slaClosed) * 100) : "—", "report-total-sla"),
      kpi("SLA breaches", String(breaches), "report-total-breaches", breaches > 0 ? "bad" : ""),
      kpi("CSAT", ratings ? `${(rated / ratings).toFixed(2)} (${ratings})` : "—", "report-total-csat"),
    );
  }

  private renderTable(rows: ReportRow[], grouped: boolean, byAgent: boolean): void {
    const shown = rows.slice(0, MAX_TABLE_ROWS);
    const stat = (v: bigint | undefined) => (v === undefined ? "—" : seconds(Number(v)));
    const th = (label: string, numeric = true) => h("th", numeric ? { class: "num" } : null, label);
    const td = (value: string | number, testid?: string) => h("td", { class: "num", "data-testid": testid }, String(value));
    replace(
      this.tableEl,
      rows.length === 0
        ? h("div", { class: "list-note", "data-testid": "report-empty" }, "No rows for this range.")
        : h(
            "table",
            { class: "table", "data-testid": "report-table" },
            h(
              "thead",
              null,
              h(
                "tr",
                null,
                th("Bucket", false),
                grouped ? th("Group", false) : null,
                th("Created"),
                th("Closed"),
                th("Reopened"),
                th("Open at end"),
                th("First reply median"),
                th("First reply p90"),
                th("Resolution median"),
                th("Within SLA"),
                th("Breaches"),
                th("Ratings"),
                th("CSAT"),
              ),
            ),
            h(
              "tbody",
              null,
              shown.map((r) =>
                h(
                  "tr",
                  { "data-testid": "report-row", "data-bucket": r.bucketLabel, "data-group": r.group, class: r.created || r.closed || r.backlog ? "" : "quiet" },
                  h("td", { class: "mono" }, r.bucketLabel),
                  grouped ? h("td", null, r.group || (byAgent ? "(unassigned)" : "—")) : null,
                  td(Number(r.created), "row-created"),
                  td(Number(r.closed)),
                  td(Number(r.reopened)),
                  td(Number(r.backlog)),
                  td(stat(r.firstReply?.medianSeconds)),
                  td(stat(r.firstReply?.p90Seconds)),
                  td(stat(r.resolution?.medianSeconds)),
                  td(r.withinSlaShare === undefined ? "—" : percent(r.withinSlaShare * 100)),
                  td(Number(r.breaches)),
                  td(Number(r.ratings)),
                  td(r.ratingAverage === undefined ? "—" : r.ratingAverage.toFixed(2)),
                ),
              ),
            ),
          ),
      rows.length > shown.length ? h("p", { class: "muted small report-note" }, `The first ${shown.length} of ${rows.length} rows; the CSV has them all.`) : null,
    );
  }
}
