//! Report figures: every change of a ticket adds to figures kept per 15-minute slot (UTC),
//! once per queue and channel and once per queue and agent ([`ReportTable`]), in the same
//! transaction as its events, and again per hour ([`Grain`]). Reports add up rows instead of
//! replaying the event log; any time zone's hours, days and weeks are whole slots (every
//! zone's offset is a multiple of 15 minutes), and a report reads each whole UTC hour of a
//! bucket from one hour row ([`row_ranges`]).
//!
//! What each counter counts, at the time of the change:
//! - `created`, `closed`, `reopened`: those events (a reopen in the group that closed it);
//! - `backlog`: open tickets coming into (+1) or leaving (−1) the group (created, closed,
//!   reopened, moved to another queue or agent), so a group's backlog at any time is the sum
//!   of its deltas before it;
//! - `sla_closed`, `sla_within`: closes of tickets under an SLA policy, and of those the ones
//!   with no target missed;
//! - `breaches`: SLA_BREACHED events;
//! - `ratings[s-1]`: ratings of score `s`;
//! - durations (exact, in seconds): the first-reply time when the first reply comes, the
//!   resolution time (creation to close) at each close.
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

/// How much time a stored row covers: one slot, or a whole UTC hour (keyed by its first
/// slot). Every figure is stored at both grains, so a report reads the whole hours of its
/// buckets from hour rows and only a bucket's quarter-hour edges (zones off the hour) from
/// slot rows ([`row_ranges`]): about a quarter of the rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Grain {
    Slot,
    Hour,
}

impl Grain {
    pub const ALL: [Grain; 2] = [Grain::Slot, Grain::Hour];

    /// The slots a row of this grain covers.
    pub fn slots(self) -> i64 {
        match self {
            Grain::Slot => 1,
            Grain::Hour => 3600 / SLOT_SECONDS,
        }
    }

    /// The first slot of the row of this grain that holds `slot`.
    pub fn start(self, slot: i64) -> i64 {
        slot - slot.rem_euclid(self.slots())
    }

    /// The rows of this grain that lie wholly inside the slots `[lo, hi)`: those whose first
    /// slot is in the range returned.
    pub fn inside(self, (lo, hi): (i64, i64)) -> (i64, i64) {
        (
            self.start(lo.saturating_add(self.slots() - 1)),
            self.start(hi),
        )
    }
}

/// Stored rows a report reads for one of its buckets: those of `grain` whose first slot is in
/// `[from, to)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowRange {
    /// Index into the report's buckets.
    pub bucket: usize,
    pub grain: Grain,
    pub from: i64,
    pub to: i64,
}

