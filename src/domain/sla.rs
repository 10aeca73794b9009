//! SLA policies, the live SLA state of a ticket and its metrics (DESIGN.md §4, ReportService).
//!
//! A queue's policy (optionally one per severity) sets up to three targets: the first agent
//! reply, each next reply (a customer message waiting for an agent's answer) and resolution.
//! A ticket keeps a copy of its policy's targets and one clock per target. Clocks count
//! working time (the policy's business hours, around the clock without them), pause on hold
//! or while waiting on the customer as the policy says, and fire a warning before and a
//! breach at their due time, each once: [`observe`] runs with every change of the ticket
//! (and, through the sweeper, when a clock's time comes), so whatever is due at that moment
//! is recorded in the same write as its events.
use crate::clock::Time;
use crate::domain::hours::{self, BusinessHours};
use crate::domain::ticket::{Severity, actor_id};
use crate::domain::{EventType, NewEvent, Ticket, TicketStatus};
use chrono::Duration;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// Longest target a policy may set: one year.
pub const MAX_TARGET_SECONDS: i64 = 365 * 24 * 3600;

/// The targets of a policy, copied onto each ticket it applies to.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SlaTargets {
    /// Working seconds until the first agent reply; 0: no such target (see [`Self::has_any`]).
    pub first_reply_seconds: i64,
    /// Working seconds until each next agent reply; 0: no such target.
    pub next_reply_seconds: i64,
    /// Working seconds until the ticket is closed; 0: no such target.
    pub resolution_seconds: i64,
    /// Warn this many working seconds before a target is due; 0: no warning.
    pub warn_before_seconds: i64,
    /// Clocks stop while the ticket is on hold.
    pub pause_on_hold: bool,
    /// The resolution clock stops while the agent has answered and the customer has not.
    pub pause_waiting_on_customer: bool,
    /// Working hours; none: targets count around the clock.
    pub business_hours: Option<BusinessHours>,
}

impl SlaTargets {
    /// Whether any of the three targets is set.
    pub fn has_any(&self) -> bool {
        self.first_reply_seconds > 0 || self.next_reply_seconds > 0 || self.resolution_seconds > 0
    }

    /// The shortest target that is set.
    pub fn shortest(&self) -> Option<i64> {
        [
            self.first_reply_seconds,
            self.next_reply_seconds,
            self.resolution_seconds,
        ]
        .into_iter()
        .filter(|s| *s > 0)
        .min()
    }
}

/// A queue's SLA policy, for one severity or (`severity: None`) for every severity without a
/// policy of its own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlaPolicy {
    pub queue: String,
    pub severity: Option<Severity>,
    pub targets: SlaTargets,
    pub updated_at: Time,
}

impl SlaPolicy {
    /// The policy for a ticket of `severity` among one queue's policies. One without any
    /// target (all zero) is no policy: it takes the SLA off the tickets it would apply to.
    pub fn choose(policies: &[SlaPolicy], severity: Severity) -> Option<&SlaPolicy> {
        policies
            .iter()
            .find(|p| p.severity == Some(severity))
            .or_else(|| policies.iter().find(|p| p.severity.is_none()))
            .filter(|p| p.targets.has_any())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Target {
    FirstReply,
    NextReply,
    Resolution,
}

impl Target {
    pub const ALL: [Target; 3] = [Target::FirstReply, Target::NextReply, Target::Resolution];

    pub fn as_str(self) -> &'static str {
        match self {
            Target::FirstReply => "FIRST_REPLY",
            Target::NextReply => "NEXT_REPLY",
            Target::Resolution => "RESOLUTION",
        }
    }

    /// The target's length under `targets`, in working seconds (0: no such target).
    pub fn seconds(self, targets: &SlaTargets) -> i64 {
        match self {
            Target::FirstReply => targets.first_reply_seconds,
            Target::NextReply => targets.next_reply_seconds,
            Target::Resolution => targets.resolution_seconds,
        }
    }
}

/// One target's clock.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SlaClock {
    /// What the clock measures now: the ticket's creation, or for next replies the customer
    /// message waiting for an answer. A new cycle starts a fresh clock.
    pub cycle: Option<Time>,
    /// Working seconds counted before `running_since`.
    pub used_seconds: i64,
    /// Running since then; `None` while paused or stopped.
    pub running_since: Option<Time>,
    /// When the target is due (while running).
    pub due_at: Option<Time>,
    /// When the warning is due (while running, with a warning set and not yet given).
    pub warn_at: Option<Time>,
    pub warned: bool,
    pub breached: bool,
    /// When the target was met (the reply came, the ticket closed).
    pub met_at: Option<Time>,
}

