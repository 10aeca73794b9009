//! The sweeper: fires due chat timers (DESIGN.md §3) and SLA warnings and breaches. Time
//! comes from the injectable clock, so tests advance a manual clock and call
//! [`App::sweep_timers`] instead of sleeping. Each timer fires once: its system message is
//! keyed by the timer, and its ticket change applies only while the timer is still set, also
//! across restarts.
use super::App;
use super::conversations::server_message;
use super::write;
use crate::domain::conversation::SenderType;
use crate::domain::timers::{self, DueTimer};
use crate::domain::{NewEvent, Ticket, Transition, lifecycle};
use crate::error::{Error, Result};
use std::time::Duration;

/// The actor of the sweeper's changes and the sender of its messages.
pub const SWEEPER: &str = "casework";

/// Sweeper ticks between routing reconciliations.
const RECONCILE_EVERY: u64 = 30;
/// Sweeper ticks between report compactions (`App::compact_reports`).
const COMPACT_REPORTS_EVERY: u64 = 300;

/// Tickets handled per sweep.
const SWEEP_BATCH: i64 = 500;

/// A timer's change, `None` when the ticket's state no longer allows it (it fires no more).
fn applies(change: Result<Vec<NewEvent>>) -> Result<Option<Vec<NewEvent>>> {
    match change {
        Ok(events) => Ok(Some(events)),
        Err(Error::FailedPrecondition(_)) => Ok(None),
        Err(other) => Err(other),
    }
}

impl App {
    /// One pass: fires every chat timer due now. Returns how many fired.
    pub async fn sweep_timers(&self) -> Result<usize> {
        let now = self.clock.now();
        let mut fired = 0;
        for ticket_id in self.store.due_timers(now, SWEEP_BATCH).await? {
            // One ticket's failure must not hold back every timer due after it.
            match self.fire_sla(&ticket_id, now).await {
                Ok(true) => fired += 1,
                Ok(false) => {}
                Err(error) => tracing::error!(%error, ticket_id, "SLA timer failed"),
            }
            match self.fire_timer(&ticket_id, now).await {
                Ok(true) => fired += 1,
                Ok(false) => {}
                Err(error) => tracing::error!(%error, ticket_id, "chat timer failed"),
            }
        }
        Ok(fired)
    }

    /// Fires the SLA warnings and breaches of one ticket due at `now`. Each fires once: the
    /// ticket records it in the same write as its event, and a ticket changed since it was
    /// read is read again.
    async fn fire_sla(&self, ticket_id: &str, now: crate::clock::Time) -> Result<bool> {
        let ticket_id = ticket_id.to_string();
        let fired = self
            .store
            .write(move |tx| {
                let ticket_id = ticket_id.clone();
                Box::pin(async move {
                    let Some(mut ticket) = tx.ticket_for_update(&ticket_id).await? else {
                        return Ok(None);
                    };
                    if ticket.sla.next_timer().is_none_or(|at| at > now) {
                        return Ok(None);
                    }
                    let original = ticket.clone();
                    let Some(events) = applies(lifecycle::apply(
                        &mut ticket,
                        Transition::SlaCheck,
                        SWEEPER,
                        now,
                    ))?
                    else {
                        return Ok(None);
                    };
                    write::save_locked_change(tx, &ticket, &original, SWEEPER, events).await?;
                    Ok(Some((original.assignee, ticket)))
                })
            })
            .await?;
        self.after_fired(fired).await
    }

    /// What follows a fired timer's change (`None`: nothing fired).
    async fn after_fired(&self, fired: Option<(Option<String>, Ticket)>) -> Result<bool> {
        let Some((holder, ticket)) = fired else {
            return Ok(false);
        };
        self.after_change(holder, ticket, None).await;
        Ok(true)
    }

