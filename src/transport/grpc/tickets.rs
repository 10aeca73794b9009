//! TicketService: decode → app → encode, nothing else.
use super::convert;
use super::principal;
use crate::app::App;
use crate::app::validate::non_empty;
use crate::domain::Transition;
use crate::domain::query::{TicketKey, WatchFilter};
use crate::error::Error;
use crate::pb::{self, ticket_service_server::TicketService};
use std::pin::Pin;
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status};

#[derive(Clone)]
pub struct TicketApi {
    app: App,
}

impl TicketApi {
    pub fn new(app: App) -> Self {
        TicketApi { app }
    }

    /// The shared shape of every lifecycle RPC.
    async fn change<T>(
        &self,
        request: Request<T>,
        ticket_id: impl Fn(&T) -> String,
        expected_version: impl Fn(&T) -> i64,
        transition: impl FnOnce(T) -> Result<Transition, Error>,
    ) -> Result<pb::Ticket, Status> {
        let principal = principal(&request)?;
        let body = request.into_inner();
        let (ticket_id, expected_version) = (ticket_id(&body), expected_version(&body));
        let transition = transition(body)?;
        let ticket = self
            .app
            .change_ticket(
                &principal,
                TicketKey::Id(ticket_id),
                expected_version,
                transition,
            )
            .await?;
        Ok(ticket.into())
    }
}

