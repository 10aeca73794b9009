//! Reports over a generated (seeded) month of tickets equal the same figures computed in the
//! test from the raw events of every ticket; day buckets honour the time zone across a DST
//! change, also while past slots are compacted; the CSV export carries the same rows; bad
//! report requests are refused by field.
#[macro_use]
mod common;

use casework::clock::Clock;
use casework::domain::Role;
use casework::pb;
use casework::pb::conversation_service_client::ConversationServiceClient;
use casework::pb::report_service_client::ReportServiceClient;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use common::*;
use pb::TicketEventType as E;
use prost_types::value::Kind;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use tonic::Code;

const TICKETS: usize = 120;
const ZONE: Tz = chrono_tz::America::New_York;
/// A zone half an hour off UTC: its days start and end inside an hour.
const HALF_HOUR_ZONE: Tz = chrono_tz::Asia::Kolkata;

/// One step of the generated month, run in time order.
#[derive(Debug, Clone)]
enum Step {
    Create { ticket: usize, queue: &'static str },
    Reply { ticket: usize },
    Close { ticket: usize },
    Reopen { ticket: usize },
    Rate { ticket: usize, score: i32 },
}

fn month(seed: u64, start: DateTime<Utc>) -> Vec<(DateTime<Utc>, Step)> {
    let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
    let mut steps = Vec::new();
    for ticket in 0..TICKETS {
        // Created within March, at whole seconds.
        let created = start + Duration::seconds(rng.random_range(0..30 * 86_400));
        let queue = if rng.random_bool(0.6) {
            QUEUE
        } else {
            OTHER_QUEUE
        };
        steps.push((created, Step::Create { ticket, queue }));
        if rng.random_bool(0.1) {
            continue; // never answered, never closed
        }
        let replied = created + Duration::seconds(rng.random_range(5..1800));
        steps.push((replied, Step::Reply { ticket }));
        let closed = replied + Duration::seconds(rng.random_range(60..3 * 86_400));
        steps.push((closed, Step::Close { ticket }));
        let mut last = closed;
        if rng.random_bool(0.2) {
            let reopened = closed + Duration::seconds(rng.random_range(60..86_400));
            steps.push((reopened, Step::Reopen { ticket }));
            last = reopened + Duration::seconds(rng.random_range(60..86_400));
            steps.push((last, Step::Close { ticket }));
        }
        if rng.random_bool(0.6) {
            let score = rng.random_range(1..=5);
            steps.push((
                last + Duration::seconds(rng.random_range(1..3600)),
                Step::Rate { ticket, score },
            ));
        }
    }
    steps.sort_by_key(|(at, _)| *at);
    steps
}

fn text(event: &pb::TicketEvent, key: &str) -> Option<String> {
    match event.payload.as_ref()?.fields.get(key)?.kind.as_ref()? {
        Kind::StringValue(text) => Some(text.clone()),
        _ => None,
    }
}

fn number(event: &pb::TicketEvent, key: &str) -> Option<i64> {
    match event.payload.as_ref()?.fields.get(key)?.kind.as_ref()? {
        Kind::NumberValue(n) => Some(*n as i64),
        _ => None,
    }
}

fn at(event: &pb::TicketEvent) -> DateTime<Utc> {
    let ts = event.at.as_ref().expect("at");
    DateTime::from_timestamp(ts.seconds, ts.nanos as u32).expect("time")
}

/// A day's figures of one queue, computed from raw events.
#[derive(Debug, Default, Clone, PartialEq)]
struct Day {
    created: i64,
    closed: i64,
    reopened: i64,
    backlog: i64,
    breaches: i64,
    sla_closed: i64,
    sla_within: i64,
    first_replies: Vec<i64>,
    resolutions: Vec<i64>,
    ratings: [i64; 5],
}

/// The instant a local day ends in `zone`.
fn day_end(date: NaiveDate, zone: Tz) -> DateTime<Utc> {
    date.succ_opt()
        .expect("next day")
        .and_hms_opt(0, 0, 0)
        .expect("midnight")
        .and_local_timezone(zone)
        .earliest()
        .expect("local midnight")
        .to_utc()
}

fn nearest_rank(values: &[i64], p: usize) -> Option<i64> {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    if sorted.is_empty() {
        return None;
    }
    let rank = (sorted.len() * p).div_ceil(100).max(1);
    Some(sorted[rank - 1])
}

async fn report(
    server: &TestServer,
    sub: &str,
    role: Role,
    request: pb::GetReportRequest,
) -> Result<Vec<pb::ReportRow>, tonic::Status> {
    let auth = server.tickets(sub, role).await;
    let mut client = ReportServiceClient::new(server.channel().await);
    Ok(client
        .get_report(auth.req(request))
        .await?
        .into_inner()
        .rows)
}

fn ts(time: DateTime<Utc>) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp {
        seconds: time.timestamp(),
        nanos: 0,
    })
}

