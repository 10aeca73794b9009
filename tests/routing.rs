//! Routing and AgentService: a day on the floor under seeded randomness with the invariants
//! checked after every step, concurrent status changes and closes, and the routing order.
#[macro_use]
mod common;

use casework::domain::Role;
use casework::pb;
use casework::pb::agent_service_client::AgentServiceClient;
use common::*;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::collections::HashMap;
use tokio_stream::StreamExt;
use tonic::Code;
use tonic::transport::Channel;

/// An AgentService client with a principal's headers.
#[derive(Clone)]
struct Agents {
    client: AgentServiceClient<Channel>,
    auth: Tickets,
}

impl Agents {
    async fn new(server: &TestServer, sub: &str, role: Role) -> Agents {
        Agents {
            client: AgentServiceClient::new(server.channel().await),
            auth: server.tickets(sub, role).await,
        }
    }

    async fn upsert(
        &mut self,
        id: &str,
        queues: &[&str],
        languages: &[&str],
        capacity: i32,
    ) -> pb::Agent {
        let request = self.auth.req(pb::UpsertAgentRequest {
            agent: Some(pb::Agent {
                id: id.into(),
                name: id.into(),
                role: pb::AgentRole::Agent as i32,
                queues: queues.iter().map(|q| q.to_string()).collect(),
                languages: languages.iter().map(|l| l.to_string()).collect(),
                max_concurrent: capacity,
                ..Default::default()
            }),
        });
        self.client
            .upsert_agent(request)
            .await
            .expect("upsert agent")
            .into_inner()
            .agent
            .expect("agent")
    }

    async fn set_status(
        &mut self,
        agent_id: &str,
        status: &str,
    ) -> Result<pb::Agent, tonic::Status> {
        let request = self.auth.req(pb::SetStatusRequest {
            agent_id: agent_id.into(),
            status: status.into(),
        });
        Ok(self
            .client
            .set_status(request)
            .await?
            .into_inner()
            .agent
            .expect("agent"))
    }

    async fn list(&mut self) -> Vec<pb::Agent> {
        let request = self.auth.req(pb::ListAgentsRequest {
            page_size: 500,
            ..Default::default()
        });
        self.client
            .list_agents(request)
            .await
            .expect("list agents")
            .into_inner()
            .agents
    }
}

async fn all_tickets(admin: &mut Tickets) -> Vec<pb::Ticket> {
    list_tickets(admin, vec![]).await
}

/// Open tickets only: the ones the invariants are about.
async fn open_tickets(admin: &mut Tickets) -> Vec<pb::Ticket> {
    use pb::TicketStatus as S;
    let open = [S::Created, S::Assigned, S::OnHold, S::Escalated];
    list_tickets(admin, open.iter().map(|s| *s as i32).collect()).await
}

async fn list_tickets(admin: &mut Tickets, statuses: Vec<i32>) -> Vec<pb::Ticket> {
    let mut tickets = Vec::new();
    let mut token = String::new();
    loop {
        let request = admin.req(pb::ListTicketsRequest {
            filter: Some(pb::TicketFilter {
                statuses: statuses.clone(),
                ..Default::default()
            }),
            order_by: pb::TicketOrder::CreatedAsc as i32,
            page_size: 500,
            page_token: token,
            ..Default::default()
        });
        let page = admin
            .client
            .list_tickets(request)
            .await
            .expect("list")
            .into_inner();
        tickets.extend(page.tickets);
        if page.next_page_token.is_empty() {
            return tickets;
        }
        token = page.next_page_token;
    }
}

fn fits(agent: &pb::Agent, ticket: &pb::Ticket) -> bool {
    let language = ticket
        .metadata
        .as_ref()
        .map(|m| m.language.clone())
        .unwrap_or_default();
    agent.queues.contains(&ticket.queue)
        && (agent.languages.is_empty()
            || language.is_empty()
            || agent.languages.contains(&language))
}

