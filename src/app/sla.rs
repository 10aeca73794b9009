//! SLA policies (ReportService: ListSlaPolicies, UpsertSlaPolicy) and a ticket's metrics
//! (GetTicketMetrics). The clocks themselves are domain rules (`domain::sla`), run with every
//! change of a ticket.
use super::App;
use super::validate::Violations;
use crate::clock::Time;
use crate::domain::query::{Scope, TicketFilter, TicketKey};
use crate::domain::sla::{MAX_TARGET_SECONDS, SlaPolicy, SlaTargets, TicketMetrics};
use crate::domain::{EventType, Principal, Role, Severity, Ticket, TicketEvent, TicketStatus};
use crate::error::Result;
use crate::store::Tx;

impl App {
    /// The SLA targets for a ticket of `severity` in `queue` (policies from memory while
    /// unchanged).
    pub(crate) async fn sla_targets(
        &self,
        queue: &str,
        severity: Severity,
    ) -> Result<Option<SlaTargets>> {
        let policies = self
            .sla_policies
            .get(queue, async {
                self.store.list_sla_policies(Some(queue)).await.map(Some)
            })
            .await?
            .unwrap_or_default();
        Ok(SlaPolicy::choose(&policies, severity).map(|policy| policy.targets.clone()))
    }

    /// The SLA policies of `queue`, or of every queue (staff only).
    pub async fn list_sla_policies(
        &self,
        principal: &Principal,
        queue: &str,
    ) -> Result<Vec<SlaPolicy>> {
        let mut v = Violations::new();
        v.optional_id("queue", queue);
        v.finish()?;
        self.access(principal).await?.require(
            &[Role::Agent, Role::Supervisor, Role::Admin, Role::Service],
            "read SLA policies",
        )?;
        let queue = (!queue.is_empty()).then_some(queue);
        self.store.list_sla_policies(queue).await
    }

    /// Creates or replaces the policy of a queue and severity (admin). Tickets take the
    /// policy when they are created or change queue or severity; tickets under way keep the
    /// targets they started with.
    pub async fn upsert_sla_policy(
        &self,
        principal: &Principal,
        mut policy: SlaPolicy,
    ) -> Result<SlaPolicy> {
        check_policy(&policy)?;
        self.access(principal)
            .await?
            .require(&[Role::Admin], "manage SLA policies")?;
        self.check_queue("policy.queue", &policy.queue).await?;
        policy.updated_at = self.now();
        let app = self.clone();
        self.detached(async move { app.store.upsert_sla_policy(&policy).await.map(|()| policy) })
            .await
    }

    /// A ticket (for staff who may see it) with its metrics counted up to now, and now.
    pub async fn ticket_metrics(
        &self,
        principal: &Principal,
        ticket_id: &str,
    ) -> Result<(Ticket, TicketMetrics, Time)> {
        self.access(principal).await?.require(
            &[Role::Agent, Role::Supervisor, Role::Admin, Role::Service],
            "read ticket metrics",
        )?;
        let mut v = Violations::new();
        v.id("ticket_id", ticket_id);
        v.finish()?;
        let ticket = self
            .get_ticket(principal, TicketKey::Id(ticket_id.to_string()))
            .await?;
        let now = self.now();
        let metrics = ticket.metrics.as_of(now);
        Ok((ticket, metrics, now))
    }
}

fn check_policy(policy: &SlaPolicy) -> Result<()> {
    let mut v = Violations::new();
    v.id("policy.queue", &policy.queue);
    let targets = &policy.targets;
    for (field, seconds) in [
        ("policy.first_reply_seconds", targets.first_reply_seconds),
        ("policy.next_reply_seconds", targets.next_reply_seconds),
        ("policy.resolution_seconds", targets.resolution_seconds),
        ("policy.warn_before_seconds", targets.warn_before_seconds),
    ] {
        if !(0..=MAX_TARGET_SECONDS).contains(&seconds) {
            v.add(field, "must be between 0 (none) and one year");
        }
    }
    if targets.warn_before_seconds > 0
        && targets.warn_before_seconds >= targets.shortest().unwrap_or(0)
    {
        v.add(
            "policy.warn_before_seconds",
            "must be shorter than every target",
        );
    }
    if let Some(hours) = &targets.business_hours
        && let Err((field, why)) = hours.validate()
    {
        v.add(format!("policy.business_hours.{field}"), why);
    }
    v.finish()
}

/// Counts the SLA breaches among `events` once the write that records them is committed
/// (`casework_sla_breaches_total`, by queue and target; each replica counts the breaches it
/// records, whichever change fired them).
pub(crate) fn count_breaches(tx: &mut dyn Tx, queue: &str, events: &[TicketEvent]) {
    let targets: Vec<String> = events
        .iter()
        .filter(|e| e.event_type == EventType::SlaBreached)
        .map(|e| e.payload["target"].as_str().unwrap_or_default().to_string())
        .collect();
    if targets.is_empty() {
        return;
    }
    let queue = queue.to_string();
    tx.after_commit(Box::new(move || {
        for target in targets {
            metrics::counter!(
                "casework_sla_breaches_total",
                "queue" => queue.clone(),
                "target" => target
            )
            .increment(1);
        }
    }));
}

impl App {
    /// Sets the per-queue gauges (tickets waiting, the oldest wait, open tickets that missed
    /// an SLA target) from the store, now.
    pub async fn refresh_queue_gauges(&self) -> Result<()> {
        let now = self.now();
        for queue in self.store.list_queues().await? {
            let stats = self.store.queue_stats(&queue.id, None).await?;
            let breached = TicketFilter {
                queues: vec![queue.id.clone()],
                statuses: TicketStatus::ALL
                    .into_iter()
                    .filter(|s| s.is_open())
                    .collect(),
                sla_breached: true,
                ..TicketFilter::default()
            };
            let breached = self
                .store
                .count_tickets(&breached, &Scope::All, now)
                .await?;
            let label = || queue.id.clone();
            metrics::gauge!("casework_queue_waiting_tickets", "queue" => label())
                .set(stats.waiting_count as f64);
            let oldest = stats
                .oldest_waiting_since
                .map_or(0, |since| (now - since).num_seconds().max(0));
            metrics::gauge!("casework_queue_oldest_wait_seconds", "queue" => label())
                .set(oldest as f64);
            metrics::gauge!("casework_queue_sla_breached_open_tickets", "queue" => label())
                .set(breached as f64);
        }
        Ok(())
    }

    /// Refreshes the per-queue gauges every `every` until shutdown.
    pub fn spawn_queue_gauges(&self, every: std::time::Duration) {
        let app = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {
                        if let Err(error) = app.refresh_queue_gauges().await {
                            tracing::warn!(%error, "queue gauges not refreshed");
                        }
                    }
                    _ = app.shutdown.cancelled() => return,
                }
            }
        });
    }
}
