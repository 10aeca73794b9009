//! ReportService: decode → app → encode.
use super::{convert, principal};
use crate::app::App;
use crate::app::reports::ReportRequest;
use crate::domain::hours::{BusinessHours, WorkingSpan};
use crate::domain::report::{Bucket, GroupBy, ReportRow, Stats};
use crate::domain::sla::{SlaPolicy, SlaTargets};
use crate::error::{Error, Result};
use crate::pb::{self, report_service_server::ReportService};
use chrono::{NaiveDate, Weekday};
use tonic::{Request, Response, Status};

#[derive(Clone)]
pub struct ReportApi {
    app: App,
}

impl ReportApi {
    pub fn new(app: App) -> Self {
        ReportApi { app }
    }
}

fn weekday(field: &str, raw: i32) -> Result<Weekday> {
    let day = pb::Weekday::try_from(raw)
        .map_err(|_| Error::invalid(field, format!("unknown enum value {raw}")))?;
    Ok(match day {
        pb::Weekday::Unspecified => return Err(Error::invalid(field, "must be set")),
        pb::Weekday::Monday => Weekday::Mon,
        pb::Weekday::Tuesday => Weekday::Tue,
        pb::Weekday::Wednesday => Weekday::Wed,
        pb::Weekday::Thursday => Weekday::Thu,
        pb::Weekday::Friday => Weekday::Fri,
        pb::Weekday::Saturday => Weekday::Sat,
        pb::Weekday::Sunday => Weekday::Sun,
    })
}

fn weekday_pb(day: Weekday) -> pb::Weekday {
    match day {
        Weekday::Mon => pb::Weekday::Monday,
        Weekday::Tue => pb::Weekday::Tuesday,
        Weekday::Wed => pb::Weekday::Wednesday,
        Weekday::Thu => pb::Weekday::Thursday,
        Weekday::Fri => pb::Weekday::Friday,
        Weekday::Sat => pb::Weekday::Saturday,
        Weekday::Sun => pb::Weekday::Sunday,
    }
}

/// `HH:MM` → minutes after midnight (`24:00` is 1440).
fn minute(field: &str, text: &str) -> Result<u16> {
    let refuse = || Error::invalid(field, format!("{text:?} is not a time HH:MM"));
    let (hours, minutes) = text.split_once(':').ok_or_else(refuse)?;
    if hours.len() != 2 || minutes.len() != 2 {
        return Err(refuse());
    }
    let (hours, minutes): (u16, u16) = (
        hours.parse().map_err(|_| refuse())?,
        minutes.parse().map_err(|_| refuse())?,
    );
    if minutes >= 60 || hours > 24 || (hours == 24 && minutes > 0) {
        return Err(refuse());
    }
    Ok(hours * 60 + minutes)
}

fn hhmm(minute: u16) -> String {
    format!("{:02}:{:02}", minute / 60, minute % 60)
}

fn business_hours(hours: pb::BusinessHours) -> Result<BusinessHours> {
    let field = "policy.business_hours";
    Ok(BusinessHours {
        time_zone: hours.time_zone,
        weekly: hours
            .weekly
            .iter()
            .enumerate()
            .map(|(i, span)| {
                let at = format!("{field}.weekly[{i}]");
                Ok(WorkingSpan {
                    weekday: weekday(&format!("{at}.weekday"), span.weekday)?,
                    start_minute: minute(&format!("{at}.start"), &span.start)?,
                    end_minute: minute(&format!("{at}.end"), &span.end)?,
                })
            })
            .collect::<Result<_>>()?,
        holidays: hours
            .holidays
            .iter()
            .enumerate()
            .map(|(i, day)| {
                NaiveDate::parse_from_str(day, "%Y-%m-%d").map_err(|_| {
                    Error::invalid(
                        format!("{field}.holidays[{i}]"),
                        format!("{day:?} is not a date YYYY-MM-DD"),
                    )
                })
            })
            .collect::<Result<_>>()?,
    })
}

fn policy(policy: Option<pb::SlaPolicy>) -> Result<SlaPolicy> {
    let p = policy.ok_or_else(|| Error::invalid("policy", "must be set"))?;
    Ok(SlaPolicy {
        severity: p
            .severity
            .map(|raw| convert::severity("policy.severity", raw))
            .transpose()?,
        targets: SlaTargets {
            first_reply_seconds: p.first_reply_seconds,
            next_reply_seconds: p.next_reply_seconds,
            resolution_seconds: p.resolution_seconds,
            warn_before_seconds: p.warn_before_seconds,
            pause_on_hold: p.pause_on_hold,
            pause_waiting_on_customer: p.pause_waiting_on_customer,
            business_hours: p.business_hours.map(business_hours).transpose()?,
        },
        queue: p.queue,
        updated_at: chrono::DateTime::default(),
    })
}

