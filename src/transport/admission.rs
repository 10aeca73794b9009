//! Admission control, shared by gRPC (and grpc-web) and REST: calls in flight server-wide and
//! per credential, open streams per credential, an optional rate per credential, and
//! connections per client address. A call
//! past a limit is refused at once with a hint of when to retry, never queued: queued calls
//! only make every other caller wait too.
use crate::config::Limits;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The gauge of streams open on this server (each holds its place until its body ends or its
/// client is gone).
const OPEN_STREAMS: &str = "casework_open_streams";

/// How long a client refused for load is told to wait before retrying.
const BUSY_RETRY: Duration = Duration::from_millis(100);

/// Why a call was refused, and when to try again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// The server as a whole is at its limit (503), not this caller (429).
    pub server_wide: bool,
    pub reason: String,
    pub retry_after: Duration,
}

pub struct Admission {
    in_flight: Arc<Semaphore>,
    max_in_flight: usize,
    calls: Counters,
    streams: Counters,
    connections: Counters,
    rate: Option<DefaultKeyedRateLimiter<String>>,
}

/// A call's place: held until its answer is ready.
pub struct Admitted {
    _server: OwnedSemaphorePermit,
    _caller: Option<Counted>,
}

impl Admission {
    pub fn new(limits: &Limits) -> Arc<Admission> {
        let rate = NonZeroU32::new(limits.rate_limit_per_second).map(|per_second| {
            let burst = NonZeroU32::new(limits.rate_limit_burst).unwrap_or(per_second);
            RateLimiter::keyed(Quota::per_second(per_second).allow_burst(burst))
        });
        Arc::new(Admission {
            in_flight: Arc::new(Semaphore::new(limits.max_calls_in_flight)),
            max_in_flight: limits.max_calls_in_flight,
            calls: Counters::new(limits.max_calls_per_principal, "calls in flight", None),
            streams: Counters::new(
                limits.max_streams_per_principal,
                "open streams",
                Some(OPEN_STREAMS),
            ),
            connections: Counters::new(limits.max_connections_per_address, "connections", None),
            rate,
        })
    }

    /// Takes a place for one call of `credential` (`None`: a caller without a valid token,
    /// which only the server-wide limit holds; the call is refused later, unauthenticated).
    pub fn admit(&self, credential: Option<&str>) -> Result<Admitted, Refused> {
        if let (Some(rate), Some(key)) = (&self.rate, credential) {
            let key = key.to_string();
            if let Err(not_until) = rate.check_key(&key) {
                return Err(Refused {
                    server_wide: false,
                    reason: "too many calls per second for this credential".into(),
                    retry_after: not_until.wait_time_from(DefaultClock::default().now()),
                });
            }
        }
        let server = self
            .in_flight
            .clone()
            .try_acquire_owned()
            .map_err(|_| Refused {
                server_wide: true,
                reason: format!(
                    "the server is at its limit of {} calls in flight",
                    self.max_in_flight
                ),
                retry_after: BUSY_RETRY,
            })?;
        let caller = credential.map(|key| self.calls.take(key)).transpose()?;
        Ok(Admitted {
            _server: server,
            _caller: caller,
        })
    }

    /// Takes a place for one open stream of `credential`, held for the stream's life.
    pub fn admit_stream(&self, credential: Option<&str>) -> Result<Option<Counted>, Refused> {
        credential.map(|key| self.streams.take(key)).transpose()
    }

    /// Takes a place for one connection from `address`, held for the connection's life.
    pub fn admit_connection(&self, address: std::net::IpAddr) -> Result<Counted, Refused> {
        self.connections.take(&address.to_string())
    }

    /// Forgets rate state of credentials that have been quiet (run now and then).
    pub fn forget_quiet(&self) {
        if let Some(rate) = &self.rate {
            rate.retain_recent();
            rate.shrink_to_fit();
        }
    }
}

/// Counts per credential, each up to `limit`, and their sum in `gauge` if it has one.
struct Counters {
    limit: usize,
    what: &'static str,
    gauge: Option<&'static str>,
    counts: Arc<Mutex<HashMap<String, usize>>>,
}

impl Counters {
    fn new(limit: usize, what: &'static str, gauge: Option<&'static str>) -> Counters {
        Counters {
            limit,
            what,
            gauge,
            counts: Arc::default(),
        }
    }

    fn take(&self, key: &str) -> Result<Counted, Refused> {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let count = counts.entry(key.to_string()).or_insert(0);
        if *count >= self.limit {
            return Err(Refused {
                server_wide: false,
                reason: format!(
                    "this credential is at its limit of {} {}",
                    self.limit, self.what
                ),
                retry_after: BUSY_RETRY,
            });
        }
        *count += 1;
        if let Some(gauge) = self.gauge {
            metrics::gauge!(gauge).increment(1.0);
        }
        Ok(Counted {
            counts: self.counts.clone(),
            key: key.to_string(),
            gauge: self.gauge,
        })
    }
}

/// One unit of a credential's count, given back when dropped.
pub struct Counted {
    counts: Arc<Mutex<HashMap<String, usize>>>,
    key: String,
    gauge: Option<&'static str>,
}

impl Drop for Counted {
    fn drop(&mut self) {
        if let Some(gauge) = self.gauge {
            metrics::gauge!(gauge).decrement(1.0);
        }
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = counts.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(in_flight: usize, per_principal: usize, rate: u32) -> Limits {
        Limits {
            max_calls_in_flight: in_flight,
            max_calls_per_principal: per_principal,
            max_streams_per_principal: 1,
            rate_limit_per_second: rate,
            rate_limit_burst: 2,
            ..Limits::default()
        }
    }

    #[test]
    fn each_limit_admits_up_to_its_edge_and_refuses_one_past() {
        let admission = Admission::new(&limits(3, 2, 0));
        let a1 = admission.admit(Some("agent:a")).expect("first of a");
        let _a2 = admission.admit(Some("agent:a")).expect("second of a");
        let refused = admission.admit(Some("agent:a")).err().expect("third of a");
        assert!(!refused.server_wide, "{refused:?}");
        let _b = admission
            .admit(Some("agent:b"))
            .expect("b has its own share");
        let refused = admission.admit(None).err().expect("server full");
        assert!(refused.server_wide, "{refused:?}");
        drop(a1);
        admission
            .admit(Some("agent:a"))
            .expect("a's place came back");
        let stream = admission.admit_stream(Some("agent:a")).expect("one stream");
        assert!(admission.admit_stream(Some("agent:a")).is_err());
        drop(stream);
        assert!(admission.admit_stream(Some("agent:a")).is_ok());
    }

    #[test]
    fn the_rate_limit_refuses_past_the_burst_with_a_time_to_wait() {
        let admission = Admission::new(&limits(100, 100, 1));
        admission.admit(Some("agent:a")).expect("burst 1");
        admission.admit(Some("agent:a")).expect("burst 2");
        let refused = admission
            .admit(Some("agent:a"))
            .err()
            .expect("past the burst");
        assert!(
            refused.retry_after > Duration::ZERO && refused.retry_after <= Duration::from_secs(1)
        );
        admission
            .admit(Some("agent:b"))
            .expect("another credential");
    }
}