fn is_active(ticket: &pb::Ticket) -> bool {
    [
        pb::TicketStatus::Assigned,
        pb::TicketStatus::OnHold,
        pb::TicketStatus::Escalated,
    ]
    .iter()
    .any(|s| *s as i32 == ticket.status)
}

/// The invariants of DESIGN.md §3, from the outside.
async fn check_invariants(admin: &mut Tickets, agents: &mut Agents, step: &str) {
    let tickets = open_tickets(admin).await;
    let roster = agents.list().await;
    let mut load: HashMap<&str, i32> = HashMap::new();
    for ticket in tickets.iter().filter(|t| is_active(t)) {
        *load.entry(ticket.assignee.as_str()).or_default() += 1;
    }
    for agent in &roster {
        let held = load.get(agent.id.as_str()).copied().unwrap_or(0);
        assert!(
            held <= agent.max_concurrent,
            "{step}: {} holds {held} > {}",
            agent.id,
            agent.max_concurrent
        );
        assert_eq!(
            held, agent.active_ticket_count,
            "{step}: {} count",
            agent.id
        );
    }
    for ticket in tickets
        .iter()
        .filter(|t| t.status == pb::TicketStatus::Created as i32)
    {
        assert_eq!(
            ticket.assignee, "",
            "{step}: a waiting ticket has an assignee"
        );
        for agent in &roster {
            let has_room = agent.status == "online"
                && load.get(agent.id.as_str()).copied().unwrap_or(0) < agent.max_concurrent;
            assert!(
                !(has_room && fits(agent, ticket)),
                "{step}: ticket {} waits while {} has room",
                ticket.number,
                agent.id
            );
        }
    }
}

/// No ticket ever had two agents: ASSIGNED only when nobody held it.
async fn check_trails(admin: &mut Tickets) {
    use pb::TicketEventType as E;
    for ticket in all_tickets(admin).await {
        let mut holder: Option<String> = None;
        for event in admin.events(&ticket.id).await.expect("events") {
            let payload = event.payload.unwrap_or_default();
            let field = |name: &str| match payload.fields.get(name).and_then(|v| v.kind.clone()) {
                Some(prost_types::value::Kind::StringValue(s)) => s,
                _ => String::new(),
            };
            match E::try_from(event.r#type).expect("type") {
                E::Assigned => {
                    assert!(
                        holder.is_none(),
                        "ticket {} assigned while {holder:?} held it",
                        ticket.number
                    );
                    holder = Some(field("assignee"));
                }
                E::Reassigned => holder = Some(field("assignee")),
                E::Escalated => holder = Some(field("to_agent")).filter(|a| !a.is_empty()),
                E::HandedOff if !field("assignee").is_empty() => {
                    assert!(
                        holder.is_none(),
                        "ticket {} handed off while {holder:?} held it",
                        ticket.number
                    );
                    holder = Some(field("assignee"));
                }
                E::Requeued | E::Closed | E::AutoClosed | E::Transferred | E::Reopened => {
                    holder = None
                }
                _ => {}
            }
        }
    }
}

const FLOOR: [(&str, &[&str], &[&str], i32); 5] = [
    ("ana@example.com", &[QUEUE], &["en"], 3),
    ("ben@example.com", &[QUEUE, OTHER_QUEUE], &["en", "de"], 2),
    ("chi@example.com", &[OTHER_QUEUE], &[], 4),
    ("dev@example.com", &[QUEUE], &["de"], 1),
    ("eva@example.com", &[QUEUE, OTHER_QUEUE], &["en"], 5),
];

