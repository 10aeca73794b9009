//! Report figures: every change of a ticket adds to counters kept per 15-minute slot (UTC)
//! and per queue, agent and channel, in the same transaction as its events. Reports add up
//! slots instead of replaying the event log; any time zone's hours, days and weeks are whole
//! slots (every zone's offset is a multiple of 15 minutes).
//!
//! What each counter counts, at the time of the change:
//! - `created`, `closed`, `reopened`: those events;
//! - `backlog`: open tickets coming into (+1) or leaving (−1) the group (created, closed,
//!   reopened, moved to another queue or agent), so a group's backlog at any time is the sum
//!   of its deltas before it;
//! - `sla_closed`, `sla_within`: closes of tickets under an SLA policy, and of those the ones
//!   with no target missed;
//! - `breaches`: SLA_BREACHED events;
//! - `ratings[s-1]`: ratings of score `s`;
//! - durations: the first-reply time when the first reply comes, the resolution time (creation
//!   to close) at each close.
use crate::clock::Time;
use crate::domain::{EventType, NewEvent, Ticket};
use serde::{Deserialize, Serialize};

/// Length of a slot in seconds.
pub const SLOT_SECONDS: i64 = 900;

/// The slot of an instant.
pub fn slot(at: Time) -> i64 {
    at.timestamp().div_euclid(SLOT_SECONDS)
}

/// The instant a slot starts.
pub fn slot_start(slot: i64) -> Time {
    chrono::DateTime::from_timestamp(slot * SLOT_SECONDS, 0).unwrap_or_default()
}

/// Who a figure belongs to: the ticket's queue, its agent ("" when unassigned) and channel.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct GroupKey {
    pub queue: String,
    pub agent: String,
    pub channel: String,
}

impl GroupKey {
    pub fn of(ticket: &Ticket) -> GroupKey {
        GroupKey {
            queue: ticket.queue.clone(),
            agent: ticket.assignee.clone().unwrap_or_default(),
            channel: ticket.channel.clone(),
        }
    }
}

/// Counters of one slot and group.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub created: i64,
    pub closed: i64,
    pub reopened: i64,
    pub backlog: i64,
    pub breaches: i64,
    pub sla_closed: i64,
    pub sla_within: i64,
    pub ratings: [i64; 5],
}

impl Counts {
    pub fn add(&mut self, other: &Counts) {
        self.created += other.created;
        self.closed += other.closed;
        self.reopened += other.reopened;
        self.backlog += other.backlog;
        self.breaches += other.breaches;
        self.sla_closed += other.sla_closed;
        self.sla_within += other.sla_within;
        for (mine, theirs) in self.ratings.iter_mut().zip(other.ratings) {
            *mine += theirs;
        }
    }

    fn is_zero(&self) -> bool {
        *self == Counts::default()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DurationKind {
    FirstReply,
    Resolution,
}

impl DurationKind {
    pub const ALL: [DurationKind; 2] = [DurationKind::FirstReply, DurationKind::Resolution];

    pub fn as_str(self) -> &'static str {
        match self {
            DurationKind::FirstReply => "FIRST_REPLY",
            DurationKind::Resolution => "RESOLUTION",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == s)
    }
}

/// Durations are kept exact to the second below `EXACT_BELOW` seconds and, above, rounded
/// down to 8 significant bits (less than 0.8% off): at most about 2,400 distinct values up to
/// a year, so a report's percentiles come from few rows however many tickets it covers.
pub const EXACT_BELOW: i64 = 256;

/// The stored value of a duration.
pub fn duration_bucket(seconds: i64) -> i64 {
    if seconds < EXACT_BELOW {
        return seconds.max(0);
    }
    let shift = 63 - seconds.leading_zeros() as i64 - 7;
    (seconds >> shift) << shift
}

/// Shards each group's counters are split over.
pub const SHARDS: i64 = 16;

/// What one change adds to the report tables (see [`merge`] for how a transaction writes
/// them).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReportDelta {
    pub slot: i64,
    /// The ticket's shard: concurrent changes of different tickets seldom share a row.
    pub shard: i64,
    pub counts: Vec<(GroupKey, Counts)>,
    pub durations: Vec<(GroupKey, DurationKind, i64)>,
}

impl ReportDelta {
    pub fn is_empty(&self) -> bool {
        self.counts.is_empty() && self.durations.is_empty()
    }
}