impl SlaClock {
    /// The next moment this clock has something to fire.
    fn next_timer(&self) -> Option<Time> {
        self.running_since?;
        if self.breached {
            return None;
        }
        match (self.warned, self.warn_at) {
            (false, Some(warn_at)) => Some(warn_at),
            _ => self.due_at,
        }
    }
}

/// The SLA state shown on a ticket (seed 002's `slaStatusText`: Ongoing, Within SLA, Over SLA).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SlaState {
    Ongoing,
    WithinSla,
    Breached,
}

impl SlaState {
    pub const ALL: [SlaState; 3] = [SlaState::Ongoing, SlaState::WithinSla, SlaState::Breached];

    pub fn as_str(self) -> &'static str {
        match self {
            SlaState::Ongoing => "ONGOING",
            SlaState::WithinSla => "WITHIN_SLA",
            SlaState::Breached => "BREACHED",
        }
    }
}

/// A ticket's live SLA state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TicketSla {
    /// The targets of the policy that applies; `None` when its queue has no policy.
    pub targets: Option<SlaTargets>,
    pub first_reply: SlaClock,
    pub next_reply: SlaClock,
    pub resolution: SlaClock,
    /// Next replies that came late (or not yet, past due), over the ticket's life.
    pub next_reply_breaches: i64,
}

impl TicketSla {
    pub fn clock(&self, target: Target) -> &SlaClock {
        match target {
            Target::FirstReply => &self.first_reply,
            Target::NextReply => &self.next_reply,
            Target::Resolution => &self.resolution,
        }
    }

    fn clock_mut(&mut self, target: Target) -> &mut SlaClock {
        match target {
            Target::FirstReply => &mut self.first_reply,
            Target::NextReply => &mut self.next_reply,
            Target::Resolution => &mut self.resolution,
        }
    }

    /// A reply target was missed (seed 002's `overReplySla`).
    pub fn over_reply_sla(&self) -> bool {
        self.first_reply.breached || self.next_reply_breaches > 0
    }

    /// No target was missed (seed 002's `withinSla`).
    pub fn within_sla(&self) -> bool {
        !self.over_reply_sla() && !self.resolution.breached
    }

    pub fn state(&self, status: TicketStatus) -> SlaState {
        if !self.within_sla() {
            SlaState::Breached
        } else if status == TicketStatus::Closed {
            SlaState::WithinSla
        } else {
            SlaState::Ongoing
        }
    }

    /// The earliest due time of a running target not yet missed.
    pub fn next_due(&self) -> Option<Time> {
        Target::ALL
            .into_iter()
            .map(|target| self.clock(target))
            .filter(|clock| clock.running_since.is_some() && !clock.breached)
            .filter_map(|clock| clock.due_at)
            .min()
    }

    /// The next moment the sweeper has to look at the ticket (a warning or a breach).
    pub fn next_timer(&self) -> Option<Time> {
        Target::ALL
            .into_iter()
            .filter_map(|target| self.clock(target).next_timer())
            .min()
    }
}

/// What a clock should do for the ticket as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Run,
    Pause,
    Met,
}

/// Brings the ticket's SLA up to `now`: first fires what fell due while its clocks ran
/// (returning SLA_BREACH_WARNING and SLA_BREACHED events, each once per clock and cycle),
/// then starts, pauses, stops or restarts each clock for the ticket as it is now. Run it
/// after every change of the ticket, with the change's time.
pub fn observe(ticket: &mut Ticket, now: Time) -> Vec<NewEvent> {
    let Some(targets) = ticket.sla.targets.clone() else {
        return Vec::new();
    };
    let hours = targets.business_hours.as_ref();
    let mut events = Vec::new();
    for target in Target::ALL {
        let clock = ticket.sla.clock_mut(target);
        if clock.running_since.is_none() || clock.breached {
            continue;
        }
        if let Some(due_at) = clock.due_at.filter(|due| *due <= now) {
            clock.breached = true;
            if target == Target::NextReply {
                ticket.sla.next_reply_breaches += 1;
            }
            events.push(NewEvent::new(
                EventType::SlaBreached,
                json!({ "target": target.as_str(), "due_at": due_at }),
            ));
        } else if let Some(warn_at) = clock.warn_at.filter(|at| *at <= now && !clock.warned) {
            clock.warned = true;
            events.push(NewEvent::new(
                EventType::SlaBreachWarning,
                json!({ "target": target.as_str(), "warned_at": warn_at, "due_at": clock.due_at }),
            ));
        }
    }
    let open = ticket.status.is_open();
    let held = ticket.status == TicketStatus::OnHold && targets.pause_on_hold;
    let replied = ticket.metadata.first_response_at.is_some();
    let awaiting = ticket.metrics.awaiting_reply_since;
    let on_customer = replied && awaiting.is_none() && targets.pause_waiting_on_customer;
    let first_reply = if replied {
        Phase::Met
    } else if open && !held {
        Phase::Run
    } else {
        Phase::Pause
    };
    let next_cycle = if replied { awaiting } else { None };
    let next_reply = if open && !held && next_cycle.is_some() {
        Phase::Run
    } else {
        Phase::Pause
    };
    let resolution = if !open {
        Phase::Met
    } else if held || on_customer {
        Phase::Pause
    } else {
        Phase::Run
    };
    let created = Some(ticket.created_at);
    for (target, phase, cycle) in [
        (Target::FirstReply, first_reply, created),
        (Target::NextReply, next_reply, next_cycle),
        (Target::Resolution, resolution, created),
    ] {
        let limit = target.seconds(&targets);
        sync(
            ticket.sla.clock_mut(target),
            limit,
            phase,
            cycle,
            now,
            &targets,
            hours,
        );
    }
    events
}