async fn run_floor(backend: Backend, seed: u64) {
    let server = TestServer::start_on(backend).await;
    let mut admin = server.admin().await;
    let mut agents = Agents::new(&server, ADMIN, Role::Admin).await;
    for (id, queues, languages, capacity) in FLOOR {
        agents.upsert(id, queues, languages, capacity).await;
    }
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut created = 0;
    let mut step = 0;
    while created < 200 || step < 400 {
        step += 1;
        let roll = rng.random_range(0..10);
        let label;
        if roll < 5 && created < 200 {
            let mut request = new_ticket(&format!("cust-{created}"));
            request.queue = if rng.random_bool(0.6) {
                QUEUE
            } else {
                OTHER_QUEUE
            }
            .into();
            request.channel = if rng.random_bool(0.7) {
                "chat"
            } else {
                "email"
            }
            .into();
            request.priority = rng.random_range(0..5);
            request.metadata = Some(pb::TicketMetadata {
                language: ["en", "de", ""][rng.random_range(0..3)].into(),
                ..Default::default()
            });
            let ticket = admin.create(request).await.expect("create");
            created += 1;
            label = format!("seed {seed} step {step}: create #{}", ticket.number);
        } else if roll < 8 {
            let (id, ..) = FLOOR[rng.random_range(0..FLOOR.len())];
            let status = ["online", "online", "offline", "break"][rng.random_range(0..4)];
            agents.set_status(id, status).await.expect("status");
            label = format!("seed {seed} step {step}: {id} {status}");
        } else {
            let active: Vec<pb::Ticket> = all_tickets(&mut admin)
                .await
                .into_iter()
                .filter(is_active)
                .collect();
            if active.is_empty() {
                continue;
            }
            let ticket = &active[rng.random_range(0..active.len())];
            let mut holder = server.tickets(&ticket.assignee, Role::Agent).await;
            holder.close(&ticket.id).await.expect("the holder closes");
            label = format!("seed {seed} step {step}: close #{}", ticket.number);
        }
        check_invariants(&mut admin, &mut agents, &label).await;
    }
    check_trails(&mut admin).await;
    let closed = all_tickets(&mut admin)
        .await
        .iter()
        .filter(|t| t.status == pb::TicketStatus::Closed as i32)
        .count();
    assert!(
        closed > 20,
        "seed {seed}: the floor did work ({closed} closed)"
    );
    server.stop().await;
}

both_backends! {
async fn a_day_on_the_floor_keeps_the_invariants(backend: Backend) {
    for seed in [1, 7, 42] {
        run_floor(backend, seed).await;
    }
}
}

both_backends! {
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_status_changes_and_closes_keep_the_invariants(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let mut admin = server.admin().await;
    let mut agents = Agents::new(&server, ADMIN, Role::Admin).await;
    for (id, queues, languages, capacity) in FLOOR {
        agents.upsert(id, queues, languages, capacity).await;
        agents.set_status(id, "online").await.expect("online");
    }
    for i in 0..60 {
        let mut request = new_ticket(&format!("c{i}"));
        request.queue = if i % 3 == 0 { OTHER_QUEUE } else { QUEUE }.into();
        admin.create(request).await.expect("create");
    }
    check_invariants(&mut admin, &mut agents, "before the storm").await;
    let active: Vec<pb::Ticket> = all_tickets(&mut admin)
        .await
        .into_iter()
        .filter(is_active)
        .collect();
    let mut calls = Vec::new();
    for i in 0..100 {
        let (id, ..) = FLOOR[i % FLOOR.len()];
        if i % 2 == 0 {
            let mut client = Agents::new(&server, id, Role::Agent).await;
            let status = ["online", "break", "offline", "online"][i % 4];
            calls.push(tokio::spawn(async move {
                client.set_status("", status).await.map(drop)
            }));
        } else if let Some(ticket) = active.get(i / 2) {
            let mut holder = server.tickets(&ticket.assignee, Role::Agent).await;
            let id = ticket.id.clone();
            calls.push(tokio::spawn(
                async move { holder.close(&id).await.map(drop) },
            ));
        }
    }
    for call in calls {
        match call.await.expect("task") {
            Ok(()) => {}
            // A close can lose to a requeue of the same ticket (its holder went offline): the
            // ticket is then out of its sight (NOT_FOUND) or no longer closable by it.
            Err(status) => assert!(
                matches!(status.code(), Code::FailedPrecondition | Code::NotFound),
                "{status:?}"
            ),
        }
    }
    check_invariants(&mut admin, &mut agents, "after the storm").await;
    check_trails(&mut admin).await;
    server.stop().await;
}
}

