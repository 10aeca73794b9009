//! AgentService: decode → app → encode.
use super::{convert, principal};
use crate::app::App;
use crate::app::agents::AgentView;
use crate::domain::{Agent, AgentRole, AgentStatus};
use crate::error::{Error, Result};
use crate::pb::{self, agent_service_server::AgentService};
use std::pin::Pin;
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status};

#[derive(Clone)]
pub struct AgentApi {
    app: App,
}

impl AgentApi {
    pub fn new(app: App) -> Self {
        AgentApi { app }
    }
}

fn role(raw: i32) -> Result<AgentRole> {
    match pb::AgentRole::try_from(raw) {
        Ok(pb::AgentRole::Agent) => Ok(AgentRole::Agent),
        Ok(pb::AgentRole::Supervisor) => Ok(AgentRole::Supervisor),
        Ok(pb::AgentRole::Admin) => Ok(AgentRole::Admin),
        Ok(pb::AgentRole::Unspecified) => Err(Error::invalid("agent.role", "must be set")),
        Err(_) => Err(Error::invalid(
            "agent.role",
            format!("unknown enum value {raw}"),
        )),
    }
}

fn role_pb(role: AgentRole) -> pb::AgentRole {
    match role {
        AgentRole::Agent => pb::AgentRole::Agent,
        AgentRole::Supervisor => pb::AgentRole::Supervisor,
        AgentRole::Admin => pb::AgentRole::Admin,
    }
}

impl From<AgentView> for pb::Agent {
    fn from(view: AgentView) -> Self {
        let a = view.agent;
        pb::Agent {
            id: a.id,
            name: a.name,
            role: role_pb(a.role) as i32,
            status: a.status,
            status_alias: a.status_alias,
            last_login_at: convert::opt_timestamp(a.last_login_at),
            status_updated_at: convert::opt_timestamp(a.status_updated_at),
            time_in_status: view.time_in_status.map(|d| prost_types::Duration {
                seconds: d.num_seconds(),
                nanos: d.subsec_nanos(),
            }),
            queues: a.queues,
            languages: a.languages,
            max_concurrent: a.max_concurrent,
            active_ticket_count: i32::try_from(view.active_ticket_count).unwrap_or(i32::MAX),
        }
    }
}

fn status_pb(s: AgentStatus) -> pb::AgentStatus {
    pb::AgentStatus {
        name: s.name,
        alias: s.alias,
        receives_tickets: s.receives_tickets,
    }
}

fn agent(view: AgentView) -> Option<pb::Agent> {
    Some(view.into())
}

type MyTicketStream =
    Pin<Box<dyn Stream<Item = Result<pb::WatchMyTicketsResponse, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl AgentService for AgentApi {
    type WatchMyTicketsStream = MyTicketStream;

    async fn get_me(
        &self,
        request: Request<pb::GetMeRequest>,
    ) -> Result<Response<pb::GetMeResponse>, Status> {
        let view = self.app.get_me(&principal(&request)?).await?;
        Ok(Response::new(pb::GetMeResponse { agent: agent(view) }))
    }

    async fn get_agent(
        &self,
        request: Request<pb::GetAgentRequest>,
    ) -> Result<Response<pb::GetAgentResponse>, Status> {
        let principal = principal(&request)?;
        let view = self
            .app
            .get_agent(&principal, &request.into_inner().agent_id)
            .await?;
        Ok(Response::new(pb::GetAgentResponse { agent: agent(view) }))
    }

    async fn list_agents(
        &self,
        request: Request<pb::ListAgentsRequest>,
    ) -> Result<Response<pb::ListAgentsResponse>, Status> {
        let principal = principal(&request)?;
        let r = request.into_inner();
        let page = self
            .app
            .list_agents(
                &principal,
                &r.queue,
                &r.status,
                i64::from(r.page_size),
                &r.page_token,
            )
            .await?;
        Ok(Response::new(pb::ListAgentsResponse {
            agents: page.agents.into_iter().map(Into::into).collect(),
            next_page_token: page.next_page_token,
        }))
    }

    async fn upsert_agent(
        &self,
        request: Request<pb::UpsertAgentRequest>,
    ) -> Result<Response<pb::UpsertAgentResponse>, Status> {
        let principal = principal(&request)?;
        let a = request
            .into_inner()
            .agent
            .ok_or_else(|| Error::invalid("agent", "must be set"))?;
        let domain = Agent {
            role: role(a.role)?,
            id: a.id,
            name: a.name,
            status: String::new(),
            status_alias: String::new(),
            last_login_at: None,
            status_updated_at: None,
            queues: a.queues,
            languages: a.languages,
            max_concurrent: a.max_concurrent,
        };
        let view = self.app.upsert_agent(&principal, domain).await?;
        Ok(Response::new(pb::UpsertAgentResponse {
            agent: agent(view),
        }))
    }

    async fn set_status(
        &self,
        request: Request<pb::SetStatusRequest>,
    ) -> Result<Response<pb::SetStatusResponse>, Status> {
        let principal = principal(&request)?;
        let r = request.into_inner();
        let view = self
            .app
            .set_status(&principal, &r.agent_id, &r.status)
            .await?;
        Ok(Response::new(pb::SetStatusResponse { agent: agent(view) }))
    }

    async fn list_statuses(
        &self,
        request: Request<pb::ListStatusesRequest>,
    ) -> Result<Response<pb::ListStatusesResponse>, Status> {
        let statuses = self.app.list_statuses(&principal(&request)?).await?;
        Ok(Response::new(pb::ListStatusesResponse {
            statuses: statuses.into_iter().map(status_pb).collect(),
        }))
    }

    async fn upsert_status(
        &self,
        request: Request<pb::UpsertStatusRequest>,
    ) -> Result<Response<pb::UpsertStatusResponse>, Status> {
        let principal = principal(&request)?;
        let s = request
            .into_inner()
            .status
            .ok_or_else(|| Error::invalid("status", "must be set"))?;
        let status = self
            .app
            .upsert_status(
                &principal,
                AgentStatus {
                    name: s.name,
                    alias: s.alias,
                    receives_tickets: s.receives_tickets,
                },
            )
            .await?;
        Ok(Response::new(pb::UpsertStatusResponse {
            status: Some(status_pb(status)),
        }))
    }

    async fn list_my_tickets(
        &self,
        request: Request<pb::ListMyTicketsRequest>,
    ) -> Result<Response<pb::ListMyTicketsResponse>, Status> {
        let principal = principal(&request)?;
        let r = request.into_inner();
        let list = convert::list_tickets(
            r.filter,
            r.order_by,
            r.page_size,
            r.page_token,
            r.include_total_size,
        )?;
        let page = self.app.list_my_tickets(&principal, list).await?;
        Ok(Response::new(pb::ListMyTicketsResponse {
            tickets: page.tickets.into_iter().map(Into::into).collect(),
            next_page_token: page.next_page_token,
            total_size: page.total_size.unwrap_or_default(),
        }))
    }

    async fn watch_my_tickets(
        &self,
        request: Request<pb::WatchMyTicketsRequest>,
    ) -> Result<Response<Self::WatchMyTicketsStream>, Status> {
        let principal = principal(&request)?;
        let after = request.into_inner().after_event_id;
        let stream = self
            .app
            .watch_my_tickets(&principal, after)
            .await?
            .map(|item| {
                item.map(|item| {
                    let (event, ticket) = *item;
                    pb::WatchMyTicketsResponse {
                        event: Some(event.into()),
                        ticket: ticket.map(Into::into),
                    }
                })
                .map_err(Status::from)
            });
        Ok(Response::new(Box::pin(stream)))
    }
}
