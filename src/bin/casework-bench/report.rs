//! Latency histograms and the one JSON line each run prints.
use crate::Result;
use hdrhistogram::Histogram;
use serde::Serialize;
use std::time::Duration;

/// Microsecond histogram from 1 µs to an hour (a slow peer's reads wait minutes behind the
/// calls ahead of them), 3 significant digits.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds")
}

pub fn record(histogram: &mut Histogram<u64>, latency: Duration) {
    histogram.saturating_record((latency.as_micros() as u64).max(1));
}

/// Latencies and errors of the measured part of a run.
pub struct Tally {
    pub histogram: Histogram<u64>,
    pub errors: u64,
    pub first_error: Option<String>,
}

impl Tally {
    pub fn new() -> Tally {
        Tally {
            histogram: histogram(),
            errors: 0,
            first_error: None,
        }
    }

    pub fn add(&mut self, latency: Duration, outcome: Result<()>) {
        match outcome {
            Ok(()) => record(&mut self.histogram, latency),
            Err(error) => {
                self.errors += 1;
                self.first_error.get_or_insert_with(|| error.to_string());
            }
        }
    }

    pub fn merge(&mut self, other: Tally) {
        self.histogram.add(&other.histogram).expect("same bounds");
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }
}

#[derive(Serialize)]
pub struct Report {
    pub workload: String,
    /// `closed` (N in flight) or `open` (fixed rate).
    pub mode: &'static str,
    pub concurrency: usize,
    /// Offered calls per second (open loop).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
    pub seconds: f64,
    pub calls: u64,
    pub errors: u64,
    pub per_second: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    /// The first error seen, to tell a broken setup from a slow server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_error: Option<String>,
}

impl Report {
    pub fn new(
        workload: &str,
        mode: &'static str,
        concurrency: usize,
        rate: Option<f64>,
        elapsed: Duration,
        tally: &Tally,
    ) -> Report {
        let histogram = &tally.histogram;
        let ms = |q: f64| histogram.value_at_quantile(q) as f64 / 1000.0;
        let calls = histogram.len();
        Report {
            workload: workload.into(),
            mode,
            concurrency,
            rate,
            seconds: elapsed.as_secs_f64(),
            calls,
            errors: tally.errors,
            per_second: calls as f64 / elapsed.as_secs_f64(),
            p50_ms: ms(0.5),
            p90_ms: ms(0.9),
            p99_ms: ms(0.99),
            p999_ms: ms(0.999),
            max_ms: histogram.max() as f64 / 1000.0,
            first_error: tally.first_error.clone(),
        }
    }

    pub fn print(&self) {
        println!(
            "{}",
            serde_json::to_string(self).expect("a report is plain data")
        );
    }
}