/// The stored rows that hold exactly the slots of each bucket (`[lo, hi)`, in order): the
/// whole hours inside a bucket from hour rows, the slots before and after them from slot rows.
pub fn row_ranges(buckets: &[(i64, i64)]) -> Vec<RowRange> {
    let mut ranges = Vec::new();
    for (bucket, &(lo, hi)) in buckets.iter().enumerate() {
        let (first_hour, last_hour) = Grain::Hour.inside((lo, hi));
        let parts = if first_hour < last_hour {
            vec![
                (Grain::Slot, lo, first_hour),
                (Grain::Hour, first_hour, last_hour),
                (Grain::Slot, last_hour, hi),
            ]
        } else {
            vec![(Grain::Slot, lo, hi)]
        };
        ranges.extend(parts.into_iter().filter(|(_, from, to)| from < to).map(
            |(grain, from, to)| RowRange {
                bucket,
                grain,
                from,
                to,
            },
        ));
    }
    ranges
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

/// Counters of one row (a slot or an hour) and group.
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

/// Shards each group's counters are split over while their slot or hour is current, so
/// concurrent changes of different tickets seldom wait on one row; [`ReportRows::compacted`]
/// folds the shards of past rows into shard 0 ([`compaction_ranges`]).
pub const SHARDS: i64 = 16;

/// The shard compaction folds a past row's shards into.
pub const COMPACTED_SHARD: i64 = 0;

/// The rows compaction folds for the slots `[lo, hi)`: `(grain, from, to)`, each the rows of
/// that grain whose first slot is in `[from, to)` — those lying wholly inside the slots (an
/// hour is folded once its last slot is in them).
pub fn compaction_ranges(slots: (i64, i64)) -> Vec<(Grain, i64, i64)> {
    Grain::ALL
        .into_iter()
        .map(|grain| {
            let (from, to) = grain.inside(slots);
            (grain, from, to)
        })
        .collect()
}

/// What one change adds to the report tables (see [`ReportRows`] for how a transaction
/// writes them).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReportDelta {
    pub slot: i64,
    /// The ticket's shard.
    pub shard: i64,
    pub counts: Vec<(GroupKey, Counts)>,
    /// Durations in seconds.
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
            // Counted where the ticket was closed: a reopen reflects on who resolved it,
            // not on the queue or nobody it goes back to.
            EventType::Reopened => {
                let closed_by = before.map_or_else(|| key.clone(), GroupKey::of);
                add(
                    &closed_by,
                    Counts {
                        reopened: 1,
                        ..Counts::default()
                    },
                );
            }
            EventType::Closed | EventType::AutoClosed => {
                change.closed = 1;
                if after.sla.targets.is_some() {
                    change.sla_closed = 1;
                    change.sla_within = i64::from(after.sla.within_sla());
                }
                if let Some(seconds) = after.metrics.resolution_seconds {
                    durations.push((key.clone(), DurationKind::Resolution, seconds.max(0)));
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
        durations.push((key.clone(), DurationKind::FirstReply, seconds.max(0)));
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

/// The two stored views of the figures: by queue and channel (for reports by queue, by
/// channel or of everything) and by queue and agent (for reports by agent). Each report reads
/// one, so neither carries the other's dimension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ReportTable {
    ByChannel,
    ByAgent,
}

impl ReportTable {
    pub const ALL: [ReportTable; 2] = [ReportTable::ByChannel, ReportTable::ByAgent];

    /// The table a report grouped so reads.
    pub fn for_group(group_by: GroupBy) -> ReportTable {
        match group_by {
            GroupBy::Agent => ReportTable::ByAgent,
            GroupBy::Nothing | GroupBy::Queue | GroupBy::Channel => ReportTable::ByChannel,
        }
    }

    /// The group key's second part in this table.
    fn by(self, key: &GroupKey) -> &str {
        match self {
            ReportTable::ByChannel => &key.channel,
            ReportTable::ByAgent => &key.agent,
        }
    }
}

/// A stored report row's key: its grain and first slot, queue, channel or agent (by table)
/// and shard.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RowKey {
    pub grain: Grain,
    pub slot: i64,
    pub queue: String,
    pub by: String,
    pub shard: i64,
}

/// A stored report row's figures: counters, and the durations (seconds) of the first replies
/// and resolutions counted in it, kept exact.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Figures {
    pub counts: Counts,
    pub first_reply: Vec<i64>,
    pub resolution: Vec<i64>,
}

impl Figures {
    pub fn add(&mut self, other: &Figures) {
        self.counts.add(&other.counts);
        self.first_reply.extend_from_slice(&other.first_reply);
        self.resolution.extend_from_slice(&other.resolution);
    }

    fn durations_mut(&mut self, kind: DurationKind) -> &mut Vec<i64> {
        match kind {
            DurationKind::FirstReply => &mut self.first_reply,
            DurationKind::Resolution => &mut self.resolution,
        }
    }

    fn is_empty(&self) -> bool {
        self.counts.is_zero() && self.first_reply.is_empty() && self.resolution.is_empty()
    }
}

/// A list of durations as stored: each value followed by a comma, so stored lists add up by
/// concatenation (`||`, `string_agg`).
pub fn encode_durations(seconds: &[i64]) -> String {
    use std::fmt::Write;
    let mut list = String::with_capacity(seconds.len() * 6);
    for value in seconds {
        let _ = write!(list, "{value},");
    }
    list
}

/// The durations of a stored list (`encode_durations`), appended to `into`.
pub fn decode_durations(list: &str, into: &mut Vec<i64>) -> Result<(), String> {
    for value in list.split_terminator(',') {
        into.push(
            value
                .parse()
                .map_err(|e| format!("stored duration {value:?}: {e}"))?,
        );
    }
    Ok(())
}

/// The report rows a transaction adds, merged per stored row. Written just before the commit
/// and in key order (table, grain, slot, queue, channel or agent, shard), no two transactions
/// wait on each other's report rows in a cycle.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReportRows(std::collections::BTreeMap<(ReportTable, RowKey), Figures>);

