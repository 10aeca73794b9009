//! Business hours for SLA targets: when a queue has business hours, an SLA target (say four hours
//! to first reply) counts only working time.
//!
//! Working time is the real elapsed time during which the queue's local wall clock (in its IANA
//! time zone) reads a time inside one of the weekly spans of a local date that is not a holiday.
//! Across offset changes this is computed exactly rather than by resolving single local times:
//! with offset `o1` before a change at instant `f` and `o2` after it, the wall clock reads local
//! time `l` at the instant `l - o1` if that is before `f`, and/or at `l - o2` if that is at or after
//! `f`. What follows for daylight saving time:
//! - A span's length is its real length: Berlin 09:00–17:00 is 8 hours on any day, Sunday
//!   00:00–06:00 is 5 hours on a spring-forward day and 7 hours on a fall-back day.
//! - A span edge that falls in a skipped hour (spring forward) takes effect at the first instant
//!   after the gap, when the clock jumps past it: 02:30–06:00 on 2026-03-29 in Berlin runs from
//!   03:00 CEST, 3 hours; 00:00–02:30 that day ends at the jump, 2 hours.
//! - A span edge in a repeated hour (fall back) is crossed twice, and both passes count: 02:30–06:00
//!   on 2026-10-25 in Berlin is 02:30–03:00 CEST plus 02:30 CET–06:00 CET, 4 hours (the half hour
//!   in which the clock reads 02:00–02:30 for the second time is outside the span), while
//!   00:00–02:30 is 00:00–02:30 CEST plus 02:00–02:30 CET, 3 hours. Touching spans still add up to
//!   their union (3 + 4 = 7 hours for 00:00–06:00).
//!
//! The computation assumes at most one offset change within any three days of a zone, which holds
//! for every zone's rules; a zone that skips a whole local date (Pacific/Apia, 2011-12-30) simply
//! has no working time on it.

use crate::clock::Time;

use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeZone};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// How far past `from` [`BusinessHours::add_working`] searches before it gives up: about ten
/// years. When the hours and holidays leave too little working time in that span (none at all,
/// or a minute a week against a long target), it returns `from` plus this: as good as never, and
/// the search stays bounded however sparse the hours.
pub const SEARCH_HORIZON_DAYS: i64 = 3653;

const MAX_SPANS: usize = 7 * 8;
const MAX_HOLIDAYS: usize = 1000;
const END_OF_DAY: u16 = 1440;
/// Width of the windows in which working intervals are computed and consumed in time order.
const WINDOW_DAYS: i64 = 7;

/// One working span of a weekday in local wall-clock time, as minutes after local midnight,
/// 0..=1440 (1440 = end of day); the span covers `start_minute..end_minute`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkingSpan {
    pub weekday: chrono::Weekday,
    pub start_minute: u16,
    pub end_minute: u16,
}

/// The business hours of a queue: weekly spans in a time zone, minus holidays.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BusinessHours {
    /// IANA time zone name, e.g. "Europe/Berlin".
    pub time_zone: String,
    pub weekly: Vec<WorkingSpan>,
    /// Local dates on which nobody works.
    pub holidays: Vec<NaiveDate>,
}

impl BusinessHours {
    /// Checks the hours; the error names the offending field and says why, e.g.
    /// `("time_zone", "unknown time zone \"Mars/Base\"")` or `("weekly[2]", "ends before it starts")`.
    /// Refuses an unknown time zone, no spans at all (a queue that never works), more than 56
    /// spans or 1000 holidays, a span that ends after 1440 or does not end after it starts, and
    /// two spans of the same weekday that overlap (touching, as 9–12 and 12–17, is fine).
    pub fn validate(&self) -> Result<(), (String, String)> {
        let refuse = |field: &str, why: String| Err((field.to_string(), why));
        if self.time_zone.parse::<Tz>().is_err() {
            return refuse(
                "time_zone",
                format!("unknown time zone {:?}", self.time_zone),
            );
        }
        if self.weekly.is_empty() {
            return refuse("weekly", "has no spans: the queue would never work".into());
        }
        if self.weekly.len() > MAX_SPANS {
            return refuse("weekly", format!("has more than {MAX_SPANS} spans"));
        }
        if self.holidays.len() > MAX_HOLIDAYS {
            return refuse("holidays", format!("has more than {MAX_HOLIDAYS} dates"));
        }
        for (i, span) in self.weekly.iter().enumerate() {
            let why = if span.end_minute > END_OF_DAY {
                "ends after the end of the day (end_minute > 1440)".to_string()
            } else if span.start_minute > span.end_minute {
                "ends before it starts".to_string()
            } else if span.start_minute == span.end_minute {
                "is empty: it ends where it starts".to_string()
            } else if let Some(j) = self.weekly[..i].iter().position(|other| {
                other.weekday == span.weekday
                    && other.start_minute < span.end_minute
                    && span.start_minute < other.end_minute
            }) {
                format!("overlaps weekly[{j}]")
            } else {
                continue;
            };
            return refuse(&format!("weekly[{i}]"), why);
        }
        Ok(())
    }

