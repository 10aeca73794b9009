//! SLA policies and live SLA state on the injectable clock: due times through hold, reply,
//! customer wait, reopen and close, with and without business hours; the warning and the
//! breach each fire exactly once, also across a restart; policies refuse bad input by field;
//! the SLA filters; a ticket's metrics match a scripted life to the second.
#[macro_use]
mod common;

use casework::clock::Clock;
use casework::domain::Role;
use casework::pb;
use casework::pb::report_service_client::ReportServiceClient;
use chrono::Duration;
use common::*;
use tonic::Code;

async fn reports(server: &TestServer) -> ReportServiceClient<tonic::transport::Channel> {
    ReportServiceClient::new(server.channel().await)
}

async fn upsert(
    server: &TestServer,
    policy: pb::SlaPolicy,
) -> Result<pb::SlaPolicy, tonic::Status> {
    let admin = server.admin().await;
    let request = admin.req(pb::UpsertSlaPolicyRequest {
        policy: Some(policy),
    });
    Ok(reports(server)
        .await
        .upsert_sla_policy(request)
        .await?
        .into_inner()
        .policy
        .expect("policy"))
}

async fn metrics(server: &TestServer, ticket_id: &str) -> pb::GetTicketMetricsResponse {
    let admin = server.admin().await;
    let request = admin.req(pb::GetTicketMetricsRequest {
        ticket_id: ticket_id.into(),
    });
    reports(server)
        .await
        .get_ticket_metrics(request)
        .await
        .expect("metrics")
        .into_inner()
}

fn clock(sla: &pb::TicketSla, target: pb::SlaTarget) -> pb::SlaClock {
    sla.clocks
        .iter()
        .find(|c| c.target == target as i32)
        .cloned()
        .unwrap_or_else(|| panic!("no {target:?} clock in {sla:?}"))
}

fn secs(ts: &Option<prost_types::Timestamp>) -> i64 {
    ts.as_ref().expect("timestamp").seconds
}

async fn change<T>(
    what: &str,
    call: impl std::future::Future<Output = Result<T, tonic::Status>>,
) -> T {
    call.await.unwrap_or_else(|e| panic!("{what}: {e:?}"))
}

async fn hold(admin: &mut Tickets, id: &str) {
    let request = admin.req(pb::HoldTicketRequest {
        ticket_id: id.into(),
        reason: "waiting on the restaurant".into(),
        ..Default::default()
    });
    change("hold", admin.client.clone().hold_ticket(request)).await;
}

async fn resume(admin: &mut Tickets, id: &str) {
    let request = admin.req(pb::ResumeTicketRequest {
        ticket_id: id.into(),
        ..Default::default()
    });
    change("resume", admin.client.clone().resume_ticket(request)).await;
}

async fn reopen(admin: &mut Tickets, id: &str) {
    let request = admin.req(pb::ReopenTicketRequest {
        ticket_id: id.into(),
        reason: "not solved".into(),
        ..Default::default()
    });
    change("reopen", admin.client.clone().reopen_ticket(request)).await;
}

/// Chat policy of the seeded queue: first reply in 5 min, next replies in 10, solved within
/// an hour; warned a minute ahead; on hold and waiting on the customer not counted.
fn chat_policy() -> pb::SlaPolicy {
    pb::SlaPolicy {
        queue: QUEUE.into(),
        first_reply_seconds: 300,
        next_reply_seconds: 600,
        resolution_seconds: 3600,
        warn_before_seconds: 60,
        pause_on_hold: true,
        pause_waiting_on_customer: true,
        ..Default::default()
    }
}