impl ReportRows {
    /// Adds a change's figures to both tables, at both grains.
    pub fn add_delta(&mut self, delta: &ReportDelta) {
        for (table, grain) in ReportTable::ALL
            .into_iter()
            .flat_map(|table| Grain::ALL.map(|grain| (table, grain)))
        {
            let key = |group: &GroupKey| RowKey {
                grain,
                slot: grain.start(delta.slot),
                queue: group.queue.clone(),
                by: table.by(group).to_string(),
                shard: delta.shard,
            };
            for (group, counts) in &delta.counts {
                self.entry(table, key(group)).counts.add(counts);
            }
            for (group, kind, seconds) in &delta.durations {
                self.entry(table, key(group))
                    .durations_mut(*kind)
                    .push(*seconds);
            }
        }
    }

    /// Adds a stored row's figures (read back by compaction).
    pub fn add(&mut self, table: ReportTable, key: RowKey, figures: &Figures) {
        self.entry(table, key).add(figures);
    }

    /// Rows a compaction read back: each added to [`COMPACTED_SHARD`] of its slot or hour and
    /// group.
    pub fn compacted(table: ReportTable, rows: Vec<(RowKey, Figures)>) -> ReportRows {
        let mut merged = ReportRows::default();
        for (key, figures) in rows {
            let key = RowKey {
                shard: COMPACTED_SHARD,
                ..key
            };
            merged.add(table, key, &figures);
        }
        merged
    }

    /// Takes another set's rows.
    pub fn append(&mut self, other: ReportRows) {
        for ((table, key), figures) in other.0 {
            self.add(table, key, &figures);
        }
    }

    fn entry(&mut self, table: ReportTable, key: RowKey) -> &mut Figures {
        self.0.entry((table, key)).or_default()
    }

    /// The rows to write, in the global order.
    pub fn into_rows(self) -> impl Iterator<Item = (ReportTable, RowKey, Figures)> {
        self.0
            .into_iter()
            .filter(|(_, figures)| !figures.is_empty())
            .map(|((table, key), figures)| (table, key, figures))
    }
}