    /// Working time between `from` and `to` (zero when `to <= from`).
    pub fn working_between(&self, from: Time, to: Time) -> chrono::Duration {
        let calendar = Calendar::new(self);
        let (mut total, mut window, to) =
            (chrono::Duration::zero(), from.naive_utc(), to.naive_utc());
        while window < to {
            let end = window_end(window, to);
            total += calendar
                .intervals(window, end)
                .iter()
                .map(|(a, b)| *b - *a)
                .sum::<chrono::Duration>();
            window = end;
        }
        total
    }

    /// The instant at which `working` of working time has passed since `from`. When `from` lies
    /// outside working hours the clock starts at the next opening (so from closing time it rolls
    /// to the next opening); a result that exhausts a span is that span's closing instant.
    /// `working` of zero (or less) returns `from` unchanged. The search walks the calendar day by
    /// day and gives up [`SEARCH_HORIZON_DAYS`] after `from` (see there).
    pub fn add_working(&self, from: Time, working: chrono::Duration) -> Time {
        if working <= chrono::Duration::zero() {
            return from;
        }
        let calendar = Calendar::new(self);
        let (mut left, mut window) = (working, from.naive_utc());
        let limit = horizon(window);
        while window < limit {
            let end = window_end(window, limit);
            for (a, b) in calendar.intervals(window, end) {
                if b - a >= left {
                    return (a + left).and_utc();
                }
                left -= b - a;
            }
            window = end;
        }
        limit.and_utc()
    }
}

/// Working time between two instants under optional hours (`None` = around the clock).
pub fn working_between(hours: Option<&BusinessHours>, from: Time, to: Time) -> chrono::Duration {
    match hours {
        Some(hours) => hours.working_between(from, to),
        None => (to - from).max(chrono::Duration::zero()),
    }
}

/// The instant at which `working` of working time has passed since `from` under optional hours
/// (`None` = around the clock); see [`BusinessHours::add_working`].
pub fn add_working(hours: Option<&BusinessHours>, from: Time, working: chrono::Duration) -> Time {
    match hours {
        Some(hours) => hours.add_working(from, working),
        None => from
            .checked_add_signed(working.max(chrono::Duration::zero()))
            .unwrap_or(Time::MAX_UTC),
    }
}

fn horizon(t: NaiveDateTime) -> NaiveDateTime {
    t.checked_add_signed(chrono::Duration::days(SEARCH_HORIZON_DAYS))
        .unwrap_or(NaiveDateTime::MAX)
}

fn window_end(window: NaiveDateTime, limit: NaiveDateTime) -> NaiveDateTime {
    window
        .checked_add_signed(chrono::Duration::days(WINDOW_DAYS))
        .map_or(limit, |end| end.min(limit))
}

/// Hours prepared for computing: the parsed zone (UTC when it does not parse, which validated
/// hours never do), spans by weekday from Monday, and the holidays. Times are naive UTC.
struct Calendar {
    tz: Tz,
    days: [Vec<(u16, u16)>; 7],
    holidays: HashSet<NaiveDate>,
}

impl Calendar {
    fn new(hours: &BusinessHours) -> Self {
        let mut days: [Vec<(u16, u16)>; 7] = Default::default();
        for span in &hours.weekly {
            let day = span.weekday.num_days_from_monday() as usize;
            days[day].push((span.start_minute, span.end_minute.min(END_OF_DAY)));
        }
        Calendar {
            tz: hours.time_zone.parse().unwrap_or(Tz::UTC),
            days,
            holidays: hours.holidays.iter().copied().collect(),
        }
    }