impl From<SlaPolicy> for pb::SlaPolicy {
    fn from(p: SlaPolicy) -> Self {
        let t = p.targets;
        pb::SlaPolicy {
            queue: p.queue,
            severity: p.severity.map(|s| convert::severity_pb(s) as i32),
            first_reply_seconds: t.first_reply_seconds,
            next_reply_seconds: t.next_reply_seconds,
            resolution_seconds: t.resolution_seconds,
            warn_before_seconds: t.warn_before_seconds,
            pause_on_hold: t.pause_on_hold,
            pause_waiting_on_customer: t.pause_waiting_on_customer,
            business_hours: t.business_hours.map(|h| pb::BusinessHours {
                time_zone: h.time_zone,
                weekly: h
                    .weekly
                    .iter()
                    .map(|span| pb::WorkingHours {
                        weekday: weekday_pb(span.weekday) as i32,
                        start: hhmm(span.start_minute),
                        end: hhmm(span.end_minute),
                    })
                    .collect(),
                holidays: h
                    .holidays
                    .iter()
                    .map(|day| day.format("%Y-%m-%d").to_string())
                    .collect(),
            }),
            update_time: Some(convert::timestamp(p.updated_at)),
        }
    }
}

fn report_request(r: pb::GetReportRequest) -> Result<ReportRequest> {
    let bucket = match pb::ReportBucket::try_from(r.bucket) {
        Ok(pb::ReportBucket::Unspecified) => None,
        Ok(pb::ReportBucket::Hour) => Some(Bucket::Hour),
        Ok(pb::ReportBucket::Day) => Some(Bucket::Day),
        Ok(pb::ReportBucket::Week) => Some(Bucket::Week),
        Err(_) => {
            return Err(Error::invalid(
                "bucket",
                format!("unknown enum value {}", r.bucket),
            ));
        }
    };
    let group_by = match pb::ReportGroupBy::try_from(r.group_by) {
        Ok(pb::ReportGroupBy::Unspecified) => GroupBy::Nothing,
        Ok(pb::ReportGroupBy::Queue) => GroupBy::Queue,
        Ok(pb::ReportGroupBy::Agent) => GroupBy::Agent,
        Ok(pb::ReportGroupBy::Channel) => GroupBy::Channel,
        Err(_) => {
            return Err(Error::invalid(
                "group_by",
                format!("unknown enum value {}", r.group_by),
            ));
        }
    };
    Ok(ReportRequest {
        start: convert::time("start_time", r.start_time.as_ref())?,
        end: convert::time("end_time", r.end_time.as_ref())?,
        time_zone: r.time_zone,
        bucket,
        group_by,
        queues: r.queues,
    })
}

fn stats_pb(stats: Stats) -> pb::DurationStats {
    pb::DurationStats {
        count: stats.count,
        median_seconds: stats.median,
        p90_seconds: stats.p90,
    }
}

impl From<ReportRow> for pb::ReportRow {
    fn from(row: ReportRow) -> Self {
        pb::ReportRow {
            bucket_start: Some(convert::timestamp(row.start)),
            within_sla_share: row.within_sla_share(),
            ratings: row.ratings(),
            rating_average: row.rating_average(),
            bucket_label: row.label,
            group: row.group,
            created: row.counts.created,
            closed: row.counts.closed,
            reopened: row.counts.reopened,
            backlog: row.counts.backlog,
            first_reply: Some(stats_pb(row.first_reply)),
            resolution: Some(stats_pb(row.resolution)),
            sla_closed: row.counts.sla_closed,
            breaches: row.counts.breaches,
            rating_counts: row.counts.ratings.to_vec(),
        }
    }
}