/// The figures a change adds: `before` is the ticket as it was (`None` for a new one),
/// `after` as it is now, `events` what the change wrote, at `at`.
pub fn delta(
    before: Option<&Ticket>,
    after: &Ticket,
    events: &[NewEvent],
    at: Time,
) -> ReportDelta {
    let key = GroupKey::of(after);
    let mut counts: Vec<(GroupKey, Counts)> = Vec::new();
    let mut add = |key: &GroupKey, change: Counts| match counts.iter_mut().find(|(k, _)| k == key) {
        Some((_, existing)) => existing.add(&change),
        None => counts.push((key.clone(), change)),
    };
    // Backlog: the ticket leaves its old group and enters its new one when it was or is open
    // and its group or openness changed.
    let was = before.filter(|t| t.status.is_open()).map(GroupKey::of);
    let is = after.status.is_open().then(|| key.clone());
    if was != is {
        if let Some(old) = &was {
            add(
                old,
                Counts {
                    backlog: -1,
                    ..Counts::default()
                },
            );
        }
        if let Some(new) = &is {
            add(
                new,
                Counts {
                    backlog: 1,
                    ..Counts::default()
                },
            );
        }
    }
    let mut durations = Vec::new();
    for event in events {
        let mut change = Counts::default();
        match event.event_type {
            EventType::Created => change.created = 1,
            EventType::Reopened => change.reopened = 1,
            EventType::Closed | EventType::AutoClosed => {
                change.closed = 1;
                if after.sla.targets.is_some() {
                    change.sla_closed = 1;
                    change.sla_within = i64::from(after.sla.within_sla());
                }
                if let Some(seconds) = after.metrics.resolution_seconds {
                    durations.push((
                        key.clone(),
                        DurationKind::Resolution,
                        duration_bucket(seconds),
                    ));
                }
            }
            EventType::SlaBreached => change.breaches = 1,
            EventType::Rated => {
                if let Some(score) = after.rating.as_ref().map(|r| r.score)
                    && (1..=5).contains(&score)
                {
                    change.ratings[(score - 1) as usize] = 1;
                }
            }
            _ => {}
        }
        if !change.is_zero() {
            add(&key, change);
        }
    }
    // The first reply is the change that sets `first_response_at` (a ticket stored before the
    // metrics existed gets its `first_reply_seconds` filled in later, by any change).
    let replied_before = before.is_some_and(|t| t.metadata.first_response_at.is_some());
    if let (false, Some(seconds)) = (replied_before, after.metrics.first_reply_seconds) {
        durations.push((
            key.clone(),
            DurationKind::FirstReply,
            duration_bucket(seconds),
        ));
    }
    counts.retain(|(_, c)| !c.is_zero());
    let hash = after
        .id
        .bytes()
        .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
    ReportDelta {
        slot: slot(at),
        shard: (hash % SHARDS as u64) as i64,
        counts,
        durations,
    }
}

/// The report rows of one transaction's changes, merged and in one global order (counters by
/// slot, group and shard; durations by kind, slot, group, value and shard). Written last and
/// in this order, no two transactions wait on each other's report rows in a cycle.
pub fn merge(deltas: &[ReportDelta]) -> (Vec<ShardCounts>, Vec<ShardDurations>) {
    use std::collections::BTreeMap;
    let mut counts: BTreeMap<(i64, GroupKey, i64), Counts> = BTreeMap::new();
    let mut durations: BTreeMap<(DurationKind, i64, GroupKey, i64, i64), i64> = BTreeMap::new();
    for delta in deltas {
        for (key, change) in &delta.counts {
            counts
                .entry((delta.slot, key.clone(), delta.shard))
                .or_default()
                .add(change);
        }
        for (key, kind, seconds) in &delta.durations {
            *durations
                .entry((*kind, delta.slot, key.clone(), *seconds, delta.shard))
                .or_default() += 1;
        }
    }
    (
        counts
            .into_iter()
            .filter(|(_, c)| !c.is_zero())
            .map(|((slot, key, shard), counts)| ShardCounts {
                slot,
                shard,
                key,
                counts,
            })
            .collect(),
        durations
            .into_iter()
            .map(
                |((kind, slot, key, seconds, shard), tickets)| ShardDurations {
                    kind,
                    slot,
                    shard,
                    key,
                    seconds,
                    tickets,
                },
            )
            .collect(),
    )
}

/// Counters to add to one stored row.
#[derive(Debug, Clone, PartialEq)]
pub struct ShardCounts {
    pub slot: i64,
    pub shard: i64,
    pub key: GroupKey,
    pub counts: Counts,
}

/// Tickets to add to one stored duration row.
#[derive(Debug, Clone, PartialEq)]
pub struct ShardDurations {
    pub kind: DurationKind,
    pub slot: i64,
    pub shard: i64,
    pub key: GroupKey,
    pub seconds: i64,
    pub tickets: i64,
}