    /// The zone's offset (local minus UTC) at an instant.
    fn offset(&self, utc: NaiveDateTime) -> chrono::Duration {
        chrono::Duration::seconds(
            self.tz
                .offset_from_utc_datetime(&utc)
                .fix()
                .local_minus_utc()
                .into(),
        )
    }

    /// Working intervals within `[from, to)`, clipped to it, in time order.
    fn intervals(
        &self,
        from: NaiveDateTime,
        to: NaiveDateTime,
    ) -> Vec<(NaiveDateTime, NaiveDateTime)> {
        // Offsets are under a day, so a local date is within a day of the UTC date.
        let first = from.date().pred_opt().unwrap_or(from.date());
        let last = to.date().succ_opt().unwrap_or(to.date());
        let mut all = Vec::new();
        for date in first.iter_days().take_while(|date| *date <= last) {
            // None only at the ends of chrono's range, where there is nothing to count.
            let _ = self.day_intervals(date, &mut all);
        }
        all.retain_mut(|(a, b)| {
            (*a, *b) = ((*a).max(from), (*b).min(to));
            a < b
        });
        all.sort_unstable();
        all
    }

    /// Appends the instants at which the wall clock is inside a span of local `date` (see the
    /// module documentation for offset changes).
    fn day_intervals(
        &self,
        date: NaiveDate,
        out: &mut Vec<(NaiveDateTime, NaiveDateTime)>,
    ) -> Option<()> {
        let spans = &self.days[date.weekday().num_days_from_monday() as usize];
        if spans.is_empty() || self.holidays.contains(&date) {
            return Some(());
        }
        let day = chrono::Duration::days(1);
        let midnight = date.and_time(NaiveTime::MIN);
        let (lo, hi) = (
            midnight.checked_sub_signed(day)?,
            midnight.checked_add_signed(day * 2)?,
        );
        let (before, after) = (self.offset(lo), self.offset(hi));
        let change = (before != after).then(|| self.change(lo, hi, before));
        for &(start, end) in spans {
            let start = midnight.checked_add_signed(chrono::Duration::minutes(start.into()))?;
            let end = midnight.checked_add_signed(chrono::Duration::minutes(end.into()))?;
            let (s1, e1) = (
                start.checked_sub_signed(before)?,
                end.checked_sub_signed(before)?,
            );
            match change {
                None => out.push((s1, e1)),
                Some(change) => {
                    let (s2, e2) = (
                        start.checked_sub_signed(after)?,
                        end.checked_sub_signed(after)?,
                    );
                    out.push((s1, e1.min(change)));
                    out.push((s2.max(change), e2));
                }
            }
        }
        Some(())
    }