/// The CSV bytes of a report, a header line first.
fn csv(rows: &[ReportRow]) -> Result<Vec<u8>> {
    let failed = |e: csv::Error| Error::Internal(format!("CSV: {e}"));
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record([
        "bucket_start",
        "bucket",
        "group",
        "created",
        "closed",
        "reopened",
        "backlog",
        "first_reply_count",
        "first_reply_median_seconds",
        "first_reply_p90_seconds",
        "resolution_count",
        "resolution_median_seconds",
        "resolution_p90_seconds",
        "sla_closed",
        "within_sla_share",
        "breaches",
        "ratings",
        "rating_average",
        "rating_1",
        "rating_2",
        "rating_3",
        "rating_4",
        "rating_5",
    ])
    .map_err(failed)?;
    let opt = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_default();
    let share = |v: Option<f64>| v.map(|v| format!("{v:.4}")).unwrap_or_default();
    for row in rows {
        let c = &row.counts;
        let mut record = vec![
            row.start.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            row.label.clone(),
            row.group.clone(),
            c.created.to_string(),
            c.closed.to_string(),
            c.reopened.to_string(),
            c.backlog.to_string(),
            row.first_reply.count.to_string(),
            opt(row.first_reply.median),
            opt(row.first_reply.p90),
            row.resolution.count.to_string(),
            opt(row.resolution.median),
            opt(row.resolution.p90),
            c.sla_closed.to_string(),
            share(row.within_sla_share()),
            c.breaches.to_string(),
            row.ratings().to_string(),
            share(row.rating_average()),
        ];
        record.extend(c.ratings.iter().map(i64::to_string));
        out.write_record(&record).map_err(failed)?;
    }
    out.into_inner()
        .map_err(|e| Error::Internal(format!("CSV: {e}")))
}

/// Bytes per ExportReport message.
const CSV_CHUNK: usize = 64 * 1024;

#[tonic::async_trait]
impl ReportService for ReportApi {
    type ExportReportStream = std::pin::Pin<
        Box<dyn tokio_stream::Stream<Item = Result<pb::ExportReportResponse, Status>> + Send>,
    >;

    async fn get_report(
        &self,
        request: Request<pb::GetReportRequest>,
    ) -> Result<Response<pb::GetReportResponse>, Status> {
        let principal = principal(&request)?;
        let rows = self
            .app
            .report(&principal, report_request(request.into_inner())?)
            .await?;
        Ok(Response::new(pb::GetReportResponse {
            rows: rows.into_iter().map(Into::into).collect(),
        }))
    }

    async fn export_report(
        &self,
        request: Request<pb::ExportReportRequest>,
    ) -> Result<Response<Self::ExportReportStream>, Status> {
        let principal = principal(&request)?;
        let report = request
            .into_inner()
            .report
            .ok_or_else(|| Error::invalid("report", "must be set"))?;
        let rows = async { self.app.report(&principal, report_request(report)?).await }
            .await
            .map_err(|e| e.within("report"))?;
        let bytes = csv(&rows)?;
        let chunks: Vec<Result<pb::ExportReportResponse, Status>> = bytes
            .chunks(CSV_CHUNK)
            .map(|chunk| {
                Ok(pb::ExportReportResponse {
                    csv: chunk.to_vec(),
                })
            })
            .collect();
        Ok(Response::new(Box::pin(tokio_stream::iter(chunks))))
    }

    async fn list_sla_policies(
        &self,
        request: Request<pb::ListSlaPoliciesRequest>,
    ) -> Result<Response<pb::ListSlaPoliciesResponse>, Status> {
        let principal = principal(&request)?;
        let policies = self
            .app
            .list_sla_policies(&principal, &request.into_inner().queue)
            .await?;
        Ok(Response::new(pb::ListSlaPoliciesResponse {
            policies: policies.into_iter().map(Into::into).collect(),
        }))
    }

    async fn upsert_sla_policy(
        &self,
        request: Request<pb::UpsertSlaPolicyRequest>,
    ) -> Result<Response<pb::UpsertSlaPolicyResponse>, Status> {
        let principal = principal(&request)?;
        let policy = policy(request.into_inner().policy)?;
        let policy = self.app.upsert_sla_policy(&principal, policy).await?;
        Ok(Response::new(pb::UpsertSlaPolicyResponse {
            policy: Some(policy.into()),
        }))
    }

    async fn get_ticket_metrics(
        &self,
        request: Request<pb::GetTicketMetricsRequest>,
    ) -> Result<Response<pb::GetTicketMetricsResponse>, Status> {
        let principal = principal(&request)?;
        let (ticket, metrics, now) = self
            .app
            .ticket_metrics(&principal, &request.into_inner().ticket_id)
            .await?;
        Ok(Response::new(pb::GetTicketMetricsResponse {
            severity: convert::severity_pb(ticket.severity) as i32,
            sla: Some(convert::ticket_sla_pb(&ticket.sla, ticket.status)),
            metrics: Some(convert::ticket_metrics_pb(&metrics)),
            ticket_id: ticket.id,
            as_of: Some(convert::timestamp(now)),
        }))
    }
}
