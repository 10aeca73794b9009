//! Reports (ReportService.GetReport, ExportReport): figures per local hour, day or week, per
//! queue, agent or channel, added up from the report counters every change keeps
//! (`domain::report`), never by replaying the event log.
use super::App;
use super::validate::Violations;
use crate::clock::Time;
use crate::domain::query::Scope;
use crate::domain::report::{self, Bucket, GroupBy, ReportRow, ReportSpec};
use crate::domain::{Principal, Role};
use crate::error::{Error, Result};

/// Longest range a report covers.
pub const MAX_REPORT_DAYS: i64 = 366;
/// Most buckets a report has.
pub const MAX_REPORT_BUCKETS: usize = 1000;

/// GetReport's input.
#[derive(Debug, Clone)]
pub struct ReportRequest {
    pub start: Option<Time>,
    pub end: Option<Time>,
    /// IANA name; empty: UTC.
    pub time_zone: String,
    pub bucket: Option<Bucket>,
    pub group_by: GroupBy,
    pub queues: Vec<String>,
}

fn spec(request: &ReportRequest) -> Result<ReportSpec> {
    let mut v = Violations::new();
    let time_zone = if request.time_zone.is_empty() {
        Some(chrono_tz::UTC)
    } else {
        let parsed = request.time_zone.parse::<chrono_tz::Tz>().ok();
        if parsed.is_none() {
            v.add(
                "time_zone",
                format!("unknown time zone {:?}", request.time_zone),
            );
        }
        parsed
    };
    if request.start.is_none() {
        v.add("start_time", "must be set");
    }
    if request.end.is_none() {
        v.add("end_time", "must be set");
    }
    if request.bucket.is_none() {
        v.add("bucket", "must be set");
    }
    v.list("queues", &request.queues, super::validate::MAX_ID_LEN);
    if let (Some(start), Some(end)) = (request.start, request.end) {
        if end <= start {
            v.add("end_time", "must be after start_time");
        } else if end - start > chrono::Duration::days(MAX_REPORT_DAYS) {
            v.add(
                "end_time",
                format!("must be at most {MAX_REPORT_DAYS} days after start_time"),
            );
        }
    }
    v.finish()?;
    let (Some(start), Some(end), Some(bucket), Some(time_zone)) =
        (request.start, request.end, request.bucket, time_zone)
    else {
        return Err(Error::Internal(
            "report request checked but incomplete".into(),
        ));
    };
    let spec = ReportSpec {
        start,
        end,
        time_zone,
        bucket,
        group_by: request.group_by,
    };
    let buckets = spec.buckets().len();
    if buckets > MAX_REPORT_BUCKETS {
        return Err(Error::invalid(
            "bucket",
            format!("the range holds {buckets} buckets of this size; at most {MAX_REPORT_BUCKETS}"),
        ));
    }
    Ok(spec)
}

impl App {
    /// A report over the queues the caller may report on: supervisors their own, admins and
    /// services every queue.
    pub async fn report(
        &self,
        principal: &Principal,
        request: ReportRequest,
    ) -> Result<Vec<ReportRow>> {
        let spec = spec(&request)?;
        let access = self.access(principal).await?;
        access.require(
            &[Role::Supervisor, Role::Admin, Role::Service],
            "read reports",
        )?;
        let queues = match &access.scope {
            Scope::Agent { queues: mine, .. } => {
                if let Some(other) = request.queues.iter().find(|q| !mine.contains(q)) {
                    return Err(Error::PermissionDenied(format!(
                        "queue {other} is not one of yours to report on"
                    )));
                }
                if mine.is_empty() {
                    return Ok(report::build(&spec, &spec.buckets(), &[], vec![]));
                }
                if request.queues.is_empty() {
                    mine.clone()
                } else {
                    request.queues
                }
            }
            _ => request.queues,
        };
        let buckets = spec.buckets();
        let slots: Vec<(i64, i64)> = buckets.iter().map(|b| b.slots).collect();
        let group_by = spec.group_by;
        let store = &self.store;
        let before = slots.first().map_or(0, |r| r.0);
        let earlier = report::row_ranges(&[(i64::MIN, before)]);
        let backlog = store.report_backlog(&earlier, group_by, &queues).await?;
        let figures = store
            .report_figures(&report::row_ranges(&slots), group_by, &queues)
            .await?;
        Ok(report::build(&spec, &buckets, &backlog, figures))
    }

    /// Folds the sharded report rows of past slots and hours into one row per slot or hour and
    /// group (`report::SHARDS`), so reports read few rows; the sweeper's leader runs it every
    /// few minutes. The current and the previous slot, and the hours they are in, are left
    /// alone: no write still adds to what it takes (a change lands in the slot of its own
    /// clock), so it never waits on a writer's rows nor they on its. Returns how many rows it
    /// folded.
    pub async fn compact_reports(&self) -> Result<u64> {
        let current = report::slot(self.clock.now());
        self.store
            .write(move |tx| Box::pin(tx.compact_report((i64::MIN, current - 1))))
            .await
    }
}