both_backends! {
async fn a_month_of_tickets_reports_what_its_events_say(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let mut admin = server.admin().await;
    // The seeded queue has an SLA policy (a first reply within 10 minutes), the other none.
    let policy = admin.req(pb::UpsertSlaPolicyRequest {
        policy: Some(pb::SlaPolicy {
            queue: QUEUE.into(),
            first_reply_seconds: 600,
            ..Default::default()
        }),
    });
    ReportServiceClient::new(server.channel().await)
        .upsert_sla_policy(policy)
        .await
        .expect("policy");
    // March 2026 in New York (DST starts on the 8th).
    let start = DateTime::parse_from_rfc3339("2026-03-01T00:00:00-05:00")
        .expect("start")
        .to_utc();
    // Nothing was written yet: the clock may go back to the month's start.
    server.clock.set(start);
    let mut ids: Vec<String> = vec![String::new(); TICKETS];
    let mut rooms: Vec<String> = vec![String::new(); TICKETS];
    let mut conversations = ConversationServiceClient::new(server.channel().await);
    for (when, step) in month(11, start) {
        let now = server.clock.now();
        if when > now {
            server.clock.advance(when - now);
            server.app.sweep_timers().await.expect("sweep");
            // What the sweeper's leader does every few minutes: the sharded rows of past
            // slots become one per slot and group, while new changes keep coming.
            server.app.compact_reports().await.expect("compact");
        }
        match step {
            Step::Create { ticket, queue } => {
                let created = admin
                    .create(pb::CreateTicketRequest {
                        queue: queue.into(),
                        initial_message: "Hello?".into(),
                        ..new_ticket(&format!("cust-{ticket}"))
                    })
                    .await
                    .expect("create");
                rooms[ticket] = created.metadata.expect("m").room_id;
                ids[ticket] = created.id;
            }
            Step::Reply { ticket } => {
                // Held by one of two agents (by ticket), answered by the supervisor.
                let holder = [AGENT, OTHER_AGENT][ticket % 2];
                admin.assign(&ids[ticket], holder).await.expect("assign");
                let agent = server.tickets(SUPERVISOR, Role::Agent).await;
                let request = agent.req(pb::SendMessageRequest {
                    room_id: rooms[ticket].clone(),
                    body: "On it.".into(),
                    ..Default::default()
                });
                conversations.send_message(request).await.expect("reply");
            }
            Step::Close { ticket } => {
                // A held chat the customer left quiet may have closed itself already.
                if let Err(status) = admin.close(&ids[ticket]).await {
                    assert_eq!(status.code(), Code::FailedPrecondition, "close: {status:?}");
                    let closed = admin.get(&ids[ticket]).await.expect("ticket").status;
                    assert_eq!(closed, pb::TicketStatus::Closed as i32, "{status:?}");
                }
            }
            Step::Reopen { ticket } => {
                let request = admin.req(pb::ReopenTicketRequest {
                    ticket_id: ids[ticket].clone(),
                    reason: "not solved".into(),
                    ..Default::default()
                });
                admin.client.reopen_ticket(request).await.expect("reopen");
            }
            Step::Rate { ticket, score } => {
                let customer = server.tickets(&format!("cust-{ticket}"), Role::Customer).await;
                let request = customer.req(pb::RateTicketRequest {
                    ticket_id: ids[ticket].clone(),
                    score,
                    ..Default::default()
                });
                customer.client.clone().rate_ticket(request).await.expect("rate");
            }
        }
    }
    let end = DateTime::parse_from_rfc3339("2026-04-01T00:00:00-04:00")
        .expect("end")
        .to_utc();
    let now = server.clock.now();
    if end > now {
        server.clock.advance(end - now);
        server.app.sweep_timers().await.expect("sweep");
    }

    // The same figures from the raw events, by local day and queue.
    let day_of = |time: DateTime<Utc>| time.with_timezone(&ZONE).date_naive();
    let mut days: BTreeMap<(NaiveDate, String), Day> = BTreeMap::new();
    let mut deltas: Vec<(DateTime<Utc>, String, i64)> = Vec::new();
    // Reopens by the agent who held the ticket when it was closed.
    let mut reopened_by: BTreeMap<String, i64> = BTreeMap::new();
    // Some of the same figures by day in India, within the report's range.
    let mut india: BTreeMap<NaiveDate, Day> = BTreeMap::new();
    for id in &ids {
        let events = admin.events(id).await.expect("events");
        let created = at(&events[0]);
        let queue = admin.get(id).await.expect("t").queue;
        let mut breached = false;
        let mut replied = false;
        let (mut holder, mut closed_by) = (String::new(), String::new());
        for event in &events {
            let when = at(event);
            match E::try_from(event.r#type).expect("type") {
                E::Closed | E::AutoClosed => closed_by = holder.clone(),
                E::Reopened if when < end => {
                    *reopened_by.entry(closed_by.clone()).or_default() += 1
                }
                _ => {}
            }
            if let Some(agent) = text(event, "assignee") {
                holder = agent;
            }
            if when >= start && when < end {
                let local = india
                    .entry(when.with_timezone(&HALF_HOUR_ZONE).date_naive())
                    .or_default();
                match E::try_from(event.r#type).expect("type") {
                    E::Created => local.created += 1,
                    E::Closed | E::AutoClosed => {
                        local.closed += 1;
                        local.resolutions.push((when - created).num_seconds());
                    }
                    E::Reopened => local.reopened += 1,
                    _ => {}
                }
            }
            let cell = days.entry((day_of(when), queue.clone())).or_default();
            match E::try_from(event.r#type).expect("type") {
                E::Created => {
                    cell.created += 1;
                    deltas.push((when, queue.clone(), 1));
                }
                E::Closed | E::AutoClosed => {
                    let day = cell;
                    day.closed += 1;
                    day.resolutions.push((when - created).num_seconds());
                    if queue == QUEUE {
                        day.sla_closed += 1;
                        day.sla_within += i64::from(!breached);
                    }
                    deltas.push((when, queue.clone(), -1));
                }
                E::Reopened => {
                    cell.reopened += 1;
                    deltas.push((when, queue.clone(), 1));
                }
                E::SlaBreached => {
                    breached = true;
                    cell.breaches += 1;
                }
                E::Rated => {
                    let score = number(event, "score").expect("score");
                    cell.ratings[(score - 1) as usize] += 1;
                }
                E::MessageAdded
                    if !replied && text(event, "sender_type").as_deref() == Some("AGENT") =>
                {
                    replied = true;
                    cell.first_replies
                        .push((when - created).num_seconds());
                }
                _ => {}
            }
        }
    }
    let request = pb::GetReportRequest {
        start_time: ts(start),
        end_time: ts(end),
        time_zone: "America/New_York".into(),
        bucket: pb::ReportBucket::Day as i32,
        group_by: pb::ReportGroupBy::Queue as i32,
        queues: vec![],
    };
    let rows = report(&server, SUPERVISOR, Role::Agent, request.clone())
        .await
        .expect("report");
    assert_eq!(rows.len(), 31 * 2, "31 days of two queues");
    // The day DST starts has 23 hours.
    let eighth: Vec<&pb::ReportRow> = rows
        .iter()
        .filter(|r| r.bucket_label.starts_with("2026-03-08"))
        .collect();
    assert_eq!(eighth[0].bucket_start, ts(DateTime::parse_from_rfc3339("2026-03-08T00:00:00-05:00").expect("t").to_utc()));
    let ninth = rows.iter().find(|r| r.bucket_label.starts_with("2026-03-09")).expect("9th");
    assert_eq!(ninth.bucket_start, ts(DateTime::parse_from_rfc3339("2026-03-09T00:00:00-04:00").expect("t").to_utc()));

    let mut totals = Day::default();
    for row in &rows {
        let date = NaiveDate::parse_from_str(&row.bucket_label[..10], "%Y-%m-%d").expect("date");
        let day_end = day_end(date, ZONE);
        let expected = days.get(&(date, row.group.clone())).cloned().unwrap_or_default();
        let backlog: i64 = deltas
            .iter()
            .filter(|(when, queue, _)| *when < day_end && *queue == row.group)
            .map(|(_, _, d)| d)
            .sum();
        let what = format!("{} {}", row.bucket_label, row.group);
        assert_eq!(row.created, expected.created, "{what}: created");
        assert_eq!(row.closed, expected.closed, "{what}: closed");
        assert_eq!(row.reopened, expected.reopened, "{what}: reopened");
        assert_eq!(row.backlog, backlog, "{what}: backlog");
        assert_eq!(row.breaches, expected.breaches, "{what}: breaches");
        assert_eq!(row.sla_closed, expected.sla_closed, "{what}: sla closed");
        let share = (expected.sla_closed > 0)
            .then(|| expected.sla_within as f64 / expected.sla_closed as f64);
        assert_eq!(row.within_sla_share, share, "{what}: within SLA");
        assert_eq!(row.rating_counts, expected.ratings.to_vec(), "{what}: ratings");
        let rated: i64 = expected.ratings.iter().sum();
        let average = (rated > 0).then(|| {
            (1..=5).zip(expected.ratings).map(|(s, n)| s * n).sum::<i64>() as f64 / rated as f64
        });
        assert_eq!(row.rating_average, average, "{what}: CSAT");
        for (stats, values, name) in [
            (&row.first_reply, &expected.first_replies, "first reply"),
            (&row.resolution, &expected.resolutions, "resolution"),
        ] {
            let stats = stats.as_ref().expect("stats");
            assert_eq!(stats.count, values.len() as i64, "{what}: {name} count");
            assert_eq!(stats.median_seconds, nearest_rank(values, 50), "{what}: {name} median");
            assert_eq!(stats.p90_seconds, nearest_rank(values, 90), "{what}: {name} p90");
        }
        totals.created += row.created;
        totals.closed += row.closed;
        totals.reopened += row.reopened;
        totals.breaches += row.breaches;
    }
    assert_eq!(totals.created, TICKETS as i64);
    assert!(totals.closed > 0 && totals.reopened > 0 && totals.breaches > 0, "{totals:?}");

    // Days in India start at half past the hour UTC: each reads its whole hours from hour rows
    // and its first and last half hour from slot rows.
    let in_india = report(
        &server,
        SUPERVISOR,
        Role::Agent,
        pb::GetReportRequest {
            time_zone: HALF_HOUR_ZONE.name().into(),
            group_by: pb::ReportGroupBy::Unspecified as i32,
            ..request.clone()
        },
    )
    .await
    .expect("report in India");
    let local_date = |time: DateTime<Utc>| time.with_timezone(&HALF_HOUR_ZONE).date_naive();
    let days_in_india = (local_date(end - Duration::seconds(1)) - local_date(start)).num_days() + 1;
    assert_eq!(in_india.len() as i64, days_in_india, "one row a local day");
    for row in &in_india {
        let date = NaiveDate::parse_from_str(&row.bucket_label[..10], "%Y-%m-%d").expect("date");
        let expected = india.get(&date).cloned().unwrap_or_default();
        let what = format!("India {}", row.bucket_label);
        // The backlog at the local day's end (or the report's, for the last day): every
        // delta before it, the slots of its first half hour included.
        let day_end = day_end(date, HALF_HOUR_ZONE).min(end);
        let backlog: i64 = deltas
            .iter()
            .filter(|(when, _, _)| *when < day_end)
            .map(|(_, _, d)| d)
            .sum();
        assert_eq!(row.backlog, backlog, "{what}: backlog");
        assert_eq!(row.created, expected.created, "{what}: created");
        assert_eq!(row.closed, expected.closed, "{what}: closed");
        assert_eq!(row.reopened, expected.reopened, "{what}: reopened");
        let resolution = row.resolution.as_ref().expect("stats");
        assert_eq!(resolution.count, expected.resolutions.len() as i64, "{what}");
        assert_eq!(resolution.median_seconds, nearest_rank(&expected.resolutions, 50), "{what}");
        assert_eq!(resolution.p90_seconds, nearest_rank(&expected.resolutions, 90), "{what}");
    }
    assert_eq!(
        in_india.iter().map(|r| r.created).sum::<i64>(),
        TICKETS as i64
    );

    // By agent, a reopen counts for the agent who closed the ticket.
    let by_agent = report(
        &server,
        SUPERVISOR,
        Role::Agent,
        pb::GetReportRequest {
            group_by: pb::ReportGroupBy::Agent as i32,
            ..request.clone()
        },
    )
    .await
    .expect("report by agent");
    let mut reported: BTreeMap<String, i64> = BTreeMap::new();
    for row in by_agent.iter().filter(|r| r.reopened > 0) {
        *reported.entry(row.group.clone()).or_default() += row.reopened;
    }
    assert_eq!(reported, reopened_by);
    assert!(
        reopened_by.keys().all(|agent| [AGENT, OTHER_AGENT].contains(&agent.as_str())),
        "{reopened_by:?}"
    );

    // The CSV export: a header and the same rows.
    let auth = server.tickets(SUPERVISOR, Role::Agent).await;
    let mut client = ReportServiceClient::new(server.channel().await);
    let mut stream = client
        .export_report(auth.req(pb::ExportReportRequest {
            report: Some(request),
        }))
        .await
        .expect("export")
        .into_inner();
    let mut csv = Vec::new();
    while let Some(chunk) = stream.message().await.expect("chunk") {
        csv.extend(chunk.csv);
    }
    let csv = String::from_utf8(csv).expect("utf-8");
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), rows.len() + 1);
    assert!(lines[0].starts_with("bucket_start,bucket,group,created,closed,reopened,backlog"));
    let first = &rows[0];
    assert!(
        lines[1].starts_with(&format!(
            "{},{},{},{},{},{},{}",
            "2026-03-01T05:00:00Z",
            first.bucket_label,
            first.group,
            first.created,
            first.closed,
            first.reopened,
            first.backlog
        )),
        "{}",
        lines[1]
    );
    server.stop().await;
}
}