/// A bucket's counters of one group, added up by the store.
#[derive(Debug, Clone, PartialEq)]
pub struct BucketCounts {
    /// Index into the report's buckets.
    pub bucket: usize,
    pub group: String,
    pub counts: Counts,
}

/// How many tickets of a group took `seconds` (first reply or resolution) in a bucket.
#[derive(Debug, Clone, PartialEq)]
pub struct BucketDurations {
    pub bucket: usize,
    pub group: String,
    pub kind: DurationKind,
    pub seconds: i64,
    pub tickets: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    Hour,
    Day,
    /// Monday to Sunday.
    Week,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    /// One row per bucket.
    Nothing,
    Queue,
    Agent,
    Channel,
}

/// What a report covers: the slots starting in `[start, end)`, bucketed by local time.
#[derive(Debug, Clone)]
pub struct ReportSpec {
    pub start: Time,
    pub end: Time,
    pub time_zone: chrono_tz::Tz,
    pub bucket: Bucket,
    pub group_by: GroupBy,
}

impl ReportSpec {
    /// The slots the report reads, `[from, to)`.
    pub fn slots(&self) -> (i64, i64) {
        (
            slot(self.start),
            slot(self.end - chrono::Duration::seconds(1)) + 1,
        )
    }

    /// The local start of the bucket holding `slot`.
    fn bucket_of(&self, slot: i64) -> chrono::NaiveDateTime {
        use chrono::{Datelike, Timelike};
        let local = slot_start(slot)
            .with_timezone(&self.time_zone)
            .naive_local();
        let day = local.date();
        match self.bucket {
            Bucket::Hour => local
                .with_minute(0)
                .and_then(|t| t.with_second(0))
                .unwrap_or(local),
            Bucket::Day => day.and_time(chrono::NaiveTime::MIN),
            Bucket::Week => {
                let monday =
                    day - chrono::Duration::days(i64::from(day.weekday().num_days_from_monday()));
                monday.and_time(chrono::NaiveTime::MIN)
            }
        }
    }

    /// The buckets of the report in order, each a run of whole slots.
    pub fn buckets(&self) -> Vec<ReportBucket> {
        let (from, to) = self.slots();
        let mut buckets: Vec<ReportBucket> = Vec::new();
        for slot in from..to {
            let local = self.bucket_of(slot);
            match buckets.last_mut() {
                Some(last) if last.local == local => last.slots.1 = slot + 1,
                _ => buckets.push(ReportBucket {
                    local,
                    start: slot_start(slot).max(self.start),
                    slots: (slot, slot + 1),
                }),
            }
        }
        buckets
    }
}

/// One bucket of a report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportBucket {
    /// Its local start.
    pub local: chrono::NaiveDateTime,
    /// The first instant counted in it.
    pub start: Time,
    /// Its slots, `[from, to)`.
    pub slots: (i64, i64),
}

/// Count, median and 90th percentile (nearest rank) of durations in seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub count: i64,
    pub median: Option<i64>,
    pub p90: Option<i64>,
}

impl Stats {
    /// From `(seconds, tickets)` pairs.
    pub fn of(mut values: Vec<(i64, i64)>) -> Stats {
        values.sort_unstable();
        let count: i64 = values.iter().map(|(_, n)| n).sum();
        let rank = |p: i64| -> Option<i64> {
            // The smallest value with at least ceil(p% of count) values at or below it.
            let wanted = (count * p + 99) / 100;
            let mut seen = 0;
            values.iter().find_map(|(seconds, n)| {
                seen += n;
                (seen >= wanted.max(1)).then_some(*seconds)
            })
        };
        Stats {
            count,
            median: rank(50),
            p90: rank(90),
        }
    }
}

/// One row of a report: a bucket and a group.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportRow {
    /// The bucket's first instant in the report.
    pub start: Time,
    /// The bucket's local start, `YYYY-MM-DD HH:MM`.
    pub label: String,
    /// The group (queue id, agent id — empty for unassigned —, channel); empty without
    /// grouping.
    pub group: String,
    /// Counters of the bucket; `backlog` is the backlog at the bucket's end.
    pub counts: Counts,
    pub first_reply: Stats,
    pub resolution: Stats,
}

impl ReportRow {
    /// Share of closes under an SLA policy that missed no target.
    pub fn within_sla_share(&self) -> Option<f64> {
        (self.counts.sla_closed > 0)
            .then(|| self.counts.sla_within as f64 / self.counts.sla_closed as f64)
    }

    pub fn ratings(&self) -> i64 {
        self.counts.ratings.iter().sum()
    }