both_backends! {
#[tokio::test]
async fn routing_order_and_triggers(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let mut admin = server.admin().await;
    let mut agents = Agents::new(&server, ADMIN, Role::Admin).await;
    agents.upsert("ana@example.com", &[QUEUE], &["en"], 2).await;
    agents.upsert("ben@example.com", &[QUEUE], &["en"], 2).await;

    // Nobody online: tickets wait. Then the urgent one goes first when Ana comes online.
    let low = admin.create(new_ticket("c1")).await.expect("low");
    let mut urgent = new_ticket("c2");
    urgent.priority = 4;
    let urgent = admin.create(urgent).await.expect("urgent");
    let mut german = new_ticket("c3");
    german.metadata = Some(pb::TicketMetadata {
        language: "de".into(),
        ..Default::default()
    });
    let german = admin.create(german).await.expect("german");
    assert_eq!(low.status, pb::TicketStatus::Created as i32);
    let ana = agents
        .set_status("ana@example.com", "online")
        .await
        .expect("online");
    assert_eq!(ana.active_ticket_count, 2);
    assert!(ana.last_login_at.is_some());
    assert_eq!(
        admin.get(&urgent.id).await.expect("urgent").assignee,
        "ana@example.com"
    );
    assert_eq!(
        admin.get(&low.id).await.expect("low").assignee,
        "ana@example.com"
    );
    assert_eq!(
        admin.get(&german.id).await.expect("de").assignee,
        "",
        "nobody speaks German"
    );

    // Ben comes online with nothing; the next ticket goes to him (least loaded).
    agents
        .set_status("ben@example.com", "online")
        .await
        .expect("online");
    let next = admin.create(new_ticket("c4")).await.expect("next");
    assert_eq!(next.assignee, "ben@example.com");
    assert_eq!(next.status, pb::TicketStatus::Assigned as i32);

    // Ana closes one: capacity frees and the oldest waiting ticket she fits comes to her.
    let waiting = admin.create(new_ticket("c5")).await.expect("c5");
    assert_eq!(waiting.assignee, "ben@example.com", "Ben had room");
    let waiting2 = admin.create(new_ticket("c6")).await.expect("c6");
    assert_eq!(waiting2.assignee, "", "both full");
    let mut ana_tickets = server.tickets("ana@example.com", Role::Agent).await;
    ana_tickets.close(&low.id).await.expect("close");
    assert_eq!(
        admin.get(&waiting2.id).await.expect("c6").assignee,
        "ana@example.com"
    );

    // Reopen with keep_assignee asks for the last agent when it has room.
    ana_tickets.close(&waiting2.id).await.expect("close c6");
    let request = admin.req(pb::ReopenTicketRequest {
        ticket_id: low.id.clone(),
        keep_assignee: true,
        ..Default::default()
    });
    let reopened = admin
        .client
        .reopen_ticket(request)
        .await
        .expect("reopen")
        .into_inner()
        .ticket
        .expect("t");
    assert_eq!(reopened.assignee, "ana@example.com");

    // Going offline puts chats back in the queue; Ben is full, so they wait.
    let mut email = new_ticket("c7");
    email.channel = "email".into();
    email.queue = QUEUE.into();
    let ana_view = agents
        .set_status("ana@example.com", "offline")
        .await
        .expect("offline");
    assert_eq!(ana_view.active_ticket_count, 0, "her chats were requeued");
    let requeued = admin.get(&urgent.id).await.expect("urgent");
    assert_eq!(requeued.status, pb::TicketStatus::Created as i32);
    let events = admin.events(&urgent.id).await.expect("events");
    assert_eq!(
        events.last().expect("event").r#type,
        pb::TicketEventType::Requeued as i32
    );
    server.stop().await;
}
}

