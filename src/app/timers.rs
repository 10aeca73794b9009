//! The sweeper: fires due chat timers (DESIGN.md §3). Time comes from the injectable clock, so
//! tests advance a manual clock and call [`App::sweep_timers`] instead of sleeping. Each timer
//! fires once: its system message is keyed by the timer, and its ticket change applies only
//! while the timer is still set, also across restarts.
use super::App;
use crate::domain::Transition;
use crate::domain::conversation::SenderType;
use crate::domain::timers::{self, DueTimer};
use crate::error::Result;
use crate::store::TicketKey;
use std::time::Duration;

/// The actor of the sweeper's changes and the sender of its messages.
pub const SWEEPER: &str = "casework";

/// Sweeper ticks between routing reconciliations.
const RECONCILE_EVERY: u64 = 30;

/// Tickets handled per sweep.
const SWEEP_BATCH: i64 = 500;

impl App {
    /// One pass: fires every chat timer due now. Returns how many fired.
    pub async fn sweep_timers(&self) -> Result<usize> {
        let now = self.clock.now();
        let mut fired = 0;
        for ticket_id in self.store.due_timers(now, SWEEP_BATCH).await? {
            let Some(ticket) = self
                .store
                .get_ticket(&TicketKey::Id(ticket_id.clone()))
                .await?
            else {
                continue;
            };
            let Some(close_at) = ticket.metadata.auto_close_at else {
                continue;
            };
            let key = close_at.timestamp_micros();
            let minutes = (close_at - now).num_minutes().max(1);
            let (message, transition) = match timers::due(&ticket, now) {
                Some(DueTimer::Warning) => (
                    (
                        format!("sla-warning-{key}"),
                        format!(
                            "Are you still there? This chat closes in about {minutes} minutes without a reply."
                        ),
                    ),
                    Transition::SlaWarning,
                ),
                Some(DueTimer::Close) => (
                    (
                        format!("auto-close-{key}"),
                        "This chat was closed because we did not hear back from you.".to_string(),
                    ),
                    Transition::AutoClose,
                ),
                None => continue,
            };
            self.write_message(
                &ticket,
                (SenderType::System, SWEEPER, ""),
                message.0,
                message.1,
            )
            .await?;
            if self
                .system_change(&ticket.id, transition, SWEEPER)
                .await?
                .is_some()
            {
                fired += 1;
            }
        }
        Ok(fired)
    }

    /// Runs the sweeper every `every` of real time until shutdown; it also reconciles routing.
    pub fn spawn_sweeper(&self, every: Duration) {
        let app = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut ticks: u64 = 0;
            loop {
                tokio::select! {
                    _ = tick.tick() => {
                        if let Err(error) = app.sweep_timers().await {
                            tracing::error!(%error, "timer sweep failed");
                        }
                        // At start-up, then every RECONCILE_EVERY ticks.
                        if ticks.is_multiple_of(RECONCILE_EVERY)
                            && let Err(error) = app.reconcile_routing().await
                        {
                            tracing::error!(%error, "routing reconciliation failed");
                        }
                        ticks += 1;
                    }
                    _ = app.shutdown.cancelled() => return,
                }
            }
        });
    }
}