type EventStream =
    Pin<Box<dyn Stream<Item = Result<pb::WatchTicketsResponse, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl TicketService for TicketApi {
    type WatchTicketsStream = EventStream;

    async fn create_ticket(
        &self,
        request: Request<pb::CreateTicketRequest>,
    ) -> Result<Response<pb::CreateTicketResponse>, Status> {
        let principal = principal(&request)?;
        let new = convert::new_ticket(request.into_inner())?;
        let ticket = self.app.create_ticket(&principal, new).await?;
        Ok(Response::new(pb::CreateTicketResponse {
            ticket: Some(ticket.into()),
        }))
    }

    async fn get_ticket(
        &self,
        request: Request<pb::GetTicketRequest>,
    ) -> Result<Response<pb::GetTicketResponse>, Status> {
        let principal = principal(&request)?;
        use pb::get_ticket_request::Key;
        let key = match request.into_inner().key {
            Some(Key::Id(id)) => TicketKey::Id(id),
            Some(Key::Number(number)) => TicketKey::Number(number),
            Some(Key::ExternalId(id)) => TicketKey::ExternalId(id),
            None => {
                return Err(
                    Error::invalid("key", "one of id, number or external_id is required").into(),
                );
            }
        };
        let ticket = self.app.get_ticket(&principal, key).await?;
        Ok(Response::new(pb::GetTicketResponse {
            ticket: Some(ticket.into()),
        }))
    }

    async fn list_tickets(
        &self,
        request: Request<pb::ListTicketsRequest>,
    ) -> Result<Response<pb::ListTicketsResponse>, Status> {
        let principal = principal(&request)?;
        let r = request.into_inner();
        let list = convert::list_tickets(
            r.filter,
            r.order_by,
            r.page_size,
            r.page_token,
            r.include_total_size,
        )?;
        let page = self.app.list_tickets(&principal, list).await?;
        Ok(Response::new(pb::ListTicketsResponse {
            tickets: page.tickets.into_iter().map(Into::into).collect(),
            next_page_token: page.next_page_token,
            total_size: page.total_size.unwrap_or_default(),
        }))
    }

    async fn update_ticket(
        &self,
        request: Request<pb::UpdateTicketRequest>,
    ) -> Result<Response<pb::UpdateTicketResponse>, Status> {
        let ticket = self
            .change(
                request,
                |r| r.ticket_id.clone(),
                |r| r.expected_version,
                |r| Ok(Transition::Update(convert::patch(r.ticket, r.update_mask)?)),
            )
            .await?;
        Ok(Response::new(pb::UpdateTicketResponse {
            ticket: Some(ticket),
        }))
    }

    async fn assign_ticket(
        &self,
        request: Request<pb::AssignTicketRequest>,
    ) -> Result<Response<pb::AssignTicketResponse>, Status> {
        let ticket = self
            .change(
                request,
                |r| r.ticket_id.clone(),
                |r| r.expected_version,
                |r| Ok(Transition::Assign { agent: r.agent_id }),
            )
            .await?;
        Ok(Response::new(pb::AssignTicketResponse {
            ticket: Some(ticket),
        }))
    }

    async fn reassign_ticket(
        &self,
        request: Request<pb::ReassignTicketRequest>,
    ) -> Result<Response<pb::ReassignTicketResponse>, Status> {
        let ticket = self
            .change(
                request,
                |r| r.ticket_id.clone(),
                |r| r.expected_version,
                |r| {
                    Ok(Transition::Reassign {
                        agent: r.agent_id,
                        reason: r.reason,
                    })
                },
            )
            .await?;
        Ok(Response::new(pb::ReassignTicketResponse {
            ticket: Some(ticket),
        }))
    }

    async fn transfer_ticket(
        &self,
        request: Request<pb::TransferTicketRequest>,
    ) -> Result<Response<pb::TransferTicketResponse>, Status> {
        let ticket = self
            .change(
                request,
                |r| r.ticket_id.clone(),
                |r| r.expected_version,
                |r| {
                    Ok(Transition::Transfer {
                        queue: r.queue_id,
                        reason: r.reason,
                    })
                },
            )
            .await?;
        Ok(Response::new(pb::TransferTicketResponse {
            ticket: Some(ticket),
        }))
    }

    async fn escalate_ticket(
        &self,
        request: Request<pb::EscalateTicketRequest>,
    ) -> Result<Response<pb::EscalateTicketResponse>, Status> {
        let ticket = self
            .change(
                request,
                |r| r.ticket_id.clone(),
                |r| r.expected_version,
                |r| {
                    Ok(Transition::Escalate {
                        department: r.department,
                        to_agent: r.to_agent,
                        status_reason: r.status_reason,
                        resolution_reason: r.resolution_reason,
                    })
                },
            )
            .await?;
        Ok(Response::new(pb::EscalateTicketResponse {
            ticket: Some(ticket),
        }))
    }

    async fn hold_ticket(
        &self,
        request: Request<pb::HoldTicketRequest>,
    ) -> Result<Response<pb::HoldTicketResponse>, Status> {
        let ticket = self
            .change(
                request,
                |r| r.ticket_id.clone(),
                |r| r.expected_version,
                |r| Ok(Transition::Hold { reason: r.reason }),
            )
            .await?;
        Ok(Response::new(pb::HoldTicketResponse {
            ticket: Some(ticket),
        }))
    }

    async fn resume_ticket(
        &self,
        request: Request<pb::ResumeTicketRequest>,
    ) -> Result<Response<pb::ResumeTicketResponse>, Status> {
        let ticket = self
            .change(
                request,
                |r| r.ticket_id.clone(),
                |r| r.expected_version,
                |_| Ok(Transition::Resume),
            )
            .await?;
        Ok(Response::new(pb::ResumeTicketResponse {
            ticket: Some(ticket),
        }))
    }

    async fn handoff_ticket(
        &self,
        request: Request<pb::HandoffTicketRequest>,
    ) -> Result<Response<pb::HandoffTicketResponse>, Status> {
        let ticket = self
            .change(
                request,
                |r| r.ticket_id.clone(),
                |r| r.expected_version,
                |r| {
                    Ok(Transition::Handoff {
                        queue: non_empty(&r.queue_id),
                        agent: non_empty(&r.agent_id),
                        reason: r.reason,
                    })
                },
            )
            .await?;
        Ok(Response::new(pb::HandoffTicketResponse {
            ticket: Some(ticket),
        }))
    }

    async fn close_ticket(
        &self,
        request: Request<pb::CloseTicketRequest>,
    ) -> Result<Response<pb::CloseTicketResponse>, Status> {
        let ticket = self
            .change(
                request,
                |r| r.ticket_id.clone(),
                |r| r.expected_version,
                |r| {
                    Ok(Transition::Close {
                        resolution: convert::resolution_status(
                            "resolution_status",
                            r.resolution_status,
                        )?,
                        resolution_reason: r.resolution_reason,
                        status_reason: r.status_reason,
                    })
                },
            )
            .await?;
        Ok(Response::new(pb::CloseTicketResponse {
            ticket: Some(ticket),
        }))
    }

    async fn reopen_ticket(
        &self,
        request: Request<pb::ReopenTicketRequest>,
    ) -> Result<Response<pb::ReopenTicketResponse>, Status> {
        let ticket = self
            .change(
                request,
                |r| r.ticket_id.clone(),
                |r| r.expected_version,
                |r| {
                    Ok(Transition::Reopen {
                        reason: r.reason,
                        keep_assignee: r.keep_assignee,
                    })
                },
            )
            .await?;
        Ok(Response::new(pb::ReopenTicketResponse {
            ticket: Some(ticket),
        }))
    }

    async fn rate_ticket(
        &self,
        request: Request<pb::RateTicketRequest>,
    ) -> Result<Response<pb::RateTicketResponse>, Status> {
        let ticket = self
            .change(
                request,
                |r| r.ticket_id.clone(),
                |r| r.expected_version,
                |r| {
                    Ok(Transition::Rate {
                        score: r.score,
                        comment: r.comment,
                    })
                },
            )
            .await?;
        Ok(Response::new(pb::RateTicketResponse {
            ticket: Some(ticket),
        }))
    }

    async fn link_ticket(
        &self,
        request: Request<pb::LinkTicketRequest>,
    ) -> Result<Response<pb::LinkTicketResponse>, Status> {
        let ticket = self
            .change(
                request,
                |r| r.ticket_id.clone(),
                |r| r.expected_version,
                |r| {
                    Ok(Transition::Link {
                        link: convert::link(r.link)?,
                    })
                },
            )
            .await?;
        Ok(Response::new(pb::LinkTicketResponse {
            ticket: Some(ticket),
        }))
    }

    async fn record_workflow_event(
        &self,
        request: Request<pb::RecordWorkflowEventRequest>,
    ) -> Result<Response<pb::RecordWorkflowEventResponse>, Status> {
        let principal = principal(&request)?;
        let r = request.into_inner();
        let transition = Transition::Workflow {
            event_type: convert::event_type("type", r.r#type)?,
            workflow: r.workflow,
            details: convert::json_object("details", r.details.as_ref())?,
        };
        let event = self
            .app
            .record_workflow_event(
                &principal,
                TicketKey::Id(r.ticket_id),
                r.expected_version,
                transition,
            )
            .await?;
        Ok(Response::new(pb::RecordWorkflowEventResponse {
            event: Some(event.into()),
        }))
    }

    async fn list_ticket_events(
        &self,
        request: Request<pb::ListTicketEventsRequest>,
    ) -> Result<Response<pb::ListTicketEventsResponse>, Status> {
        let principal = principal(&request)?;
        let r = request.into_inner();
        let page = self
            .app
            .list_ticket_events(
                &principal,
                TicketKey::Id(r.ticket_id),
                i64::from(r.page_size),
                &r.page_token,
            )
            .await?;
        Ok(Response::new(pb::ListTicketEventsResponse {
            events: page.events.into_iter().map(Into::into).collect(),
            next_page_token: page.next_page_token,
        }))
    }

    async fn get_customer_history(
        &self,
        request: Request<pb::GetCustomerHistoryRequest>,
    ) -> Result<Response<pb::GetCustomerHistoryResponse>, Status> {
        let principal = principal(&request)?;
        let r = request.into_inner();
        let page = self
            .app
            .customer_history(
                &principal,
                &r.customer_id,
                non_empty(&r.ticket_id).map(TicketKey::Id),
                r.page,
                r.page_size,
            )
            .await?;
        Ok(Response::new(pb::GetCustomerHistoryResponse {
            tickets: page.tickets.into_iter().map(Into::into).collect(),
            page: page.page,
            page_size: page.page_size,
            total_size: page.total_size,
        }))
    }

    async fn list_resolution_statuses(
        &self,
        request: Request<pb::ListResolutionStatusesRequest>,
    ) -> Result<Response<pb::ListResolutionStatusesResponse>, Status> {
        let statuses = self
            .app
            .list_resolution_statuses(&principal(&request)?)
            .await?;
        Ok(Response::new(pb::ListResolutionStatusesResponse {
            statuses: statuses
                .into_iter()
                .map(|s| convert::resolution_status_pb(s) as i32)
                .collect(),
        }))
    }

    async fn list_escalation_departments(
        &self,
        request: Request<pb::ListEscalationDepartmentsRequest>,
    ) -> Result<Response<pb::ListEscalationDepartmentsResponse>, Status> {
        let departments = self.app.list_departments(&principal(&request)?).await?;
        Ok(Response::new(pb::ListEscalationDepartmentsResponse {
            departments: departments.into_iter().map(Into::into).collect(),
        }))
    }

    async fn upsert_escalation_department(
        &self,
        request: Request<pb::UpsertEscalationDepartmentRequest>,
    ) -> Result<Response<pb::UpsertEscalationDepartmentResponse>, Status> {
        let principal = principal(&request)?;
        let department = request.into_inner().department.unwrap_or_default().into();
        let department = self.app.upsert_department(&principal, department).await?;
        Ok(Response::new(pb::UpsertEscalationDepartmentResponse {
            department: Some(department.into()),
        }))
    }

    async fn list_queues(
        &self,
        request: Request<pb::ListQueuesRequest>,
    ) -> Result<Response<pb::ListQueuesResponse>, Status> {
        let queues = self.app.list_queues(&principal(&request)?).await?;
        Ok(Response::new(pb::ListQueuesResponse {
            queues: queues.into_iter().map(Into::into).collect(),
        }))
    }

    async fn upsert_queue(
        &self,
        request: Request<pb::UpsertQueueRequest>,
    ) -> Result<Response<pb::UpsertQueueResponse>, Status> {
        let principal = principal(&request)?;
        let queue = request.into_inner().queue.unwrap_or_default().into();
        let queue = self.app.upsert_queue(&principal, queue).await?;
        Ok(Response::new(pb::UpsertQueueResponse {
            queue: Some(queue.into()),
        }))
    }

    async fn get_queue_stats(
        &self,
        request: Request<pb::GetQueueStatsRequest>,
    ) -> Result<Response<pb::GetQueueStatsResponse>, Status> {
        let principal = principal(&request)?;
        let r = request.into_inner();
        let stats = self
            .app
            .queue_stats(&principal, &r.queue_id, &r.ticket_id)
            .await?;
        Ok(Response::new(pb::GetQueueStatsResponse {
            queue_id: r.queue_id,
            waiting_count: stats.waiting_count,
            oldest_waiting_since: convert::opt_timestamp(stats.oldest_waiting_since),
            position: stats.position,
        }))
    }

    async fn watch_tickets(
        &self,
        request: Request<pb::WatchTicketsRequest>,
    ) -> Result<Response<Self::WatchTicketsStream>, Status> {
        let principal = principal(&request)?;
        let r = request.into_inner();
        let watch = WatchFilter {
            involving: None,
            queues: r.queues,
            assignee: non_empty(&r.assignee),
            ticket_id: non_empty(&r.ticket_id),
        };
        let stream = self
            .app
            .watch_tickets(&principal, watch, r.after_event_id)
            .await?
            .map(|item| {
                item.map(|item| {
                    let (event, ticket) = *item;
                    pb::WatchTicketsResponse {
                        event: Some(event.into()),
                        ticket: ticket.map(Into::into),
                    }
                })
                .map_err(Status::from)
            });
        Ok(Response::new(Box::pin(stream)))
    }
}