    /// Average rating (CSAT), 1–5.
    pub fn rating_average(&self) -> Option<f64> {
        let total: i64 = (1..=5)
            .zip(self.counts.ratings)
            .map(|(score, n)| score * n)
            .sum();
        (self.ratings() > 0).then(|| total as f64 / self.ratings() as f64)
    }
}

/// Builds a report from the counters the store added up per bucket and group, and each
/// group's backlog before the first bucket.
pub fn build(
    spec: &ReportSpec,
    buckets: &[ReportBucket],
    backlog_before: &[(String, i64)],
    counts: Vec<BucketCounts>,
    durations: Vec<BucketDurations>,
) -> Vec<ReportRow> {
    use std::collections::{BTreeMap, BTreeSet};
    let mut groups: BTreeSet<String> = BTreeSet::new();
    let mut backlog: BTreeMap<String, i64> = BTreeMap::new();
    for (group, value) in backlog_before {
        if *value != 0 {
            *backlog.entry(group.clone()).or_default() += value;
            groups.insert(group.clone());
        }
    }
    let mut cells: BTreeMap<(usize, String), Counts> = BTreeMap::new();
    for row in counts {
        groups.insert(row.group.clone());
        cells
            .entry((row.bucket, row.group))
            .or_default()
            .add(&row.counts);
    }
    let mut times: BTreeMap<(usize, String, DurationKind), Vec<(i64, i64)>> = BTreeMap::new();
    for row in durations {
        groups.insert(row.group.clone());
        times
            .entry((row.bucket, row.group, row.kind))
            .or_default()
            .push((row.seconds, row.tickets));
    }
    if spec.group_by == GroupBy::Nothing {
        groups.insert(String::new());
    }
    let mut rows = Vec::with_capacity(buckets.len() * groups.len());
    for (i, bucket) in buckets.iter().enumerate() {
        for group in &groups {
            let mut counts = cells.remove(&(i, group.clone())).unwrap_or_default();
            let running = backlog.entry(group.clone()).or_default();
            *running += counts.backlog;
            counts.backlog = *running;
            let mut stats =
                |kind| Stats::of(times.remove(&(i, group.clone(), kind)).unwrap_or_default());
            rows.push(ReportRow {
                start: bucket.start,
                label: bucket.local.format("%Y-%m-%d %H:%M").to_string(),
                group: group.clone(),
                counts,
                first_reply: stats(DurationKind::FirstReply),
                resolution: stats(DurationKind::Resolution),
            });
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_exact_below_the_limit_and_close_above() {
        for seconds in [0, 1, 59, 255] {
            assert_eq!(duration_bucket(seconds), seconds);
        }
        for seconds in [256, 257, 4097, 9_999, 86_400, 3_000_000, 31_536_000] {
            let bucket = duration_bucket(seconds);
            assert!(
                bucket <= seconds && (seconds - bucket) * 128 < seconds,
                "{seconds} → {bucket}"
            );
        }
        let distinct: std::collections::BTreeSet<i64> =
            (0..31_536_000).step_by(97).map(duration_bucket).collect();
        assert!(distinct.len() < 2500, "{}", distinct.len());
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let stats = Stats::of(vec![(30, 1), (10, 1), (20, 1), (40, 1)]);
        assert_eq!(
            (stats.count, stats.median, stats.p90),
            (4, Some(20), Some(40))
        );
        let stats = Stats::of((1..=10).map(|s| (s, 1)).collect());
        assert_eq!((stats.median, stats.p90), (Some(5), Some(9)));
        let stats = Stats::of(vec![(7, 3)]);
        assert_eq!((stats.median, stats.p90), (Some(7), Some(7)));
        assert_eq!(Stats::of(Vec::new()), Stats::default());
    }

    #[test]
    fn days_follow_the_time_zone_across_a_dst_change() {
        let at = |s: &str| {
            chrono::DateTime::parse_from_rfc3339(s)
                .expect("time")
                .to_utc()
        };
        let spec = ReportSpec {
            start: at("2026-03-28T00:00:00+01:00"),
            end: at("2026-03-31T00:00:00+02:00"),
            time_zone: chrono_tz::Europe::Berlin,
            bucket: Bucket::Day,
            group_by: GroupBy::Nothing,
        };
        let buckets = spec.buckets();
        let starts: Vec<_> = buckets.iter().map(|b| b.start).collect();
        assert_eq!(
            starts,
            vec![
                at("2026-03-28T00:00:00+01:00"),
                at("2026-03-29T00:00:00+01:00"),
                at("2026-03-30T00:00:00+02:00"),
            ]
        );
        // The 29th has 23 hours: 92 slots.
        let lengths: Vec<_> = buckets.iter().map(|b| b.slots.1 - b.slots.0).collect();
        assert_eq!(lengths, vec![96, 92, 96]);
    }
}