both_backends! {
#[tokio::test]
async fn watch_my_tickets_resumes_and_tells_about_lost_tickets(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let mut agents = Agents::new(&server, ADMIN, Role::Admin).await;
    agents.upsert("ana@example.com", &[QUEUE], &[], 5).await;
    let mut ana = Agents::new(&server, "ana@example.com", Role::Agent).await;
    let request = ana
        .auth
        .req(pb::WatchMyTicketsRequest { after_event_id: 0 });
    let mut stream = ana
        .client
        .watch_my_tickets(request)
        .await
        .expect("watch")
        .into_inner();
    ana.set_status("", "online").await.expect("online");
    let mut admin = server.admin().await;
    let ticket = admin.create(new_ticket("c1")).await.expect("create");
    let first = stream
        .next()
        .await
        .expect("event")
        .expect("ok")
        .event
        .expect("event");
    assert_eq!(first.r#type, pb::TicketEventType::Assigned as i32);
    assert_eq!(first.ticket_id, ticket.id);
    drop(stream);

    // Meanwhile the ticket is reassigned away and another one arrives.
    let request = admin.req(pb::ReassignTicketRequest {
        ticket_id: ticket.id.clone(),
        agent_id: AGENT.into(),
        reason: "shift change".into(),
        expected_version: 0,
    });
    admin
        .client
        .reassign_ticket(request)
        .await
        .expect("reassign");
    let second = admin.create(new_ticket("c2")).await.expect("second");
    admin.create(new_ticket("c3")).await.expect("third");

    let request = ana.auth.req(pb::WatchMyTicketsRequest {
        after_event_id: first.id,
    });
    let mut resumed = ana
        .client
        .watch_my_tickets(request)
        .await
        .expect("resume")
        .into_inner();
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(
            resumed
                .next()
                .await
                .expect("event")
                .expect("ok")
                .event
                .expect("event"),
        );
    }
    let summary: Vec<(i32, String)> = got
        .iter()
        .map(|e| (e.r#type, e.ticket_id.clone()))
        .collect();
    assert_eq!(
        summary[0],
        (pb::TicketEventType::Reassigned as i32, ticket.id.clone())
    );
    assert_eq!(
        summary[1],
        (pb::TicketEventType::Assigned as i32, second.id.clone())
    );
    assert_eq!(summary[2].0, pb::TicketEventType::Assigned as i32);
    assert!(got.windows(2).all(|w| w[0].id < w[1].id));
    server.stop().await;
}
}

both_backends! {
#[tokio::test]
async fn agent_service_rules_and_bad_input(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let mut admin = Agents::new(&server, ADMIN, Role::Admin).await;
    let mut agent = Agents::new(&server, AGENT, Role::Agent).await;
    let me = {
        let request = agent.auth.req(pb::GetMeRequest {});
        agent
            .client
            .get_me(request)
            .await
            .expect("me")
            .into_inner()
            .agent
            .expect("agent")
    };
    assert_eq!(me.id, AGENT);
    assert_eq!(me.status, "offline");

    // Agents change their own status only; unknown statuses are refused by name.
    assert_code(
        agent.set_status(OTHER_AGENT, "online").await,
        Code::PermissionDenied,
    );
    let status = assert_code(agent.set_status("", "dancing").await, Code::InvalidArgument);
    assert_eq!(violated_fields(&status), vec!["status".to_string()]);
    let online = agent.set_status("", "online").await.expect("own status");
    assert_eq!(online.status, "online");
    assert_eq!(online.status_alias, "Online");

    // Configurable statuses: a new receiving status routes to agents in it.
    let request = agent.auth.req(pb::UpsertStatusRequest {
        status: Some(pb::AgentStatus {
            name: "training".into(),
            alias: "In training".into(),
            receives_tickets: false,
        }),
    });
    assert_code(
        agent.client.upsert_status(request).await,
        Code::PermissionDenied,
    );
    let request = admin.auth.req(pb::UpsertStatusRequest {
        status: Some(pb::AgentStatus {
            name: "training".into(),
            alias: "In training".into(),
            receives_tickets: false,
        }),
    });
    admin
        .client
        .upsert_status(request)
        .await
        .expect("upsert status");
    let request = admin.auth.req(pb::ListStatusesRequest {});
    let statuses = admin
        .client
        .list_statuses(request)
        .await
        .expect("statuses")
        .into_inner()
        .statuses;
    let names: Vec<&str> = statuses.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        vec!["break", "busy", "offline", "online", "training"]
    );

    // Bad input names the field and writes nothing.
    let cases: Vec<(pb::Agent, &str)> = vec![
        (
            pb::Agent {
                id: String::new(),
                ..valid_agent()
            },
            "agent.id",
        ),
        (
            pb::Agent {
                id: "x".repeat(129),
                ..valid_agent()
            },
            "agent.id",
        ),
        (
            pb::Agent {
                name: String::new(),
                ..valid_agent()
            },
            "agent.name",
        ),
        (
            pb::Agent {
                role: 9,
                ..valid_agent()
            },
            "agent.role",
        ),
        (
            pb::Agent {
                role: 0,
                ..valid_agent()
            },
            "agent.role",
        ),
        (
            pb::Agent {
                max_concurrent: -1,
                ..valid_agent()
            },
            "agent.max_concurrent",
        ),
        (
            pb::Agent {
                max_concurrent: 101,
                ..valid_agent()
            },
            "agent.max_concurrent",
        ),
        (
            pb::Agent {
                queues: vec!["nope".into()],
                ..valid_agent()
            },
            "agent.queues[0]",
        ),
        (
            pb::Agent {
                queues: vec![String::new()],
                ..valid_agent()
            },
            "agent.queues[0]",
        ),
        (
            pb::Agent {
                languages: vec!["x".repeat(17)],
                ..valid_agent()
            },
            "agent.languages[0]",
        ),
    ];
    for (bad, field) in cases {
        let request = admin.auth.req(pb::UpsertAgentRequest { agent: Some(bad) });
        let status = assert_code(
            admin.client.upsert_agent(request).await,
            Code::InvalidArgument,
        );
        assert_eq!(violated_fields(&status), vec![field.to_string()]);
    }
    let request = admin.auth.req(pb::ListAgentsRequest {
        page_size: 501,
        ..Default::default()
    });
    let status = assert_code(
        admin.client.list_agents(request).await,
        Code::InvalidArgument,
    );
    assert_eq!(violated_fields(&status), vec!["page_size".to_string()]);
    let request = admin.auth.req(pb::GetAgentRequest {
        agent_id: String::new(),
    });
    let status = assert_code(admin.client.get_agent(request).await, Code::InvalidArgument);
    assert_eq!(violated_fields(&status), vec!["agent_id".to_string()]);
    let request = admin.auth.req(pb::UpsertStatusRequest {
        status: Some(pb::AgentStatus {
            name: "a b".into(),
            alias: "x".into(),
            receives_tickets: true,
        }),
    });
    let status = assert_code(
        admin.client.upsert_status(request).await,
        Code::InvalidArgument,
    );
    assert_eq!(violated_fields(&status), vec!["status.name".to_string()]);
    assert_eq!(admin.list().await.len(), 4, "no agent was written");

    // Paging through agents.
    let request = admin.auth.req(pb::ListAgentsRequest {
        page_size: 3,
        ..Default::default()
    });
    let page = admin
        .client
        .list_agents(request)
        .await
        .expect("page")
        .into_inner();
    assert_eq!(page.agents.len(), 3);
    let request = admin.auth.req(pb::ListAgentsRequest {
        page_size: 3,
        page_token: page.next_page_token,
        ..Default::default()
    });
    let rest = admin
        .client
        .list_agents(request)
        .await
        .expect("rest")
        .into_inner();
    assert_eq!(rest.agents.len(), 1);
    assert!(rest.next_page_token.is_empty());

    // Supervisors manage the agents of their queues only.
    let mut tickets_admin = server.admin().await;
    let request = tickets_admin.req(pb::UpsertQueueRequest {
        queue: Some(pb::Queue {
            id: "vip".into(),
            name: "vip".into(),
            language: "en".into(),
            default_sla_seconds: 60,
        }),
    });
    tickets_admin
        .client
        .upsert_queue(request)
        .await
        .expect("queue");
    admin.upsert("vip@example.com", &["vip"], &[], 2).await;
    let mut supervisor = Agents::new(&server, SUPERVISOR, Role::Supervisor).await;
    assert_code(
        supervisor.set_status("vip@example.com", "online").await,
        Code::PermissionDenied,
    );
    let managed = supervisor
        .set_status(AGENT, "break")
        .await
        .expect("own queue's agent");
    assert_eq!(managed.status, "break");

    // Customers have no agent view.
    let mut customer = Agents::new(&server, "cust-1", Role::Customer).await;
    let request = customer.auth.req(pb::ListAgentsRequest::default());
    assert_code(
        customer.client.list_agents(request).await,
        Code::PermissionDenied,
    );
    server.stop().await;
}
}

fn valid_agent() -> pb::Agent {
    pb::Agent {
        id: "new@example.com".into(),
        name: "New Agent".into(),
        role: pb::AgentRole::Agent as i32,
        queues: vec![QUEUE.into()],
        languages: vec!["en".into()],
        max_concurrent: 3,
        ..Default::default()
    }
}

both_backends! {
#[tokio::test]
async fn every_other_agent_service_field_refuses_bad_input_by_name(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let mut admin = Agents::new(&server, ADMIN, Role::Admin).await;
    let mut agent = Agents::new(&server, AGENT, Role::Agent).await;
    let long = "x".repeat(129);

    let list = |f: &dyn Fn(&mut pb::ListAgentsRequest)| {
        let mut request = pb::ListAgentsRequest::default();
        f(&mut request);
        request
    };
    for (request, field) in [
        (list(&|r| r.queue = long.clone()), "queue"),
        (list(&|r| r.status = long.clone()), "status"),
        (list(&|r| r.page_size = -1), "page_size"),
        (list(&|r| r.page_token = "garbage".into()), "page_token"),
    ] {
        let request = admin.auth.req(request);
        let status = assert_code(
            admin.client.list_agents(request).await,
            Code::InvalidArgument,
        );
        assert_eq!(violated_fields(&status), vec![field.to_string()]);
    }
    let status = assert_code(
        agent.set_status(&long, "online").await,
        Code::InvalidArgument,
    );
    assert_eq!(violated_fields(&status), vec!["agent_id".to_string()]);
    let status = assert_code(agent.set_status("", "").await, Code::InvalidArgument);
    assert_eq!(violated_fields(&status), vec!["status".to_string()]);
    let request = admin.auth.req(pb::UpsertStatusRequest {
        status: Some(pb::AgentStatus {
            name: "lunch".into(),
            alias: String::new(),
            receives_tickets: false,
        }),
    });
    let status = assert_code(
        admin.client.upsert_status(request).await,
        Code::InvalidArgument,
    );
    assert_eq!(violated_fields(&status), vec!["status.alias".to_string()]);
    let request = admin.auth.req(pb::UpsertStatusRequest { status: None });
    let status = assert_code(
        admin.client.upsert_status(request).await,
        Code::InvalidArgument,
    );
    assert_eq!(violated_fields(&status), vec!["status".to_string()]);
    let request = admin.auth.req(pb::UpsertAgentRequest { agent: None });
    let status = assert_code(
        admin.client.upsert_agent(request).await,
        Code::InvalidArgument,
    );
    assert_eq!(violated_fields(&status), vec!["agent".to_string()]);

    let mine = |f: &dyn Fn(&mut pb::ListMyTicketsRequest)| {
        let mut request = pb::ListMyTicketsRequest::default();
        f(&mut request);
        request
    };
    for (request, field) in [
        (mine(&|r| r.page_size = 501), "page_size"),
        (mine(&|r| r.order_by = 77), "order_by"),
        (mine(&|r| r.page_token = "nope".into()), "page_token"),
        (
            mine(&|r| {
                r.filter = Some(pb::TicketFilter {
                    statuses: vec![99],
                    ..Default::default()
                })
            }),
            "filter.statuses[0]",
        ),
    ] {
        let request = agent.auth.req(request);
        let status = assert_code(
            agent.client.list_my_tickets(request).await,
            Code::InvalidArgument,
        );
        assert_eq!(violated_fields(&status), vec![field.to_string()]);
    }
    let request = agent
        .auth
        .req(pb::WatchMyTicketsRequest { after_event_id: -1 });
    let status = assert_code(
        agent.client.watch_my_tickets(request).await,
        Code::InvalidArgument,
    );
    assert_eq!(violated_fields(&status), vec!["after_event_id".to_string()]);
    let statuses = {
        let request = admin.auth.req(pb::ListStatusesRequest {});
        admin
            .client
            .list_statuses(request)
            .await
            .expect("statuses")
            .into_inner()
            .statuses
    };
    assert_eq!(statuses.len(), 4, "no status was written");
    server.stop().await;
}
}

/// Routing a ticket locks only the agents serving its queue: a transaction holding an agent
/// of another queue (another replica routing there, say) does not hold up a create.
#[tokio::test]
async fn routing_locks_only_the_agents_of_the_tickets_queue() {
    use sqlx::{Connection, Executor};
    if !postgres_ready().await {
        return;
    }
    let server = TestServer::start_on(Backend::Postgres).await;
    let mut admin = Agents::new(&server, ADMIN, Role::Admin).await;
    admin
        .upsert("email.only@example.com", &[OTHER_QUEUE], &[], 3)
        .await;

    let mut other_queue = sqlx::PgConnection::connect(&server.database_url)
        .await
        .expect("connect");
    other_queue.execute("BEGIN").await.expect("begin");
    sqlx::query("SELECT id FROM agents WHERE id = 'email.only@example.com' FOR UPDATE")
        .execute(&mut other_queue)
        .await
        .expect("lock");

    let mut tickets = server.admin().await;
    // Bounded so that a regression fails instead of hanging; it does not time anything.
    let created = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        tickets.create(new_ticket("cust-lock")),
    )
    .await
    .expect("the create waited on an agent of another queue")
    .expect("create");
    assert_eq!(created.queue, QUEUE);
    other_queue.execute("ROLLBACK").await.expect("rollback");
}