    /// Fires the timer of one ticket if it is still due: its change and its keyed system
    /// message in one write, so a customer reply cannot slip between them and a crash cannot
    /// keep one without the other. The change applies only while that very timer is set and
    /// due, so it fires once.
    async fn fire_timer(&self, ticket_id: &str, now: crate::clock::Time) -> Result<bool> {
        let chat_timers = self.config.chat_timers;
        let ticket_id = ticket_id.to_string();
        let fired = self
            .store
            .write(move |tx| {
                let ticket_id = ticket_id.clone();
                Box::pin(async move {
                    let Some(mut ticket) = tx.ticket_for_update(&ticket_id).await? else {
                        return Ok(None);
                    };
                    let Some(close_at) = ticket.metadata.auto_close_at else {
                        return Ok(None);
                    };
                    let key = close_at.timestamp_micros();
                    let minutes = (close_at - now).num_minutes().max(1);
                    let (transition, key, body) = match timers::due(&ticket, now) {
                        Some(DueTimer::Warning) => (
                            Transition::SlaWarning { close_at },
                            format!("sla-warning-{key}"),
                            format!(
                                "Are you still there? This chat closes in about {minutes} \
                                 minutes without a reply."
                            ),
                        ),
                        Some(DueTimer::Close) => (
                            Transition::AutoClose { close_at },
                            format!("auto-close-{key}"),
                            "This chat was closed because we did not hear back from you."
                                .to_string(),
                        ),
                        None => return Ok(None),
                    };
                    let closing = matches!(transition, Transition::AutoClose { .. });
                    let notice =
                        server_message(&ticket, (SenderType::System, SWEEPER, ""), key, body, now);
                    // Nothing is written unless the change applies.
                    let trial =
                        lifecycle::apply(&mut ticket.clone(), transition.clone(), SWEEPER, now);
                    if applies(trial)?.is_none() {
                        return Ok(None);
                    }
                    // The closing notice goes in while the room is still open; the warning
                    // after its change.
                    if closing {
                        add_notice(tx, notice.clone(), &chat_timers).await?;
                        ticket = tx.ticket_for_update(&ticket_id).await?.ok_or_else(|| {
                            Error::Internal("ticket vanished inside its own transaction".into())
                        })?;
                    }
                    let holder = ticket.assignee.clone();
                    let original = ticket.clone();
                    let Some(events) =
                        applies(lifecycle::apply(&mut ticket, transition, SWEEPER, now))?
                    else {
                        return Ok(None);
                    };
                    write::save_locked_change(tx, &ticket, &original, SWEEPER, events).await?;
                    if !closing {
                        add_notice(tx, notice, &chat_timers).await?;
                    }
                    Ok(Some((holder, ticket)))
                })
            })
            .await?;
        self.after_fired(fired).await
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
                        // One replica at a time does the periodic work.
                        if !app.store.lead().await {
                            continue;
                        }
                        if let Err(error) = app.sweep_timers().await {
                            tracing::error!(%error, "timer sweep failed");
                        }
                        // At start-up, then every RECONCILE_EVERY (COMPACT_REPORTS_EVERY) ticks.
                        if ticks.is_multiple_of(RECONCILE_EVERY)
                            && let Err(error) = app.reconcile_routing().await
                        {
                            tracing::error!(%error, "routing reconciliation failed");
                        }
                        if ticks.is_multiple_of(COMPACT_REPORTS_EVERY)
                            && let Err(error) = app.compact_reports().await
                        {
                            tracing::error!(%error, "report compaction failed");
                        }
                        ticks += 1;
                    }
                    _ = app.shutdown.cancelled() => return,
                }
            }
        });
    }
}

/// A timer's notice inside the timer's write. A message already under the notice's key
/// (even with another body) is left alone, so the timer still fires and cannot be jammed by
/// it.
async fn add_notice(
    tx: &mut dyn crate::store::Tx,
    notice: crate::domain::conversation::Message,
    chat_timers: &crate::domain::timers::ChatTimers,
) -> Result<()> {
    match write::add_message(tx, notice, SWEEPER, chat_timers).await {
        Ok(_) | Err(Error::AlreadyExists(_)) => Ok(()),
        Err(other) => Err(other),
    }
}