both_backends! {
async fn sla_clocks_follow_hold_reply_wait_reopen_and_close(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    upsert(&server, chat_policy()).await.expect("policy");
    let mut admin = server.admin().await;
    let t0 = server.clock.now().timestamp();
    let ticket = admin
        .create(pb::CreateTicketRequest {
            initial_message: "My order is late".into(),
            ..new_ticket("cust-1")
        })
        .await
        .expect("create");
    let room = ticket.metadata.clone().expect("m").room_id;
    let sla = ticket.sla.clone().expect("sla");
    assert!(sla.has_policy);
    assert_eq!(sla.state, pb::SlaState::Ongoing as i32);
    assert_eq!(secs(&clock(&sla, pb::SlaTarget::FirstReply).due_at), t0 + 300);
    assert_eq!(secs(&clock(&sla, pb::SlaTarget::Resolution).due_at), t0 + 3600);
    assert!(!clock(&sla, pb::SlaTarget::NextReply).running);

    // Assigned at +100, held for 1,000 s: both clocks stop.
    server.clock.advance(Duration::seconds(100));
    admin.assign(&ticket.id, AGENT).await.expect("assign");
    hold(&mut admin, &ticket.id).await;
    server.clock.advance(Duration::seconds(1000));
    assert_eq!(server.app.sweep_timers().await.expect("sweep"), 0, "paused clocks fire nothing");
    resume(&mut admin, &ticket.id).await;
    let sla = admin.get(&ticket.id).await.expect("t").sla.expect("sla");
    assert_eq!(secs(&clock(&sla, pb::SlaTarget::FirstReply).due_at), t0 + 1100 + 200);
    assert_eq!(secs(&clock(&sla, pb::SlaTarget::Resolution).due_at), t0 + 1100 + 3500);

    // The agent answers 50 s later: the first reply is met; the resolution clock waits on
    // the customer.
    server.clock.advance(Duration::seconds(50));
    say(&server, AGENT, Role::Agent, &room, "Your rider is on the way.").await;
    let sla = admin.get(&ticket.id).await.expect("t").sla.expect("sla");
    let first = clock(&sla, pb::SlaTarget::FirstReply);
    assert!(!first.running && !first.breached);
    assert_eq!(secs(&first.met_at), t0 + 1150);
    let resolution = clock(&sla, pb::SlaTarget::Resolution);
    assert!(!resolution.running);
    assert_eq!(resolution.used_seconds, 150);

    // The customer writes 500 s later: the next reply is due in 600 s, resolution runs again.
    server.clock.advance(Duration::seconds(500));
    let asked = server.clock.now().timestamp();
    say(&server, "cust-1", Role::Customer, &room, "Still nothing here").await;
    let sla = admin.get(&ticket.id).await.expect("t").sla.expect("sla");
    assert_eq!(secs(&clock(&sla, pb::SlaTarget::NextReply).due_at), asked + 600);
    assert_eq!(secs(&clock(&sla, pb::SlaTarget::NextReply).warn_at), asked + 540);
    assert_eq!(secs(&clock(&sla, pb::SlaTarget::Resolution).due_at), asked + 3450);
    assert_eq!(secs(&sla.next_due_at), asked + 600);

    // The warning at 540 s, once however often the sweeper runs.
    server.clock.advance(Duration::seconds(539));
    assert_eq!(server.app.sweep_timers().await.expect("sweep"), 0);
    let events = admin.events(&ticket.id).await.expect("events");
    assert_eq!(count(&events, pb::TicketEventType::SlaBreachWarning), 0, "not yet");
    server.clock.advance(Duration::seconds(1));
    server.app.sweep_timers().await.expect("sweep");
    server.app.sweep_timers().await.expect("sweep again");
    let events = admin.events(&ticket.id).await.expect("events");
    assert_eq!(count(&events, pb::TicketEventType::SlaBreachWarning), 1);
    assert_eq!(count(&events, pb::TicketEventType::SlaBreached), 0);

    // The breach at 600 s, once.
    server.clock.advance(Duration::seconds(60));
    server.app.sweep_timers().await.expect("sweep");
    server.app.sweep_timers().await.expect("sweep again");
    let events = admin.events(&ticket.id).await.expect("events");
    assert_eq!(count(&events, pb::TicketEventType::SlaBreached), 1);
    let breach = events
        .iter()
        .find(|e| e.r#type == pb::TicketEventType::SlaBreached as i32)
        .expect("breach");
    assert_eq!(breach.actor, "casework");
    let ticket_now = admin.get(&ticket.id).await.expect("t");
    let sla = ticket_now.sla.expect("sla");
    assert_eq!(sla.state, pb::SlaState::Breached as i32);
    assert!(sla.over_reply_sla && !sla.within_sla);
    assert_eq!(sla.next_reply_breaches, 1);

    // The late answer ends the cycle; closing meets the resolution target; the breach stays
    // on the record through a reopen.
    say(&server, AGENT, Role::Agent, &room, "Sorry, here it is.").await;
    admin.close(&ticket.id).await.expect("close");
    let closed = admin.get(&ticket.id).await.expect("t").sla.expect("sla");
    let resolution = clock(&closed, pb::SlaTarget::Resolution);
    assert!(!resolution.running && !resolution.breached && resolution.met_at.is_some());
    assert_eq!(closed.state, pb::SlaState::Breached as i32);
    reopen(&mut admin, &ticket.id).await;
    let reopened = admin.get(&ticket.id).await.expect("t").sla.expect("sla");
    let resolution = clock(&reopened, pb::SlaTarget::Resolution);
    assert!(resolution.running && resolution.met_at.is_none());
    assert_eq!(
        secs(&resolution.due_at),
        server.clock.now().timestamp() + 3600 - resolution.used_seconds
    );
    assert_eq!(reopened.state, pb::SlaState::Breached as i32);
    server.stop().await;
}
}

both_backends! {
async fn warning_and_breach_fire_once_across_a_restart(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    upsert(&server, chat_policy()).await.expect("policy");
    let mut admin = server.admin().await;
    let late = admin.create(new_ticket("cust-1")).await.expect("late");
    // An e-mail: no chat auto-close to fire in between.
    let kept = admin
        .create(pb::CreateTicketRequest {
            channel: "email".into(),
            ..new_ticket("cust-2")
        })
        .await
        .expect("kept");
    let kept_room = kept.metadata.clone().expect("m").room_id;

    // (The server's own sweeper may fire a due timer first: events are counted, not sweeps.)
    server.clock.advance(Duration::seconds(240));
    server.app.sweep_timers().await.expect("sweep");
    admin.assign(&kept.id, AGENT).await.expect("assign");
    say(&server, AGENT, Role::Agent, &kept_room, "Hello!").await;

    let server = server.restart().await;
    let mut admin = server.admin().await;
    server.clock.advance(Duration::seconds(59));
    assert_eq!(server.app.sweep_timers().await.expect("sweep"), 0);
    let events = admin.events(&late.id).await.expect("events");
    assert_eq!(count(&events, pb::TicketEventType::SlaBreached), 0, "not yet");
    server.clock.advance(Duration::seconds(1));
    server.app.sweep_timers().await.expect("sweep");
    server.app.sweep_timers().await.expect("sweep again");
    let events = admin.events(&late.id).await.expect("events");
    assert_eq!(count(&events, pb::TicketEventType::SlaBreached), 1, "one breach");

    let server = server.restart().await;
    let mut admin = server.admin().await;
    server.clock.advance(Duration::hours(2));
    // The late ticket's resolution target is missed too (still waiting), once; its warning,
    // due in the same sweep, is not given after the fact. The answered ticket waits on its
    // customer: its resolution clock stands still.
    server.app.sweep_timers().await.expect("sweep");
    server.app.sweep_timers().await.expect("sweep again");
    let events = admin.events(&late.id).await.expect("events");
    assert_eq!(count(&events, pb::TicketEventType::SlaBreachWarning), 1, "{events:?}");
    assert_eq!(count(&events, pb::TicketEventType::SlaBreached), 2, "first reply and resolution");
    let events = admin.events(&kept.id).await.expect("events");
    assert_eq!(count(&events, pb::TicketEventType::SlaBreachWarning), 1);
    assert_eq!(count(&events, pb::TicketEventType::SlaBreached), 0);

    // Filters: breached, severity, due within.
    let list = |filter: pb::TicketFilter| pb::ListTicketsRequest {
        filter: Some(filter),
        page_size: 50,
        ..Default::default()
    };
    let breached = admin
        .client
        .list_tickets(admin.req(list(pb::TicketFilter {
            sla_breached: true,
            ..Default::default()
        })))
        .await
        .expect("list")
        .into_inner()
        .tickets;
    assert_eq!(
        breached.iter().map(|t| t.id.clone()).collect::<Vec<_>>(),
        vec![late.id.clone()]
    );
    server.stop().await;
}
}

both_backends! {
async fn business_hours_skip_the_weekend_and_a_holiday(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    // The clock starts Monday 2026-03-02 09:00 UTC (10:00 in Berlin).
    let weekdays = [
        pb::Weekday::Monday,
        pb::Weekday::Tuesday,
        pb::Weekday::Wednesday,
        pb::Weekday::Thursday,
        pb::Weekday::Friday,
    ];
    upsert(
        &server,
        pb::SlaPolicy {
            queue: QUEUE.into(),
            severity: Some(pb::Severity::High as i32),
            first_reply_seconds: 2 * 3600,
            business_hours: Some(pb::BusinessHours {
                time_zone: "Europe/Berlin".into(),
                weekly: weekdays
                    .iter()
                    .map(|day| pb::WorkingHours {
                        weekday: *day as i32,
                        start: "09:00".into(),
                        end: "17:00".into(),
                    })
                    .collect(),
                holidays: vec!["2026-03-09".into()],
            }),
            ..Default::default()
        },
    )
    .await
    .expect("policy");
    let mut admin = server.admin().await;
    // Friday 2026-03-06 16:30 Berlin: half an hour left that day, Monday is a holiday, so
    // the other 90 minutes run on Tuesday from 09:00: due Tuesday 10:30 Berlin (09:30 UTC).
    server.clock.advance(Duration::days(4) + Duration::minutes(390));
    let ticket = admin
        .create(pb::CreateTicketRequest {
            severity: pb::Severity::High as i32,
            ..new_ticket("cust-1")
        })
        .await
        .expect("create");
    let due = chrono::DateTime::parse_from_rfc3339("2026-03-10T09:30:00Z")
        .expect("time")
        .timestamp();
    let sla = ticket.sla.expect("sla");
    assert_eq!(secs(&clock(&sla, pb::SlaTarget::FirstReply).due_at), due);
    // A ticket of another severity has no policy (the queue has none for every severity).
    let plain = admin.create(new_ticket("cust-2")).await.expect("plain");
    assert!(!plain.sla.expect("sla").has_policy);

    let until = due - server.clock.now().timestamp();
    server.clock.advance(Duration::seconds(until - 1));
    assert_eq!(server.app.sweep_timers().await.expect("sweep"), 0);
    let sla = admin.get(&ticket.id).await.expect("t").sla.expect("sla");
    assert_eq!(sla.state, pb::SlaState::Ongoing as i32, "one second before");
    server.clock.advance(Duration::seconds(1));
    server.app.sweep_timers().await.expect("sweep");
    let sla = admin.get(&ticket.id).await.expect("t").sla.expect("sla");
    assert_eq!(sla.state, pb::SlaState::Breached as i32);

    // Raising the plain ticket's severity gives it the policy, from now.
    let request = admin.req(pb::UpdateTicketRequest {
        ticket_id: plain.id.clone(),
        ticket: Some(pb::Ticket {
            severity: pb::Severity::High as i32,
            ..Default::default()
        }),
        update_mask: Some(prost_types::FieldMask {
            paths: vec!["severity".into()],
        }),
        expected_version: 0,
    });
    let raised = admin
        .client
        .update_ticket(request)
        .await
        .expect("update")
        .into_inner()
        .ticket
        .expect("t");
    assert_eq!(raised.severity, pb::Severity::High as i32);
    let sla = raised.sla.expect("sla");
    assert!(sla.has_policy);
    // Tuesday 10:30 Berlin plus two working hours: 12:30 Berlin.
    assert_eq!(secs(&clock(&sla, pb::SlaTarget::FirstReply).due_at), due + 2 * 3600);
    let high = admin
        .client
        .list_tickets(admin.req(pb::ListTicketsRequest {
            filter: Some(pb::TicketFilter {
                severities: vec![pb::Severity::High as i32],
                sla_due_within_minutes: 121,
                ..Default::default()
            }),
            page_size: 50,
            ..Default::default()
        }))
        .await
        .expect("list")
        .into_inner()
        .tickets;
    assert_eq!(
        high.iter().map(|t| t.id.clone()).collect::<Vec<_>>(),
        vec![plain.id.clone()],
        "breached tickets are no longer 'due within'"
    );
    server.stop().await;
}
}

#[tokio::test]
async fn bad_policies_are_refused_by_field_and_write_nothing() {
    let server = TestServer::start().await;
    let hours = |weekly: Vec<(pb::Weekday, &str, &str)>, zone: &str| pb::BusinessHours {
        time_zone: zone.into(),
        weekly: weekly
            .into_iter()
            .map(|(day, start, end)| pb::WorkingHours {
                weekday: day as i32,
                start: start.into(),
                end: end.into(),
            })
            .collect(),
        holidays: vec![],
    };
    let monday = |start, end| vec![(pb::Weekday::Monday, start, end)];
    let cases: Vec<(&str, pb::SlaPolicy, &str)> = vec![
        (
            "unknown queue",
            pb::SlaPolicy {
                queue: "nope".into(),
                ..chat_policy()
            },
            "policy.queue",
        ),
        (
            "negative target",
            pb::SlaPolicy {
                first_reply_seconds: -1,
                ..chat_policy()
            },
            "policy.first_reply_seconds",
        ),
        (
            "absurd target",
            pb::SlaPolicy {
                resolution_seconds: 10 * 365 * 24 * 3600,
                ..chat_policy()
            },
            "policy.resolution_seconds",
        ),
        (
            "warning longer than every target",
            pb::SlaPolicy {
                warn_before_seconds: 3600,
                ..chat_policy()
            },
            "policy.warn_before_seconds",
        ),
        (
            "warning as long as the shortest target",
            pb::SlaPolicy {
                warn_before_seconds: 300,
                ..chat_policy()
            },
            "policy.warn_before_seconds",
        ),
        (
            "invalid time zone",
            pb::SlaPolicy {
                business_hours: Some(hours(monday("09:00", "17:00"), "Mars/Olympus")),
                ..chat_policy()
            },
            "policy.business_hours.time_zone",
        ),
        (
            "inverted hours",
            pb::SlaPolicy {
                business_hours: Some(hours(monday("17:00", "09:00"), "Europe/Berlin")),
                ..chat_policy()
            },
            "policy.business_hours.weekly[0]",
        ),
        (
            "overlapping hours",
            pb::SlaPolicy {
                business_hours: Some(hours(
                    vec![
                        (pb::Weekday::Monday, "09:00", "13:00"),
                        (pb::Weekday::Monday, "12:00", "17:00"),
                    ],
                    "Europe/Berlin",
                )),
                ..chat_policy()
            },
            "policy.business_hours.weekly[1]",
        ),
        (
            "not a time",
            pb::SlaPolicy {
                business_hours: Some(hours(monday("9am", "17:00"), "Europe/Berlin")),
                ..chat_policy()
            },
            "policy.business_hours.weekly[0].start",
        ),
        (
            "no weekday",
            pb::SlaPolicy {
                business_hours: Some(hours(
                    vec![(pb::Weekday::Unspecified, "09:00", "17:00")],
                    "Europe/Berlin",
                )),
                ..chat_policy()
            },
            "policy.business_hours.weekly[0].weekday",
        ),
        (
            "not a date",
            pb::SlaPolicy {
                business_hours: Some(pb::BusinessHours {
                    holidays: vec!["2026-02-30".into()],
                    ..hours(monday("09:00", "17:00"), "Europe/Berlin")
                }),
                ..chat_policy()
            },
            "policy.business_hours.holidays[0]",
        ),
    ];
    for (name, policy, field) in cases {
        let status = assert_code(upsert(&server, policy).await, Code::InvalidArgument);
        let fields = violated_fields(&status);
        assert!(
            fields.iter().any(|f| f == field),
            "{name}: expected {field} in {fields:?} ({status:?})"
        );
    }
    // An agent may read policies but not write them.
    let agent = server.tickets(AGENT, Role::Agent).await;
    let request = agent.req(pb::UpsertSlaPolicyRequest {
        policy: Some(chat_policy()),
    });
    assert_code(
        reports(&server).await.upsert_sla_policy(request).await,
        Code::PermissionDenied,
    );
    let request = agent.req(pb::ListSlaPoliciesRequest::default());
    let listed = reports(&server)
        .await
        .list_sla_policies(request)
        .await
        .expect("list")
        .into_inner()
        .policies;
    assert!(listed.is_empty(), "nothing was written: {listed:?}");

    // GetTicketMetrics names its field too.
    let admin = server.admin().await;
    let request = admin.req(pb::GetTicketMetricsRequest {
        ticket_id: String::new(),
    });
    let status = assert_code(
        reports(&server).await.get_ticket_metrics(request).await,
        Code::InvalidArgument,
    );
    assert_eq!(violated_fields(&status), ["ticket_id"]);

    // A good one is listed as written.
    let stored = upsert(&server, chat_policy()).await.expect("policy");
    assert_eq!(stored.first_reply_seconds, 300);
    assert!(stored.severity.is_none() && stored.update_time.is_some());
    server.stop().await;
}

both_backends! {
async fn metrics_of_a_scripted_life_match_to_the_second(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let mut admin = server.admin().await;
    let step = |seconds| server.clock.advance(Duration::seconds(seconds));
    // t=0: created with the customer's message.
    let ticket = admin
        .create(pb::CreateTicketRequest {
            initial_message: "Where is my food?".into(),
            ..new_ticket("cust-1")
        })
        .await
        .expect("create");
    let room = ticket.metadata.clone().expect("m").room_id;
    step(120); // t=120: assigned (120 s unassigned).
    admin.assign(&ticket.id, AGENT).await.expect("assign");
    step(30); // t=150: first reply (150 s; a reply after 150 s of waiting).
    say(&server, AGENT, Role::Agent, &room, "Checking!").await;
    step(50); // t=200: the customer again.
    say(&server, "cust-1", Role::Customer, &room, "Any news?").await;
    step(10); // t=210: and again (still the same wait).
    say(&server, "cust-1", Role::Customer, &room, "Hello?").await;
    step(50); // t=260: answered after 60 s.
    say(&server, AGENT, Role::Agent, &room, "Ten minutes.").await;
    step(40); // t=300: on hold for 100 s.
    hold(&mut admin, &ticket.id).await;
    step(100);
    resume(&mut admin, &ticket.id).await;
    step(50); // t=450: reassigned.
    let request = admin.req(pb::ReassignTicketRequest {
        ticket_id: ticket.id.clone(),
        agent_id: SUPERVISOR.into(),
        reason: "shift change".into(),
        ..Default::default()
    });
    change("reassign", admin.client.clone().reassign_ticket(request)).await;
    step(50); // t=500: transferred (waiting again).
    let request = admin.req(pb::TransferTicketRequest {
        ticket_id: ticket.id.clone(),
        queue_id: OTHER_QUEUE.into(),
        reason: "billing".into(),
        expected_version: 0,
    });
    change("transfer", admin.client.clone().transfer_ticket(request)).await;
    step(60); // t=560: assigned again (60 s more unassigned).
    admin.assign(&ticket.id, SUPERVISOR).await.expect("assign");
    step(140); // t=700: closed by its assignee.
    let mut supervisor = server.tickets(SUPERVISOR, Role::Agent).await;
    supervisor.close(&ticket.id).await.expect("close");
    let m = metrics(&server, &ticket.id).await.metrics.expect("metrics");
    assert_eq!(m.unassigned_seconds, 180);
    assert_eq!(m.handle_seconds, 380 + 140);
    assert_eq!(m.hold_seconds, 100);
    assert_eq!(m.first_reply_seconds, Some(150));
    assert_eq!((m.reply_count, m.reply_seconds_total, m.reply_seconds_max), (2, 210, 150));
    assert_eq!(m.resolution_seconds, Some(700));
    assert_eq!((m.reassign_count, m.transfer_count, m.reopen_count), (1, 1, 0));
    assert_eq!(m.closure, pb::ClosureType::Assignee as i32);

    step(100); // t=800: reopened (waiting), closed at t=900 by an admin.
    reopen(&mut admin, &ticket.id).await;
    step(40);
    let live = metrics(&server, &ticket.id).await;
    let m = live.metrics.expect("metrics");
    assert_eq!(m.unassigned_seconds, 180 + 40, "a running wait counts up to now");
    assert_eq!(m.resolution_seconds, None);
    assert_eq!(m.closure, pb::ClosureType::Unspecified as i32);
    step(60);
    admin.close(&ticket.id).await.expect("close");
    let shown = admin.get(&ticket.id).await.expect("t").metrics.expect("m");
    assert_eq!(shown.unassigned_seconds, 280);
    assert_eq!(shown.handle_seconds, 520);
    assert_eq!(shown.resolution_seconds, Some(900));
    assert_eq!(shown.reopen_count, 1);
    assert_eq!(shown.closure, pb::ClosureType::Other as i32);
    server.stop().await;
}
}

both_backends! {
async fn a_breach_survives_a_move_to_a_queue_without_that_target(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    // The seeded queue answers within 5 minutes; the other queue only has a resolution target.
    upsert(&server, chat_policy()).await.expect("policy");
    upsert(
        &server,
        pb::SlaPolicy {
            queue: OTHER_QUEUE.into(),
            resolution_seconds: 7200,
            ..Default::default()
        },
    )
    .await
    .expect("other policy");
    let mut admin = server.admin().await;
    let ticket = admin.create(new_ticket("cust-1")).await.expect("create");
    server.clock.advance(Duration::seconds(301));
    server.app.sweep_timers().await.expect("sweep");
    let transfer = |queue: &str| pb::TransferTicketRequest {
        ticket_id: ticket.id.clone(),
        queue_id: queue.into(),
        reason: "moved".into(),
        expected_version: 0,
    };
    let moved = change(
        "transfer",
        admin.client.clone().transfer_ticket(admin.req(transfer(OTHER_QUEUE))),
    )
    .await
    .into_inner()
    .ticket
    .expect("t");
    let sla = moved.sla.expect("sla");
    assert_eq!(sla.state, pb::SlaState::Breached as i32, "{sla:?}");
    assert!(sla.over_reply_sla);
    // Back in the first queue, still unanswered: the missed first reply is not missed twice.
    change(
        "transfer back",
        admin.client.clone().transfer_ticket(admin.req(transfer(QUEUE))),
    )
    .await;
    server.clock.advance(Duration::seconds(600));
    server.app.sweep_timers().await.expect("sweep");
    let events = admin.events(&ticket.id).await.expect("events");
    let first_reply_breaches = events
        .iter()
        .filter(|e| e.r#type == pb::TicketEventType::SlaBreached as i32)
        .filter(|e| format!("{:?}", e.payload).contains("FIRST_REPLY"))
        .count();
    assert_eq!(first_reply_breaches, 1, "{events:?}");
    server.stop().await;
}
}

both_backends! {
/// `casework_sla_breaches_total` counts a breach once, also one that a change made after the
/// due time fires (here an update, before any sweep) rather than the sweeper.
async fn the_breach_counter_counts_each_breach_once(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    // A queue of this test's own: the counter is process-wide.
    let queue = format!("counted-{backend:?}").to_lowercase();
    let mut admin = server.admin().await;
    let request = admin.req(pb::UpsertQueueRequest {
        queue: Some(pb::Queue {
            id: queue.clone(),
            name: queue.clone(),
            language: "en".into(),
            default_sla_seconds: 3600,
        }),
    });
    admin.client.upsert_queue(request).await.expect("queue");
    upsert(
        &server,
        pb::SlaPolicy {
            queue: queue.clone(),
            ..chat_policy()
        },
    )
    .await
    .expect("policy");
    let ticket = admin
        .create(pb::CreateTicketRequest {
            queue: queue.clone(),
            ..new_ticket("cust-1")
        })
        .await
        .expect("create");
    server.clock.advance(Duration::seconds(301));
    let request = admin.req(pb::UpdateTicketRequest {
        ticket_id: ticket.id.clone(),
        ticket: Some(pb::Ticket {
            severity: pb::Severity::Low as i32,
            ..Default::default()
        }),
        update_mask: Some(prost_types::FieldMask {
            paths: vec!["severity".into()],
        }),
        expected_version: 0,
    });
    admin.client.update_ticket(request).await.expect("update");
    server.app.sweep_timers().await.expect("sweep");
    let events = admin.events(&ticket.id).await.expect("events");
    let breaches = events
        .iter()
        .filter(|e| e.r#type == pb::TicketEventType::SlaBreached as i32)
        .count();
    assert_eq!(breaches, 1, "{events:?}");
    let scraped = reqwest::get(format!("http://{}/metrics", server.addr))
        .await
        .expect("scrape")
        .text()
        .await
        .expect("metrics");
    let line = format!(
        "casework_sla_breaches_total{{queue=\"{queue}\",target=\"FIRST_REPLY\"}} 1"
    );
    assert!(
        scraped.lines().any(|l| l == line),
        "no {line:?} in:\n{scraped}"
    );
    server.stop().await;
}
}

#[tokio::test]
async fn a_policy_without_targets_takes_the_sla_off() {
    let server = TestServer::start().await;
    upsert(&server, chat_policy()).await.expect("policy");
    upsert(
        &server,
        pb::SlaPolicy {
            severity: Some(pb::Severity::Low as i32),
            ..pb::SlaPolicy {
                queue: QUEUE.into(),
                ..Default::default()
            }
        },
    )
    .await
    .expect("no targets for low severity");
    let mut admin = server.admin().await;
    let create = |severity: pb::Severity, customer: &str| pb::CreateTicketRequest {
        severity: severity as i32,
        ..new_ticket(customer)
    };
    let low = admin
        .create(create(pb::Severity::Low, "cust-1"))
        .await
        .expect("low");
    let high = admin
        .create(create(pb::Severity::High, "cust-2"))
        .await
        .expect("high");
    assert!(!low.sla.unwrap_or_default().has_policy, "low: no SLA");
    assert!(
        high.sla.expect("sla").has_policy,
        "high: the queue's policy"
    );
    server.stop().await;
}

#[tokio::test]
async fn customers_see_neither_sla_state_nor_metrics() {
    let server = TestServer::start().await;
    upsert(&server, chat_policy()).await.expect("policy");
    let mut admin = server.admin().await;
    let ticket = admin
        .create(pb::CreateTicketRequest {
            close_immediately: true,
            ..new_ticket("cust-1")
        })
        .await
        .expect("create");
    assert!(ticket.sla.expect("sla").has_policy, "staff see the SLA");
    let mut customer = server.tickets("cust-1", Role::Customer).await;
    let shown = customer.get(&ticket.id).await.expect("own ticket");
    assert!(!shown.sla.unwrap_or_default().has_policy);
    assert_eq!(
        shown.metrics.unwrap_or_default(),
        pb::TicketMetrics::default()
    );
    let request = customer.req(pb::GetTicketMetricsRequest {
        ticket_id: ticket.id.clone(),
    });
    assert_code(
        reports(&server).await.get_ticket_metrics(request).await,
        Code::PermissionDenied,
    );
    // An agent's note on the closed ticket answers nobody: no first reply.
    let room = ticket.metadata.expect("m").room_id;
    say(&server, SUPERVISOR, Role::Agent, &room, "For the record.").await;
    let after = admin.get(&ticket.id).await.expect("t");
    assert!(after.metadata.expect("m").first_response_at.is_none());
    assert_eq!(after.metrics.expect("m").first_reply_seconds, None);
    server.stop().await;
}
