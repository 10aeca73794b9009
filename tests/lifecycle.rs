//! The whole ticket lifecycle over gRPC, and every illegal transition refused.
#[macro_use]
mod common;

use casework::domain::Role;
use casework::pb;
use common::*;
use pb::TicketEventType as E;
use pb::TicketStatus as S;
use tonic::Code;

fn event_types(events: &[pb::TicketEvent]) -> Vec<E> {
    events
        .iter()
        .map(|e| E::try_from(e.r#type).expect("event type"))
        .collect()
}

both_backends! {
#[tokio::test]
async fn a_ticket_lives_its_whole_life(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let mut admin = server.admin().await;
    let mut agent = server.tickets(AGENT, Role::Agent).await;
    let mut customer = server.tickets("cust-1", Role::Customer).await;
    let mut service = server.tickets("refund-workflow", Role::Service).await;

    let mut request = new_ticket("cust-1");
    request.external_id = "vsba-nhas".into();
    request.metadata = Some(pb::TicketMetadata {
        order_id: "sdw-srr".into(),
        entity_id: "FP_SG".into(),
        country: "sg".into(),
        language: "en".into(),
        tags: vec!["late".into()],
        ..Default::default()
    });
    let created = admin.create(request).await.expect("create");
    assert_eq!(created.status, S::Created as i32);
    let metadata = created.metadata.clone().expect("metadata");
    assert_eq!(metadata.sla_seconds, 900, "queue default SLA");
    assert_eq!(
        metadata.due_at.expect("due").seconds - created.created_at.expect("created").seconds,
        900
    );
    let id = created.id.clone();

    // By number and by external id.
    let by_number = admin
        .client
        .get_ticket(admin.req(pb::GetTicketRequest {
            key: Some(pb::get_ticket_request::Key::Number(created.number)),
        }))
        .await
        .expect("by number")
        .into_inner();
    assert_eq!(by_number.ticket.expect("ticket").id, id);
    let by_external = admin
        .client
        .get_ticket(admin.req(pb::GetTicketRequest {
            key: Some(pb::get_ticket_request::Key::ExternalId("vsba-nhas".into())),
        }))
        .await
        .expect("by external id")
        .into_inner();
    assert_eq!(by_external.ticket.expect("ticket").id, id);

    // The agent picks it up from its queue, holds, resumes.
    server.clock.advance(chrono::Duration::seconds(30));
    let assigned = agent.assign(&id, "").await.expect("self-assign");
    assert_eq!(assigned.status, S::Assigned as i32);
    assert_eq!(assigned.assignee, AGENT);
    assert!(assigned.metadata.expect("metadata").assigned_at.is_some());
    let held = agent
        .client
        .hold_ticket(agent.req(pb::HoldTicketRequest {
            ticket_id: id.clone(),
            reason: "waiting for rider".into(),
            expected_version: assigned.version,
        }))
        .await
        .expect("hold")
        .into_inner()
        .ticket
        .expect("ticket");
    assert_eq!(held.status, S::OnHold as i32);
    assert_eq!(held.status_reason, "waiting for rider");
    let resumed = agent
        .client
        .resume_ticket(agent.req(pb::ResumeTicketRequest {
            ticket_id: id.clone(),
            expected_version: 0,
        }))
        .await
        .expect("resume")
        .into_inner()
        .ticket
        .expect("ticket");
    assert_eq!(resumed.status, S::Assigned as i32);

    // A stale expected_version is ABORTED and changes nothing.
    let stale = agent
        .client
        .hold_ticket(agent.req(pb::HoldTicketRequest {
            ticket_id: id.clone(),
            reason: String::new(),
            expected_version: held.version,
        }))
        .await;
    assert_code(stale, Code::Aborted);

    // Field-mask update: CCR must be a leaf, so set order id and priority instead.
    let updated = agent
        .client
        .update_ticket(agent.req(pb::UpdateTicketRequest {
            ticket_id: id.clone(),
            ticket: Some(pb::Ticket {
                priority: 4,
                metadata: Some(pb::TicketMetadata {
                    order_id: "abc-123".into(),
                    entity_id: "FP_SG".into(),
                    ..Default::default()
                }),
                subject: "ignored: not in the mask".into(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["priority".into(), "metadata.order_id".into()],
            }),
            expected_version: resumed.version,
        }))
        .await
        .expect("update")
        .into_inner()
        .ticket
        .expect("ticket");
    assert_eq!(updated.priority, 4);
    assert_eq!(updated.subject, created.subject);
    assert_eq!(updated.metadata.expect("metadata").order_id, "abc-123");

    // Escalate to a department and a supervisor, who holds it and closes it.
    let escalated = agent
        .client
        .escalate_ticket(agent.req(pb::EscalateTicketRequest {
            ticket_id: id.clone(),
            department: DEPARTMENT.into(),
            to_agent: SUPERVISOR.into(),
            status_reason: "needs partner service".into(),
            ..Default::default()
        }))
        .await
        .expect("escalate")
        .into_inner()
        .ticket
        .expect("ticket");
    assert_eq!(escalated.status, S::Escalated as i32);
    assert_eq!(escalated.assignee, SUPERVISOR);
    let escalation = escalated.escalation.expect("escalation");
    assert_eq!(escalation.department, DEPARTMENT);
    assert_eq!(escalation.from_agent, AGENT);
    // The agent no longer holds it: to the agent it is as if it did not exist.
    assert_code(agent.get(&id).await, Code::NotFound);

    // A refund workflow records progress and links its refund.
    let workflow = service
        .client
        .record_workflow_event(service.req(pb::RecordWorkflowEventRequest {
            ticket_id: id.clone(),
            r#type: E::WorkflowPending as i32,
            workflow: "refund".into(),
            ..Default::default()
        }))
        .await
        .expect("workflow")
        .into_inner()
        .event
        .expect("event");
    assert_eq!(workflow.r#type, E::WorkflowPending as i32);
    let linked = service
        .client
        .link_ticket(service.req(pb::LinkTicketRequest {
            ticket_id: id.clone(),
            link: Some(pb::TicketLink {
                ticket_id: "absmw0dbma".into(),
                id_type: pb::TicketLinkIdType::Salesforce as i32,
                category: pb::TicketLinkCategory::Refunded as i32,
                reason: "insufficient money".into(),
                ..Default::default()
            }),
            expected_version: 0,
        }))
        .await
        .expect("link")
        .into_inner()
        .ticket
        .expect("ticket");
    let links = linked.metadata.expect("metadata").children_links;
    assert_eq!(links.len(), 1);
    assert_eq!(links[0].creator, "refund-workflow");

    let mut supervisor = server.tickets(SUPERVISOR, Role::Supervisor).await;
    let closed = supervisor
        .client
        .close_ticket(supervisor.req(pb::CloseTicketRequest {
            ticket_id: id.clone(),
            resolution_status: pb::ResolutionStatus::Refunded as i32,
            resolution_reason: "refunded in full".into(),
            ..Default::default()
        }))
        .await
        .expect("close")
        .into_inner()
        .ticket
        .expect("ticket");
    assert_eq!(closed.status, S::Closed as i32);
    let resolution = closed.resolution.expect("resolution");
    assert_eq!(resolution.status, pb::ResolutionStatus::Refunded as i32);
    assert_eq!(resolution.closed_by, SUPERVISOR);

    // The customer sees, rates (once) and reopens its ticket.
    assert_eq!(customer.get(&id).await.expect("customer reads").id, id);
    let rated = customer
        .client
        .rate_ticket(customer.req(pb::RateTicketRequest {
            ticket_id: id.clone(),
            score: 5,
            comment: "fast".into(),
            expected_version: 0,
        }))
        .await
        .expect("rate")
        .into_inner()
        .ticket
        .expect("ticket");
    assert_eq!(rated.rating.expect("rating").score, 5);
    let again = customer
        .client
        .rate_ticket(customer.req(pb::RateTicketRequest {
            ticket_id: id.clone(),
            score: 1,
            ..Default::default()
        }))
        .await;
    assert_code(again, Code::FailedPrecondition);
    let reopened = customer
        .client
        .reopen_ticket(customer.req(pb::ReopenTicketRequest {
            ticket_id: id.clone(),
            reason: "still no food".into(),
            keep_assignee: true,
            expected_version: 0,
        }))
        .await
        .expect("reopen")
        .into_inner()
        .ticket
        .expect("ticket");
    // keep_assignee asks routing for the last agent; everyone is offline, so it waits.
    assert_eq!(reopened.status, S::Created as i32);
    assert_eq!(reopened.assignee, "");
    assert!(reopened.resolution.is_none());

    // Transfer to another queue: waiting there, unassigned.
    let transferred = admin
        .client
        .transfer_ticket(admin.req(pb::TransferTicketRequest {
            ticket_id: id.clone(),
            queue_id: OTHER_QUEUE.into(),
            reason: "email follow-up".into(),
            expected_version: 0,
        }))
        .await
        .expect("transfer")
        .into_inner()
        .ticket
        .expect("ticket");
    assert_eq!(transferred.status, S::Created as i32);
    assert_eq!(transferred.queue, OTHER_QUEUE);
    assert_eq!(transferred.assignee, "");

    // The audit trail holds one event per change with versions 1, 2, 3, … (REFUND_CREATED
    // shares LINKED's change).
    let events = admin.events(&id).await.expect("events");
    assert_eq!(
        event_types(&events),
        vec![
            E::Created,
            E::Assigned,
            E::Held,
            E::Resumed,
            E::UpdateField,
            E::Escalated,
            E::WorkflowPending,
            E::Linked,
            E::RefundCreated,
            E::Closed,
            E::Rated,
            E::Reopened,
            E::Transferred,
        ]
    );
    let versions: Vec<i64> = events.iter().map(|e| e.version).collect();
    assert_eq!(versions, vec![1, 2, 3, 4, 5, 6, 7, 8, 8, 9, 10, 11, 12]);
    assert_eq!(transferred.version, 12);
    assert!(events.windows(2).all(|w| w[0].id < w[1].id));
    assert_eq!(events[1].actor, AGENT);
    server.stop().await;
}
}

both_backends! {
#[tokio::test]
async fn bots_hold_tickets_until_handoff_and_raise_and_close_works(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let mut admin = server.admin().await;
    let mut bot = server.tickets("support-bot", Role::Service).await;
    let mut request = new_ticket("cust-2");
    request.bot_id = "support-bot".into();
    let ticket = bot.create(request).await.expect("create");
    assert_eq!(ticket.bot_id, "support-bot");
    // Not routable while the bot has it.
    assert_code(
        admin.assign(&ticket.id, AGENT).await,
        Code::FailedPrecondition,
    );
    let handed = bot
        .client
        .handoff_ticket(bot.req(pb::HandoffTicketRequest {
            ticket_id: ticket.id.clone(),
            agent_id: AGENT.into(),
            reason: "customer asked for a human".into(),
            ..Default::default()
        }))
        .await
        .expect("handoff")
        .into_inner()
        .ticket
        .expect("ticket");
    assert_eq!(handed.bot_id, "");
    assert_eq!(handed.assignee, AGENT);
    assert_eq!(handed.status, S::Assigned as i32);
    // A second handoff is illegal.
    let twice = bot
        .client
        .handoff_ticket(bot.req(pb::HandoffTicketRequest {
            ticket_id: ticket.id.clone(),
            ..Default::default()
        }))
        .await;
    assert_code(twice, Code::FailedPrecondition);

    let mut raise = new_ticket("cust-2");
    raise.close_immediately = true;
    raise.resolution_status = pb::ResolutionStatus::NoAction as i32;
    raise.initial_message = "just letting you know".into();
    let closed = admin.create(raise).await.expect("raise and close");
    assert_eq!(closed.status, S::Closed as i32);
    assert_eq!(closed.version, 2);
    let events = admin.events(&closed.id).await.expect("events");
    // The initial message lands in the room after the ticket was raised and closed; a
    // message does not change the ticket, so its event carries the current version.
    assert_eq!(
        event_types(&events),
        vec![E::Created, E::Closed, E::MessageAdded]
    );
    assert_eq!(
        events.iter().map(|e| e.version).collect::<Vec<_>>(),
        vec![1, 2, 2]
    );

    // Customer history: newest first, paged.
    let history = admin
        .client
        .get_customer_history(admin.req(pb::GetCustomerHistoryRequest {
            ticket_id: ticket.id.clone(),
            page: 1,
            page_size: 1,
            ..Default::default()
        }))
        .await
        .expect("history")
        .into_inner();
    assert_eq!(history.total_size, 2);
    assert_eq!(history.tickets.len(), 1);
    assert_eq!(history.tickets[0].id, closed.id);
    // The deepest page allowed (skipping 10,000 tickets) answers, empty here; one page
    // deeper is refused (tests/bad_input.rs).
    let deepest = admin
        .client
        .get_customer_history(admin.req(pb::GetCustomerHistoryRequest {
            ticket_id: ticket.id.clone(),
            page: 21,
            page_size: 500,
            ..Default::default()
        }))
        .await
        .expect("the deepest page")
        .into_inner();
    assert!(deepest.tickets.is_empty());
    server.stop().await;
}
}

both_backends! {
#[tokio::test]
async fn create_is_idempotent_and_external_ids_are_unique(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let mut admin = server.admin().await;
    let mut request = new_ticket("cust-3");
    request.request_id = "req-1".into();
    let first = admin.create(request.clone()).await.expect("first");
    let retry = admin.create(request.clone()).await.expect("retry");
    assert_eq!(first.id, retry.id);
    let mut different = request.clone();
    different.subject = "something else".into();
    assert_code(admin.create(different).await, Code::AlreadyExists);

    let mut external = new_ticket("cust-3");
    external.external_id = "legacy-1".into();
    admin.create(external.clone()).await.expect("external");
    assert_code(admin.create(external).await, Code::AlreadyExists);
    server.stop().await;
}
}

both_backends! {
#[tokio::test]
async fn queue_stats_report_depth_and_position(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let mut admin = server.admin().await;
    let low = admin.create(new_ticket("c1")).await.expect("low");
    server.clock.advance(chrono::Duration::seconds(10));
    let mut urgent = new_ticket("c2");
    urgent.priority = 4;
    let urgent = admin.create(urgent).await.expect("urgent");
    let stats = admin
        .client
        .get_queue_stats(admin.req(pb::GetQueueStatsRequest {
            queue_id: QUEUE.into(),
            ticket_id: low.id.clone(),
        }))
        .await
        .expect("stats")
        .into_inner();
    assert_eq!(stats.waiting_count, 2);
    assert_eq!(stats.position, 2, "the urgent ticket is routed first");
    assert_eq!(stats.oldest_waiting_since, low.created_at);
    admin.assign(&urgent.id, AGENT).await.expect("assign");
    let stats = admin
        .client
        .get_queue_stats(admin.req(pb::GetQueueStatsRequest {
            queue_id: QUEUE.into(),
            ticket_id: low.id.clone(),
        }))
        .await
        .expect("stats")
        .into_inner();
    assert_eq!((stats.waiting_count, stats.position), (1, 1));
    server.stop().await;
}
}

/// Drives a fresh ticket into `status` and returns its id.
async fn ticket_in(admin: &mut Tickets, status: S) -> String {
    let id = admin.create(new_ticket("cust-x")).await.expect("create").id;
    if status == S::Created {
        return id;
    }
    admin.assign(&id, AGENT).await.expect("assign");
    match status {
        S::OnHold => {
            admin
                .client
                .hold_ticket(admin.req(pb::HoldTicketRequest {
                    ticket_id: id.clone(),
                    ..Default::default()
                }))
                .await
                .expect("hold");
        }
        S::Escalated => {
            admin
                .client
                .escalate_ticket(admin.req(pb::EscalateTicketRequest {
                    ticket_id: id.clone(),
                    department: DEPARTMENT.into(),
                    ..Default::default()
                }))
                .await
                .expect("escalate");
        }
        S::Closed => {
            admin.close(&id).await.expect("close");
        }
        _ => {}
    }
    id
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Rpc {
    Assign,
    Reassign,
    Escalate,
    Hold,
    Resume,
    Handoff,
    Transfer,
    Close,
    Reopen,
    Rate,
    Update,
}

async fn call(admin: &mut Tickets, rpc: Rpc, id: &str) -> Result<pb::Ticket, tonic::Status> {
    let id = id.to_string();
    let c = &mut admin.client;
    let r = |t: Option<pb::Ticket>| t.expect("ticket");
    Ok(match rpc {
        Rpc::Assign => r(c
            .assign_ticket(admin_req(
                &admin.headers,
                pb::AssignTicketRequest {
                    ticket_id: id,
                    agent_id: OTHER_AGENT.into(),
                    expected_version: 0,
                },
            ))
            .await?
            .into_inner()
            .ticket),
        Rpc::Reassign => r(c
            .reassign_ticket(admin_req(
                &admin.headers,
                pb::ReassignTicketRequest {
                    ticket_id: id,
                    agent_id: OTHER_AGENT.into(),
                    ..Default::default()
                },
            ))
            .await?
            .into_inner()
            .ticket),
        Rpc::Escalate => r(c
            .escalate_ticket(admin_req(
                &admin.headers,
                pb::EscalateTicketRequest {
                    ticket_id: id,
                    department: DEPARTMENT.into(),
                    ..Default::default()
                },
            ))
            .await?
            .into_inner()
            .ticket),
        Rpc::Hold => r(c
            .hold_ticket(admin_req(
                &admin.headers,
                pb::HoldTicketRequest {
                    ticket_id: id,
                    ..Default::default()
                },
            ))
            .await?
            .into_inner()
            .ticket),
        Rpc::Resume => r(c
            .resume_ticket(admin_req(
                &admin.headers,
                pb::ResumeTicketRequest {
                    ticket_id: id,
                    expected_version: 0,
                },
            ))
            .await?
            .into_inner()
            .ticket),
        Rpc::Handoff => r(c
            .handoff_ticket(admin_req(
                &admin.headers,
                pb::HandoffTicketRequest {
                    ticket_id: id,
                    ..Default::default()
                },
            ))
            .await?
            .into_inner()
            .ticket),
        Rpc::Transfer => r(c
            .transfer_ticket(admin_req(
                &admin.headers,
                pb::TransferTicketRequest {
                    ticket_id: id,
                    queue_id: OTHER_QUEUE.into(),
                    ..Default::default()
                },
            ))
            .await?
            .into_inner()
            .ticket),
        Rpc::Close => r(c
            .close_ticket(admin_req(
                &admin.headers,
                pb::CloseTicketRequest {
                    ticket_id: id,
                    ..Default::default()
                },
            ))
            .await?
            .into_inner()
            .ticket),
        Rpc::Reopen => r(c
            .reopen_ticket(admin_req(
                &admin.headers,
                pb::ReopenTicketRequest {
                    ticket_id: id,
                    ..Default::default()
                },
            ))
            .await?
            .into_inner()
            .ticket),
        Rpc::Rate => {
            // Rating is the customer's: act for the ticket's customer through a service.
            r(c.rate_ticket(admin_req(
                &admin.headers,
                pb::RateTicketRequest {
                    ticket_id: id,
                    score: 4,
                    ..Default::default()
                },
            ))
            .await?
            .into_inner()
            .ticket)
        }
        Rpc::Update => r(c
            .update_ticket(admin_req(
                &admin.headers,
                pb::UpdateTicketRequest {
                    ticket_id: id,
                    ticket: Some(pb::Ticket {
                        subject: "new subject".into(),
                        ..Default::default()
                    }),
                    update_mask: Some(prost_types::FieldMask {
                        paths: vec!["subject".into()],
                    }),
                    expected_version: 0,
                },
            ))
            .await?
            .into_inner()
            .ticket),
    })
}

fn admin_req<T>(headers: &[(&'static str, String)], body: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(body);
    for (name, value) in headers {
        request
            .metadata_mut()
            .insert(*name, value.parse().expect("header"));
    }
    request
}

both_backends! {
#[tokio::test]
/// Every transition outside the table is FAILED_PRECONDITION and changes nothing.
async fn illegal_transitions_are_refused(backend: Backend) {
    use Rpc::*;
    let server = TestServer::start_on(backend).await;
    let mut admin = server.admin().await;
    // The service principal may rate on the customer's behalf; everything else is admin's.
    let mut service = server.tickets("svc", Role::Service).await;
    let legal: &[(S, &[Rpc])] = &[
        (S::Created, &[Assign, Transfer, Close, Update]),
        (
            S::Assigned,
            &[Reassign, Transfer, Escalate, Hold, Close, Update],
        ),
        (
            S::OnHold,
            &[Reassign, Transfer, Escalate, Resume, Close, Update],
        ),
        (S::Escalated, &[Reassign, Transfer, Close, Update]),
        (S::Closed, &[Reopen, Rate]),
    ];
    let all = [
        Assign, Reassign, Escalate, Hold, Resume, Handoff, Transfer, Close, Reopen, Rate, Update,
    ];
    let mut refused = 0;
    for (status, allowed) in legal {
        for rpc in all {
            let id = ticket_in(&mut admin, *status).await;
            let before = admin.get(&id).await.expect("before");
            let caller = if rpc == Rate {
                &mut service
            } else {
                &mut admin
            };
            let result = call(caller, rpc, &id).await;
            if allowed.contains(&rpc) {
                let after =
                    result.unwrap_or_else(|e| panic!("{rpc:?} from {status:?} should work: {e:?}"));
                assert_eq!(after.version, before.version + 1, "{rpc:?} from {status:?}");
            } else {
                let status_err =
                    result.expect_err(&format!("{rpc:?} from {status:?} must be refused"));
                assert_eq!(
                    status_err.code(),
                    Code::FailedPrecondition,
                    "{rpc:?} from {status:?}: {status_err:?}"
                );
                let after = admin.get(&id).await.expect("after");
                assert_eq!(after, before, "{rpc:?} from {status:?} changed the ticket");
                refused += 1;
            }
        }
    }
    let legal_count: usize = legal.iter().map(|(_, allowed)| allowed.len()).sum();
    assert_eq!(refused, all.len() * legal.len() - legal_count);
    assert!(refused >= 30, "the table refuses most moves");
    server.stop().await;
}
}

both_backends! {
#[tokio::test]
async fn setting_the_picked_time_is_a_picked_event(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let mut admin = server.admin().await;
    let ticket = admin.create(new_ticket("cust-p")).await.expect("create");
    admin.assign(&ticket.id, AGENT).await.expect("assign");
    let mut agent = server.tickets(AGENT, Role::Agent).await;
    let picked_at = prost_types::Timestamp {
        seconds: 1_772_442_000,
        nanos: 0,
    };
    let request = agent.req(pb::UpdateTicketRequest {
        ticket_id: ticket.id.clone(),
        ticket: Some(pb::Ticket {
            metadata: Some(pb::TicketMetadata {
                picked_at: Some(picked_at),
                ..Default::default()
            }),
            ..Default::default()
        }),
        update_mask: Some(prost_types::FieldMask {
            paths: vec!["metadata.picked_at".into()],
        }),
        expected_version: 0,
    });
    let updated = agent
        .client
        .update_ticket(request)
        .await
        .expect("pick")
        .into_inner();
    assert_eq!(
        updated.ticket.expect("t").metadata.expect("m").picked_at,
        Some(picked_at)
    );
    let events = admin.events(&ticket.id).await.expect("events");
    assert_eq!(events.last().expect("event").r#type, E::Picked as i32);
    server.stop().await;
}
}

both_backends! {
#[tokio::test]
/// A ticket carries at most `MAX_LINKS` links: the last one fits, one more is refused with
/// RESOURCE_EXHAUSTED and changes nothing.
async fn links_per_ticket_are_bounded(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let mut admin = server.admin().await;
    let id = admin.create(new_ticket("cust-l")).await.expect("create").id;
    let link = |n: usize| pb::LinkTicketRequest {
        ticket_id: id.clone(),
        link: Some(pb::TicketLink {
            ticket_id: format!("case-{n}"),
            id_type: pb::TicketLinkIdType::Salesforce as i32,
            category: pb::TicketLinkCategory::Escalated as i32,
            ..Default::default()
        }),
        expected_version: 0,
    };
    let max = casework::domain::lifecycle::MAX_LINKS;
    let mut last = None;
    for n in 0..max {
        let request = admin.req(link(n));
        last = admin.client.link_ticket(request).await.expect("link").into_inner().ticket;
    }
    let full = last.expect("ticket");
    assert_eq!(full.metadata.as_ref().expect("metadata").children_links.len(), max);
    let request = admin.req(link(max));
    assert_code(admin.client.link_ticket(request).await, Code::ResourceExhausted);
    assert_eq!(admin.get(&id).await.expect("get"), full, "nothing changed");
    server.stop().await;
}
}