#[tokio::test]
async fn bad_report_requests_are_refused_by_field() {
    let server = TestServer::start().await;
    // Midnight in Berlin.
    let start = DateTime::parse_from_rfc3339("2026-03-01T00:00:00+01:00")
        .expect("t")
        .to_utc();
    let good = pb::GetReportRequest {
        start_time: ts(start),
        end_time: ts(start + Duration::days(7)),
        time_zone: "Europe/Berlin".into(),
        bucket: pb::ReportBucket::Day as i32,
        group_by: pb::ReportGroupBy::Agent as i32,
        queues: vec![],
    };
    let cases: Vec<(&str, pb::GetReportRequest, &str)> = vec![
        (
            "invalid time zone",
            pb::GetReportRequest {
                time_zone: "Europe/Atlantis".into(),
                ..good.clone()
            },
            "time_zone",
        ),
        (
            "inverted range",
            pb::GetReportRequest {
                end_time: ts(start - Duration::days(1)),
                ..good.clone()
            },
            "end_time",
        ),
        (
            "range over the limit",
            pb::GetReportRequest {
                end_time: ts(start + Duration::days(400)),
                ..good.clone()
            },
            "end_time",
        ),
        (
            "too many buckets",
            pb::GetReportRequest {
                end_time: ts(start + Duration::days(60)),
                bucket: pb::ReportBucket::Hour as i32,
                ..good.clone()
            },
            "bucket",
        ),
        (
            "no bucket",
            pb::GetReportRequest {
                bucket: 0,
                ..good.clone()
            },
            "bucket",
        ),
        (
            "unknown grouping",
            pb::GetReportRequest {
                group_by: 9,
                ..good.clone()
            },
            "group_by",
        ),
        (
            "no start",
            pb::GetReportRequest {
                start_time: None,
                ..good.clone()
            },
            "start_time",
        ),
    ];
    let admin = server.tickets(ADMIN, Role::Admin).await;
    let mut client = ReportServiceClient::new(server.channel().await);
    for (name, request, field) in cases {
        let status = assert_code(
            report(&server, ADMIN, Role::Admin, request.clone()).await,
            Code::InvalidArgument,
        );
        let fields = violated_fields(&status);
        assert!(
            fields.iter().any(|f| f == field),
            "{name}: expected {field} in {fields:?} ({status:?})"
        );
        // The export names the same field inside its `report`.
        let export = client
            .export_report(admin.req(pb::ExportReportRequest {
                report: Some(request),
            }))
            .await
            .map(drop);
        let status = assert_code(export, Code::InvalidArgument);
        let fields = violated_fields(&status);
        let nested = format!("report.{field}");
        assert!(
            fields.contains(&nested),
            "{name}: expected {nested} in {fields:?} ({status:?})"
        );
    }
    // Agents do not read reports; supervisors only their own queues.
    assert_code(
        report(&server, AGENT, Role::Agent, good.clone()).await,
        Code::PermissionDenied,
    );
    let mut other = good.clone();
    other.queues = vec!["someone-elses-queue".into()];
    assert_code(
        report(&server, SUPERVISOR, Role::Agent, other).await,
        Code::PermissionDenied,
    );
    // A week of local days with nothing in it: seven empty rows (a week from 00:00 UTC would
    // touch eight Berlin days).
    let rows = report(
        &server,
        SUPERVISOR,
        Role::Agent,
        pb::GetReportRequest {
            group_by: 0,
            ..good
        },
    )
    .await
    .expect("report");
    assert_eq!(rows.len(), 7);
    assert!(rows.iter().all(|r| r.created == 0 && r.backlog == 0));
    server.stop().await;
}