/// Puts a clock in `phase` at `now`.
fn sync(
    clock: &mut SlaClock,
    limit: i64,
    phase: Phase,
    cycle: Option<Time>,
    now: Time,
    targets: &SlaTargets,
    hours: Option<&BusinessHours>,
) {
    if limit <= 0 {
        // No such target (any more, after a change of policy): the clock stands still and
        // keeps what it recorded, a breach included.
        if let Some(since) = clock.running_since.take() {
            clock.used_seconds += hours::working_between(hours, since, now).num_seconds();
        }
        clock.due_at = None;
        clock.warn_at = None;
        return;
    }
    if clock.cycle != cycle {
        *clock = SlaClock {
            cycle,
            ..SlaClock::default()
        };
    }
    match (clock.running_since, phase) {
        (Some(since), Phase::Pause | Phase::Met) => {
            clock.used_seconds += hours::working_between(hours, since, now).num_seconds();
            clock.running_since = None;
            clock.due_at = None;
            clock.warn_at = None;
        }
        (None, Phase::Run) => {
            let left = (limit - clock.used_seconds).max(0);
            clock.running_since = Some(now);
            clock.met_at = None;
            clock.due_at = Some(hours::add_working(hours, now, Duration::seconds(left)));
            clock.warn_at = (targets.warn_before_seconds > 0 && !clock.warned).then(|| {
                let until = (left - targets.warn_before_seconds).max(0);
                hours::add_working(hours, now, Duration::seconds(until))
            });
        }
        _ => {}
    }
    if phase == Phase::Met && clock.met_at.is_none() && cycle.is_some() {
        clock.met_at = Some(now);
    }
}

/// Replaces the ticket's targets (its queue or severity changed, and with it the policy):
/// time counted so far stays counted, due times follow the new targets. Run it after the
/// change's `lifecycle::apply`, at the same `now`: that already fired whatever was due, so
/// the clocks only stop under the old targets and start again under the new ones.
pub fn rebase(ticket: &mut Ticket, targets: Option<SlaTargets>, now: Time) {
    if ticket.sla.targets == targets {
        return;
    }
    if let Some(old) = ticket.sla.targets.clone() {
        let hours = old.business_hours.as_ref();
        for target in Target::ALL {
            let clock = ticket.sla.clock_mut(target);
            let cycle = clock.cycle;
            sync(
                clock,
                target.seconds(&old),
                Phase::Pause,
                cycle,
                now,
                &old,
                hours,
            );
        }
    }
    ticket.sla.targets = targets;
    // Only stopped clocks are left to fire: nothing is due.
    let fired = observe(ticket, now);
    debug_assert!(fired.is_empty(), "a rebase fired {fired:?}");
}

/// How a ticket was last closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Closure {
    /// By the agent holding it.
    Assignee,
    /// By someone else (a supervisor, a service, at creation).
    Other,
    /// By the chat auto-close.
    Auto,
}

impl Closure {
    pub const ALL: [Closure; 3] = [Closure::Assignee, Closure::Other, Closure::Auto];

    pub fn as_str(self) -> &'static str {
        match self {
            Closure::Assignee => "ASSIGNEE",
            Closure::Other => "OTHER",
            Closure::Auto => "AUTO",
        }
    }
}