/// A bucket's figures of one group, added up by the store.
#[derive(Debug, Clone, PartialEq)]
pub struct BucketFigures {
    /// Index into the report's buckets.
    pub bucket: usize,
    pub group: String,
    pub figures: Figures,
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
    pub fn of(mut values: Vec<i64>) -> Stats {
        values.sort_unstable();
        let count = values.len();
        // The smallest value with at least ceil(p% of count) values at or below it.
        let rank = |p: usize| values.get((count * p).div_ceil(100).max(1) - 1).copied();
        Stats {
            count: count as i64,
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

/// Builds a report from the figures the store added up per bucket and group, and each
/// group's backlog before the first bucket.
pub fn build(
    spec: &ReportSpec,
    buckets: &[ReportBucket],
    backlog_before: &[(String, i64)],
    cells: Vec<BucketFigures>,
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
    let mut figures: BTreeMap<(usize, String), Figures> = BTreeMap::new();
    for cell in cells {
        groups.insert(cell.group.clone());
        figures
            .entry((cell.bucket, cell.group))
            .or_default()
            .add(&cell.figures);
    }
    if spec.group_by == GroupBy::Nothing {
        groups.insert(String::new());
    }
    let mut rows = Vec::with_capacity(buckets.len() * groups.len());
    for (i, bucket) in buckets.iter().enumerate() {
        for group in &groups {
            let Figures {
                mut counts,
                first_reply,
                resolution,
            } = figures.remove(&(i, group.clone())).unwrap_or_default();
            let running = backlog.entry(group.clone()).or_default();
            *running += counts.backlog;
            counts.backlog = *running;
            rows.push(ReportRow {
                start: bucket.start,
                label: bucket.local.format("%Y-%m-%d %H:%M").to_string(),
                group: group.clone(),
                counts,
                first_reply: Stats::of(first_reply),
                resolution: Stats::of(resolution),
            });
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(bucket: usize, grain: Grain, from: i64, to: i64) -> RowRange {
        RowRange {
            bucket,
            grain,
            from,
            to,
        }
    }

    #[test]
    fn buckets_read_whole_hours_from_hour_rows_and_their_edges_from_slot_rows() {
        use Grain::{Hour, Slot};
        // A day on the hour (slot 400 is 100:00 UTC in slots), a day at half past (India), a
        // bucket inside one hour, and everything before slot 402 (a backlog).
        let day = 24 * 4;
        let ranges = row_ranges(&[
            (400, 400 + day),
            (402, 402 + day),
            (401, 403),
            (i64::MIN, 402),
        ]);
        assert_eq!(
            ranges,
            vec![
                range(0, Hour, 400, 400 + day),
                range(1, Slot, 402, 404),
                range(1, Hour, 404, 400 + day),
                range(1, Slot, 400 + day, 402 + day),
                range(2, Slot, 401, 403),
                range(3, Hour, i64::MIN, 400),
                range(3, Slot, 400, 402),
            ]
        );
        assert_eq!(Grain::Hour.start(-1), -4);
        assert_eq!(Grain::Hour.inside((-3, 9)), (0, 8));
        assert_eq!(Grain::Slot.inside((-3, 9)), (-3, 9));
    }

    #[test]
    fn a_change_is_stored_at_both_grains_in_both_tables() {
        let group = GroupKey {
            queue: "q".into(),
            agent: "a".into(),
            channel: "chat".into(),
        };
        let mut rows = ReportRows::default();
        rows.add_delta(&ReportDelta {
            slot: 403,
            shard: 5,
            counts: vec![(
                group,
                Counts {
                    created: 1,
                    ..Counts::default()
                },
            )],
            durations: vec![],
        });
        let keys: Vec<(ReportTable, Grain, i64, String)> = rows
            .into_rows()
            .map(|(table, key, _)| (table, key.grain, key.slot, key.by))
            .collect();
        assert_eq!(
            keys,
            vec![
                (ReportTable::ByChannel, Grain::Slot, 403, "chat".to_string()),
                (ReportTable::ByChannel, Grain::Hour, 400, "chat".to_string()),
                (ReportTable::ByAgent, Grain::Slot, 403, "a".to_string()),
                (ReportTable::ByAgent, Grain::Hour, 400, "a".to_string()),
            ]
        );
    }

    #[test]
    fn duration_lists_add_up_by_concatenation() {
        let mut stored = encode_durations(&[0, 59, 86_400]);
        stored.push_str(&encode_durations(&[31_536_000]));
        stored.push_str(&encode_durations(&[]));
        let mut values = Vec::new();
        decode_durations(&stored, &mut values).expect("stored list");
        assert_eq!(values, vec![0, 59, 86_400, 31_536_000]);
        assert!(decode_durations("12,x,", &mut values).is_err());
    }

    #[test]
    fn compaction_keeps_every_figure() {
        let group = GroupKey {
            queue: "q".into(),
            agent: "a".into(),
            channel: "chat".into(),
        };
        let change = |shard, seconds| ReportDelta {
            slot: 7,
            shard,
            counts: vec![(
                group.clone(),
                Counts {
                    closed: 1,
                    ..Counts::default()
                },
            )],
            durations: vec![(group.clone(), DurationKind::Resolution, seconds)],
        };
        let mut written = ReportRows::default();
        written.add_delta(&change(3, 10));
        written.add_delta(&change(5, 20));
        let stored: Vec<_> = written
            .into_rows()
            .filter(|(table, key, _)| *table == ReportTable::ByAgent && key.grain == Grain::Slot)
            .map(|(_, key, figures)| (key, figures))
            .collect();
        assert_eq!(stored.len(), 2);
        let rows: Vec<_> = ReportRows::compacted(ReportTable::ByAgent, stored)
            .into_rows()
            .collect();
        assert_eq!(rows.len(), 1);
        let (table, key, figures) = &rows[0];
        assert_eq!(
            (*table, key.grain, key.slot, key.shard, key.by.as_str()),
            (ReportTable::ByAgent, Grain::Slot, 7, 0, "a")
        );
        assert_eq!(
            (figures.counts.closed, figures.resolution.clone()),
            (2, vec![10, 20])
        );
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let stats = Stats::of(vec![30, 10, 20, 40]);
        assert_eq!(
            (stats.count, stats.median, stats.p90),
            (4, Some(20), Some(40))
        );
        let stats = Stats::of((1..=10).collect());
        assert_eq!((stats.median, stats.p90), (Some(5), Some(9)));
        let stats = Stats::of(vec![7, 7, 7]);
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