both_backends! {
#[tokio::test]
/// An agent of two queues takes the highest-priority waiting ticket of either, the oldest
/// first among equals, one queue's head against the other's.
async fn an_agent_of_two_queues_takes_the_first_ticket_of_both(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let mut admin = server.admin().await;
    let mut agents = Agents::new(&server, ADMIN, Role::Admin).await;
    agents.upsert("cara@example.com", &[QUEUE, OTHER_QUEUE], &["en"], 2).await;
    let waiting = |queue: &str, priority: i32, customer: &str| {
        let mut request = new_ticket(customer);
        request.queue = queue.into();
        request.priority = priority;
        request
    };
    let low = admin.create(waiting(QUEUE, 1, "q1")).await.expect("low");
    let first = admin.create(waiting(OTHER_QUEUE, 4, "q2")).await.expect("first");
    let second = admin.create(waiting(QUEUE, 4, "q3")).await.expect("second");
    agents.set_status("cara@example.com", "online").await.expect("online");
    let held = |t: pb::Ticket| t.assignee;
    assert_eq!(held(admin.get(&first.id).await.expect("first")), "cara@example.com");
    assert_eq!(held(admin.get(&second.id).await.expect("second")), "cara@example.com");
    assert_eq!(held(admin.get(&low.id).await.expect("low")), "", "no room left for it");
    server.stop().await;
}
}