/// A ticket's durations (wall-clock seconds) and counts, kept with every change.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TicketMetrics {
    /// The oldest customer message not yet answered by an agent.
    pub awaiting_reply_since: Option<Time>,
    /// Waiting unassigned in its queue since.
    pub waiting_since: Option<Time>,
    /// Held by an agent (open, with an assignee) since.
    pub assigned_since: Option<Time>,
    /// On hold since.
    pub held_since: Option<Time>,
    /// Time spent waiting unassigned in its queue (not while a bot held it).
    pub unassigned_seconds: i64,
    /// Time an agent held it while open.
    pub handle_seconds: i64,
    /// Time on hold.
    pub hold_seconds: i64,
    /// From creation to the first agent reply.
    pub first_reply_seconds: Option<i64>,
    /// Agent answers to a waiting customer: how many, their total and longest wait.
    pub replies: i64,
    pub reply_seconds_total: i64,
    pub reply_seconds_max: i64,
    /// From creation to the last close.
    pub resolution_seconds: Option<i64>,
    pub reassigns: i64,
    pub transfers: i64,
    pub escalations: i64,
    pub reopens: i64,
    pub closure: Option<Closure>,
}

impl TicketMetrics {
    /// The metrics with the spans still under way counted up to `now`.
    pub fn as_of(&self, now: Time) -> TicketMetrics {
        let running = |since: Option<Time>| since.map_or(0, |s| (now - s).num_seconds().max(0));
        TicketMetrics {
            unassigned_seconds: self.unassigned_seconds + running(self.waiting_since),
            handle_seconds: self.handle_seconds + running(self.assigned_since),
            hold_seconds: self.hold_seconds + running(self.held_since),
            ..self.clone()
        }
    }
}

/// Messages: a customer's message starts a wait for an answer, an agent's visible message
/// ends it (counted as a reply). Messages to a closed ticket wait for nobody. Returns whether
/// the metrics changed.
pub fn on_message(ticket: &mut Ticket, from_customer: bool, from_agent: bool, now: Time) -> bool {
    if !ticket.status.is_open() {
        return false;
    }
    let metrics = &mut ticket.metrics;
    if from_customer && metrics.awaiting_reply_since.is_none() {
        metrics.awaiting_reply_since = Some(now);
        return true;
    }
    if from_agent && let Some(since) = metrics.awaiting_reply_since.take() {
        let waited = (now - since).num_seconds().max(0);
        metrics.replies += 1;
        metrics.reply_seconds_total += waited;
        metrics.reply_seconds_max = metrics.reply_seconds_max.max(waited);
        return true;
    }
    false
}

/// Brings the metrics up to date after `events` changed the ticket at `now` (`actor` made
/// the change).
pub fn track(ticket: &mut Ticket, events: &[NewEvent], actor: &str, now: Time) {
    let open = ticket.status.is_open();
    let waiting = ticket.status == TicketStatus::Created
        && ticket.assignee.is_none()
        && ticket.bot_id.is_none();
    let assigned = open && ticket.assignee.is_some();
    let held = ticket.status == TicketStatus::OnHold;
    let metrics = &mut ticket.metrics;
    span(
        &mut metrics.waiting_since,
        &mut metrics.unassigned_seconds,
        waiting,
        now,
    );
    span(
        &mut metrics.assigned_since,
        &mut metrics.handle_seconds,
        assigned,
        now,
    );
    span(
        &mut metrics.held_since,
        &mut metrics.hold_seconds,
        held,
        now,
    );
    metrics.first_reply_seconds = ticket
        .metadata
        .first_response_at
        .map(|at| (at - ticket.created_at).num_seconds().max(0));
    if !open {
        metrics.awaiting_reply_since = None;
    }
    for event in events {
        match event.event_type {
            EventType::Reassigned => metrics.reassigns += 1,
            EventType::Transferred => metrics.transfers += 1,
            EventType::Escalated => metrics.escalations += 1,
            EventType::Reopened => {
                // A reopened ticket is the support's to answer.
                metrics.awaiting_reply_since.get_or_insert(now);
                metrics.reopens += 1;
                metrics.resolution_seconds = None;
                metrics.closure = None;
            }
            EventType::Closed | EventType::AutoClosed => {
                metrics.resolution_seconds = Some((now - ticket.created_at).num_seconds().max(0));
                metrics.closure = Some(if event.event_type == EventType::AutoClosed {
                    Closure::Auto
                } else if ticket.assignee.as_deref() == Some(actor_id(actor)) {
                    Closure::Assignee
                } else {
                    Closure::Other
                });
            }
            _ => {}
        }
    }
}

/// A span of time the ticket is in some state: opens when `now_in` starts, adds its length
/// to `total` when it ends.
fn span(since: &mut Option<Time>, total: &mut i64, now_in: bool, now: Time) {
    match (*since, now_in) {
        (None, true) => *since = Some(now),
        (Some(start), false) => {
            *total += (now - start).num_seconds().max(0);
            *since = None;
        }
        _ => {}
    }
}