    /// The first whole second in `(lo, hi]` whose offset is no longer `before`.
    fn change(
        &self,
        mut lo: NaiveDateTime,
        mut hi: NaiveDateTime,
        before: chrono::Duration,
    ) -> NaiveDateTime {
        while hi - lo > chrono::Duration::seconds(1) {
            let mid = lo + chrono::Duration::seconds((hi - lo).num_seconds() / 2);
            if self.offset(mid) == before {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        hi
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Weekday::{self, Fri, Mon, Sat, Sun, Thu, Tue, Wed};
    use chrono::{Duration, Utc};

    fn hours(tz: &str, spans: &[(Weekday, u16, u16)], holidays: &[NaiveDate]) -> BusinessHours {
        let weekly = spans
            .iter()
            .map(|&(weekday, start_minute, end_minute)| WorkingSpan {
                weekday,
                start_minute,
                end_minute,
            })
            .collect();
        BusinessHours {
            time_zone: tz.into(),
            weekly,
            holidays: holidays.to_vec(),
        }
    }

    fn weekdays(start: u16, end: u16) -> Vec<(Weekday, u16, u16)> {
        [Mon, Tue, Wed, Thu, Fri]
            .iter()
            .map(|&day| (day, start, end))
            .collect()
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    /// An unambiguous local time in `tz`, as UTC.
    fn local(tz: &str, y: i32, mo: u32, d: u32, h: u32, mi: u32) -> Time {
        let tz: Tz = tz.parse().unwrap();
        tz.with_ymd_and_hms(y, mo, d, h, mi, 0)
            .single()
            .unwrap()
            .with_timezone(&Utc)
    }

    fn berlin(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> Time {
        local("Europe/Berlin", y, mo, d, h, mi)
    }

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> Time {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).single().unwrap()
    }

    const H: u16 = 60;

    #[test]
    fn validate_accepts_sound_hours_and_touching_spans() {
        let mut spans = weekdays(9 * H, 12 * H);
        spans.extend(weekdays(12 * H, 17 * H));
        spans.push((Sat, 0, 1440));
        assert_eq!(
            hours("Europe/Berlin", &spans, &[date(2026, 12, 25)]).validate(),
            Ok(())
        );
    }

    #[test]
    fn validate_refuses_with_field_and_reason() {
        let ok = hours("Europe/Berlin", &weekdays(9 * H, 17 * H), &[]);
        let with = |change: &dyn Fn(&mut BusinessHours)| {
            let mut hours = ok.clone();
            change(&mut hours);
            hours.validate().unwrap_err()
        };
        let cases: Vec<((String, String), &str, &str)> = vec![
            (
                with(&|h| h.time_zone = "Mars/Base".into()),
                "time_zone",
                "unknown time zone \"Mars/Base\"",
            ),
            (with(&|h| h.weekly.clear()), "weekly", "no spans"),
            (
                with(&|h| h.weekly = vec![h.weekly[0]; 57]),
                "weekly",
                "more than 56",
            ),
            (
                with(&|h| h.holidays = vec![date(2026, 1, 1); 1001]),
                "holidays",
                "more than 1000",
            ),
            (
                with(&|h| h.weekly[2].start_minute = 18 * H),
                "weekly[2]",
                "ends before it starts",
            ),
            (
                with(&|h| h.weekly[1].end_minute = 9 * H),
                "weekly[1]",
                "empty",
            ),
            (
                with(&|h| h.weekly[3].end_minute = 1441),
                "weekly[3]",
                "end of the day",
            ),
            (
                with(&|h| {
                    h.weekly.push(WorkingSpan {
                        weekday: Wed,
                        start_minute: 16 * H,
                        end_minute: 18 * H,
                    })
                }),
                "weekly[5]",
                "overlaps weekly[2]",
            ),
        ];
        for ((field, why), want_field, want_why) in cases {
            assert_eq!(field, want_field, "{why}");
            assert!(why.contains(want_why), "{field}: {why}");
        }
        // 56 spans and 1000 holidays are still fine.
        let mut spans: Vec<_> = (0..8).flat_map(|i| weekdays(i * H, i * H + 30)).collect();
        spans.extend((0..16).map(|i| (Sat, i * H, i * H + 1)));
        let holidays: Vec<_> = date(2026, 1, 1).iter_days().take(1000).collect();
        let many = hours("Europe/Berlin", &spans, &holidays);
        assert_eq!(many.weekly.len(), 56);
        assert_eq!(many.validate(), Ok(()));
    }

    #[test]
    fn spring_forward_counts_real_elapsed_time() {
        // 2026-03-29 (Sunday): Berlin jumps 02:00 CET -> 03:00 CEST.
        let mut spans = weekdays(9 * H, 17 * H);
        spans.extend([(Sun, 0, 6 * H), (Sun, 9 * H, 17 * H)]);
        let h = hours("Europe/Berlin", &spans, &[]);
        assert_eq!(
            h.working_between(berlin(2026, 3, 28, 12, 0), berlin(2026, 3, 29, 8, 0)),
            Duration::hours(5)
        );
        assert_eq!(
            h.working_between(berlin(2026, 3, 29, 8, 0), berlin(2026, 3, 29, 18, 0)),
            Duration::hours(8)
        );
        assert_eq!(
            h.working_between(berlin(2026, 3, 30, 0, 0), berlin(2026, 3, 31, 0, 0)),
            Duration::hours(8)
        );
        assert_eq!(
            h.add_working(berlin(2026, 3, 28, 12, 0), Duration::hours(5)),
            utc(2026, 3, 29, 4, 0)
        );
        assert_eq!(
            h.add_working(berlin(2026, 3, 29, 0, 0), Duration::hours(13)),
            berlin(2026, 3, 29, 17, 0)
        );
    }

    #[test]
    fn fall_back_counts_real_elapsed_time() {
        // 2026-10-25 (Sunday): Berlin goes back 03:00 CEST -> 02:00 CET.
        let mut spans = weekdays(9 * H, 17 * H);
        spans.extend([(Sun, 0, 6 * H), (Sun, 9 * H, 17 * H)]);
        let h = hours("Europe/Berlin", &spans, &[]);
        assert_eq!(
            h.working_between(berlin(2026, 10, 24, 12, 0), berlin(2026, 10, 25, 8, 0)),
            Duration::hours(7)
        );
        assert_eq!(
            h.working_between(berlin(2026, 10, 25, 8, 0), berlin(2026, 10, 25, 18, 0)),
            Duration::hours(8)
        );
        assert_eq!(
            h.working_between(berlin(2026, 10, 26, 0, 0), berlin(2026, 10, 27, 0, 0)),
            Duration::hours(8)
        );
        assert_eq!(
            h.add_working(berlin(2026, 10, 24, 12, 0), Duration::hours(7)),
            utc(2026, 10, 25, 5, 0)
        );
        // Three real hours after 00:00 CEST the clock reads 02:00 for the second time.
        assert_eq!(
            h.add_working(berlin(2026, 10, 25, 0, 0), Duration::hours(3)),
            utc(2026, 10, 25, 1, 0)
        );
    }

    #[test]
    fn span_edges_in_skipped_or_repeated_hour() {
        let early = hours("Europe/Berlin", &[(Sun, 0, 150)], &[]);
        let late = hours("Europe/Berlin", &[(Sun, 150, 6 * H)], &[]);
        let (sat, mon) = (utc(2026, 3, 28, 12, 0), utc(2026, 3, 30, 12, 0));
        // Spring forward: 00:00 CET until the jump at 01:00 UTC; then 03:00 CEST to 06:00 CEST.
        assert_eq!(early.working_between(sat, mon), Duration::hours(2));
        assert_eq!(late.working_between(sat, mon), Duration::hours(3));
        assert_eq!(
            late.add_working(sat, Duration::minutes(1)),
            utc(2026, 3, 29, 1, 1)
        );
        assert_eq!(
            early.add_working(sat, Duration::hours(2)),
            utc(2026, 3, 29, 1, 0)
        );
        // Fall back: the clock reads 02:00-03:00 twice, from 00:00 and from 01:00 UTC.
        let (sat, mon) = (utc(2026, 10, 24, 12, 0), utc(2026, 10, 26, 12, 0));
        assert_eq!(early.working_between(sat, mon), Duration::hours(3));
        assert_eq!(late.working_between(sat, mon), Duration::hours(4));
        assert_eq!(
            early.add_working(sat, Duration::minutes(150)),
            utc(2026, 10, 25, 0, 30)
        );
        assert_eq!(
            early.add_working(sat, Duration::minutes(151)),
            utc(2026, 10, 25, 1, 1)
        );
        assert_eq!(
            late.add_working(sat, Duration::minutes(30)),
            utc(2026, 10, 25, 1, 0)
        );
        assert_eq!(
            late.add_working(sat, Duration::minutes(31)),
            utc(2026, 10, 25, 1, 31)
        );
    }

    #[test]
    fn weekend_and_holiday_are_skipped() {
        assert_eq!(date(2026, 12, 25).weekday(), Fri);
        let h = hours(
            "Europe/Berlin",
            &weekdays(9 * H, 17 * H),
            &[date(2026, 12, 25)],
        );
        let from = berlin(2026, 12, 24, 16, 0);
        let due = h.add_working(from, Duration::hours(2));
        assert_eq!(due, berlin(2026, 12, 28, 10, 0));
        assert_eq!(h.working_between(from, due), Duration::hours(2));
        assert_eq!(
            h.working_between(berlin(2026, 12, 21, 0, 0), berlin(2026, 12, 28, 0, 0)),
            Duration::hours(32)
        );
    }

    #[test]
    fn clock_starts_at_next_opening() {
        let h = hours("Europe/Berlin", &weekdays(9 * H, 17 * H), &[]);
        let saturday = berlin(2026, 6, 6, 10, 0);
        assert_eq!(
            h.add_working(saturday, Duration::hours(1)),
            berlin(2026, 6, 8, 10, 0)
        );
        assert_eq!(h.add_working(saturday, Duration::zero()), saturday);
        assert_eq!(h.add_working(saturday, Duration::hours(-1)), saturday);
        assert_eq!(
            h.working_between(saturday, berlin(2026, 6, 8, 9, 0)),
            Duration::zero()
        );
        let closing = berlin(2026, 6, 5, 17, 0);
        assert_eq!(
            h.add_working(closing, Duration::minutes(30)),
            berlin(2026, 6, 8, 9, 30)
        );
        let monday_close = berlin(2026, 6, 8, 17, 0);
        assert_eq!(
            h.add_working(monday_close, Duration::minutes(1)),
            berlin(2026, 6, 9, 9, 1)
        );
        // A target that uses up a day ends at closing time, not at the next opening.
        assert_eq!(
            h.add_working(berlin(2026, 6, 8, 9, 0), Duration::hours(8)),
            monday_close
        );
        assert_eq!(h.working_between(monday_close, saturday), Duration::zero());
    }

    #[test]
    fn several_spans_per_weekday() {
        let mut spans = weekdays(9 * H, 12 * H);
        spans.extend(weekdays(13 * H, 17 * H));
        let h = hours("Europe/Berlin", &spans, &[]);
        let monday = |hh, mm| berlin(2026, 6, 8, hh, mm);
        assert_eq!(
            h.working_between(monday(0, 0), berlin(2026, 6, 9, 0, 0)),
            Duration::hours(7)
        );
        assert_eq!(
            h.add_working(monday(11, 0), Duration::hours(2)),
            monday(14, 0)
        );
        assert_eq!(
            h.add_working(monday(12, 0), Duration::minutes(1)),
            monday(13, 1)
        );
        assert_eq!(
            h.add_working(monday(11, 0), Duration::hours(1)),
            monday(12, 0)
        );
        assert_eq!(
            h.add_working(monday(16, 0), Duration::hours(2)),
            berlin(2026, 6, 9, 10, 0)
        );
        assert_eq!(
            h.working_between(monday(11, 30), monday(13, 30)),
            Duration::hours(1)
        );
    }

    #[test]
    fn half_hour_offset_zone() {
        // Asia/Kolkata is UTC+05:30 all year.
        let h = hours("Asia/Kolkata", &[(Mon, 9 * H + 30, 18 * H)], &[]);
        assert_eq!(
            h.add_working(utc(2026, 6, 1, 0, 0), Duration::hours(1)),
            utc(2026, 6, 1, 5, 0)
        );
        // 12:00 UTC is 17:30 IST: half an hour today, ten minutes after next Monday's 09:30.
        assert_eq!(
            h.add_working(utc(2026, 6, 1, 12, 0), Duration::minutes(40)),
            utc(2026, 6, 8, 4, 10)
        );
        assert_eq!(
            h.working_between(utc(2026, 6, 1, 0, 0), utc(2026, 6, 2, 0, 0)),
            Duration::minutes(510)
        );
    }

    #[test]
    fn add_working_and_working_between_are_inverses() {
        let mut office = weekdays(9 * H, 12 * H);
        office.extend(weekdays(13 * H, 17 * H));
        office.extend([(Sun, 0, 150), (Sun, 150, 6 * H)]);
        let mut lord_howe: Vec<_> = [Mon, Tue, Wed, Thu, Fri, Sat, Sun]
            .iter()
            .map(|&d| (d, 60, 3 * H))
            .collect();
        lord_howe.push((Sun, 5 * H, 1440));
        let mut kolkata = weekdays(9 * H + 30, 18 * H);
        kolkata.push((Sat, 9 * H + 30, 13 * H));
        let all = [
            hours(
                "Europe/Berlin",
                &office,
                &[date(2026, 3, 30), date(2026, 12, 25), date(2026, 12, 28)],
            ),
            hours(
                "Europe/Berlin",
                &[(Fri, 22 * H, 1440), (Sat, 0, 2 * H), (Wed, 10 * H, 11 * H)],
                &[],
            ),
            hours("Asia/Kolkata", &kolkata, &[date(2026, 10, 2)]),
            hours("America/New_York", &weekdays(9 * H, 17 * H), &[]),
            // DST of half an hour at 02:00 local (spring forward in October, back in April).
            hours("Australia/Lord_Howe", &lord_howe, &[]),
        ];
        let targets = [1, 29, 60, 150, 480, 481, 2400, 12000].map(Duration::minutes);
        let bases = [
            utc(2026, 3, 5, 0, 0),
            utc(2026, 3, 25, 0, 0),
            utc(2026, 4, 1, 0, 0),
            utc(2026, 10, 1, 0, 0),
            utc(2026, 10, 20, 0, 0),
            utc(2026, 12, 20, 0, 0),
        ];
        let step = Duration::seconds(5 * 3600 + 17 * 60 + 13);
        let mut checked = 0;
        for h in &all {
            assert_eq!(h.validate(), Ok(()), "{}", h.time_zone);
            for base in bases {
                for k in 0..30 {
                    let from = base + step * k;
                    for d in targets {
                        let due = h.add_working(from, d);
                        assert_eq!(
                            h.working_between(from, due),
                            d,
                            "{} from {from} + {d}",
                            h.time_zone
                        );
                        assert!(h.working_between(from, due - Duration::seconds(1)) < d);
                        let mid = from + (due - from) / 3;
                        let split = h.working_between(from, mid) + h.working_between(mid, due);
                        assert_eq!(split, d, "{} split at {mid}", h.time_zone);
                        checked += 1;
                    }
                }
            }
        }
        assert_eq!(checked, 5 * 6 * 30 * 8);
    }

    #[test]
    fn long_targets_walk_day_by_day() {
        let h = hours(
            "Europe/Berlin",
            &weekdays(9 * H, 17 * H),
            &[date(2026, 12, 25)],
        );
        let from = berlin(2026, 1, 5, 9, 0);
        // 30 working days of 8 hours: six weeks.
        assert_eq!(
            h.add_working(from, Duration::hours(240)),
            berlin(2026, 2, 13, 17, 0)
        );
        let year = Duration::hours(8 * 260);
        let due = h.add_working(from, year);
        assert_eq!(h.working_between(from, due), year);
        assert!(
            due > berlin(2026, 12, 31, 0, 0) && due < berlin(2027, 1, 8, 0, 0),
            "{due}"
        );
    }

    #[test]
    fn search_gives_up_after_the_horizon() {
        let from = utc(2026, 1, 1, 0, 0);
        let sundays: Vec<_> = date(2026, 1, 4).iter_weeks().take(11 * 53).collect();
        let h = hours("Europe/Berlin", &[(Sun, 9 * H, 17 * H)], &sundays);
        assert_eq!(h.validate(), Ok(()));
        let end = from + Duration::days(SEARCH_HORIZON_DAYS);
        assert_eq!(h.add_working(from, Duration::hours(1)), end);
        // Unvalidated hours do not panic: no spans, or a zone that does not parse (taken as UTC).
        let never = hours("Europe/Berlin", &[], &[]);
        assert_eq!(never.add_working(from, Duration::hours(1)), end);
        // A minute a week against a year's target: bounded, not ten thousand years of weeks.
        let sparse = hours("UTC", &[(Mon, 0, 1)], &[]);
        assert_eq!(sparse.validate(), Ok(()));
        assert_eq!(sparse.add_working(from, Duration::days(365)), end);
        assert_eq!(never.working_between(from, end), Duration::zero());
        let mars = hours("Mars/Base", &[(Thu, 0, 60)], &[]);
        assert_eq!(
            mars.add_working(from, Duration::minutes(30)),
            utc(2026, 1, 1, 0, 30)
        );
        let inverted = hours("UTC", &[(Thu, 120, 60), (Thu, 0, 2000)], &[]);
        assert_eq!(
            inverted.working_between(from, utc(2026, 1, 2, 0, 0)),
            Duration::hours(24)
        );
    }

    #[test]
    fn around_the_clock_without_hours() {
        let from = utc(2026, 6, 6, 10, 0);
        assert_eq!(
            add_working(None, from, Duration::hours(30)),
            utc(2026, 6, 7, 16, 0)
        );
        assert_eq!(add_working(None, from, Duration::hours(-3)), from);
        assert_eq!(
            working_between(None, from, utc(2026, 6, 7, 16, 0)),
            Duration::hours(30)
        );
        assert_eq!(
            working_between(None, from, utc(2026, 6, 5, 0, 0)),
            Duration::zero()
        );
        let h = hours("Europe/Berlin", &weekdays(9 * H, 17 * H), &[]);
        assert_eq!(
            add_working(Some(&h), from, Duration::hours(1)),
            berlin(2026, 6, 8, 10, 0)
        );
        assert_eq!(
            working_between(Some(&h), from, berlin(2026, 6, 8, 10, 0)),
            Duration::hours(1)
        );
    }
}
