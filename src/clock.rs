//! Time comes from a `Clock` so timers and tests never depend on the wall clock.
use chrono::{DateTime, Utc};
use std::sync::{Arc, Mutex};

pub type Time = DateTime<Utc>;

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Time;
}

/// The real clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Time {
        Utc::now()
    }
}

/// A clock that only moves when told to (tests, simulations).
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<Mutex<Time>>);

impl ManualClock {
    pub fn new(start: Time) -> Self {
        ManualClock(Arc::new(Mutex::new(start)))
    }

    pub fn advance(&self, by: chrono::Duration) {
        let mut now = self.0.lock().unwrap_or_else(|e| e.into_inner());
        *now += by;
    }

    pub fn set(&self, to: Time) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = to;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Time {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Microseconds since the Unix epoch: the storage form of every time.
pub fn to_micros(t: Time) -> i64 {
    t.timestamp_micros()
}

pub fn from_micros(micros: i64) -> Time {
    DateTime::from_timestamp_micros(micros).unwrap_or_default()
}
