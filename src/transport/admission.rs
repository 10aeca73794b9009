//! Admission control, shared by gRPC (and grpc-web) and REST: calls in flight server-wide and
//! per credential, open streams per credential, an optional rate per credential, and
//! connections per client address. A call past a limit is refused with a hint of when to
//! retry, never queued for a place in flight: queued calls only make every other caller wait
//! too. The refusal is sent once that hint has passed (within the call's deadline), so a
//! client retrying at once still retries no faster than it was asked to: refusing costs the
//! server little.
//!
//! Admitted calls then take turns to run: at most `max_calls_running` at once, half of them
//! at most for one credential, the next free place going to the credentials waiting in turn,
//! so a caller with a hundred calls admitted makes another caller's one call wait for one
//! place, not for its hundred.
use crate::config::Limits;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::collections::{HashMap, VecDeque};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};

/// The gauge of streams open on this server (each holds its place until its body ends or its
/// client is gone).
const OPEN_STREAMS: &str = "casework_open_streams";

/// How long a client refused for load is told to wait before retrying.
const BUSY_RETRY: Duration = Duration::from_millis(100);

/// The longest a refusal is held back while its credential has few refusals waiting (a rate
/// limit may ask for longer).
const HOLD_MAX: Duration = Duration::from_millis(250);

/// How long a refusal is held back once its credential has as many refusals waiting as it
/// may have calls in flight: a client that retries at once, many calls at a time, is slowed
/// to a few calls a second per call it keeps open.
const HOLD_LONG: Duration = Duration::from_secs(1);

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
    turns: Arc<Turns>,
    /// Refusals being held back per credential, before they are held longer.
    held: Counters,
}

/// A call's place: held until its answer is ready.
pub struct Admitted {
    _server: OwnedSemaphorePermit,
    _caller: Option<Counted>,
    credential: String,
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
            turns: Arc::new(Turns::new(limits.max_calls_running)),
            held: Counters::new(limits.max_calls_per_principal, "refusals held", None),
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
            credential: credential.unwrap_or_default().to_string(),
        })
    }

    /// Waits for the admitted call's turn to run; it runs while the place is held.
    pub async fn turn(&self, admitted: &Admitted) -> Running {
        self.turns.take(&admitted.credential).await
    }

    /// Waits until a refused caller may retry (at most `HOLD_MAX`, or `HOLD_LONG` while its
    /// `credential` has many refusals waiting; never more than half of the call's `deadline`,
    /// so the refusal still arrives well within it), then returns the refusal to send.
    pub async fn hold(
        &self,
        refused: Refused,
        credential: Option<&str>,
        deadline: Option<Duration>,
    ) -> Refused {
        let (hold, place) = self.hold_for(&refused, credential, deadline);
        tokio::time::sleep(hold).await;
        drop(place);
        refused
    }

    /// How long [`Admission::hold`] holds a refusal, and its place among the credential's
    /// refusals held briefly (none once there are as many as it may have calls in flight).
    fn hold_for(
        &self,
        refused: &Refused,
        credential: Option<&str>,
        deadline: Option<Duration>,
    ) -> (Duration, Option<Counted>) {
        let (hold, place) = match credential.map(|key| self.held.take(key)).transpose() {
            Ok(place) => (refused.retry_after.min(HOLD_MAX), place),
            Err(_) => (HOLD_LONG, None),
        };
        (
            deadline.map_or(hold, |deadline| hold.min(deadline / 2)),
            place,
        )
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

/// The places for calls running at once, given in turn to the credentials waiting for one;
/// no credential holds more than `share` of them (half), so one whose calls are slow (or
/// trickle their requests) leaves the other half to everyone else.
struct Turns {
    state: Mutex<TurnState>,
    share: usize,
}

struct TurnState {
    free: usize,
    /// The places each credential holds.
    running: HashMap<String, usize>,
    /// Each credential's waiting calls, first come first.
    waiting: HashMap<String, VecDeque<oneshot::Sender<()>>>,
    /// The credentials with calls waiting, whose turn is next first.
    order: VecDeque<String>,
}

/// A running call's place, passed to the next in turn when dropped.
pub struct Running {
    turns: Arc<Turns>,
    credential: String,
}

impl Turns {
    fn new(places: usize) -> Turns {
        Turns {
            state: Mutex::new(TurnState {
                free: places,
                running: HashMap::new(),
                waiting: HashMap::new(),
                order: VecDeque::new(),
            }),
            share: (places / 2).max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, TurnState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn take(self: &Arc<Self>, credential: &str) -> Running {
        let receiver = {
            let mut state = self.lock();
            let held = state.running.get(credential).copied().unwrap_or(0);
            // Free places while others wait are only left for credentials below their share.
            if state.free > 0 && held < self.share {
                state.free -= 1;
                *state.running.entry(credential.to_string()).or_default() += 1;
                return self.running(credential);
            }
            let (sender, receiver) = oneshot::channel();
            match state.waiting.get_mut(credential) {
                Some(queue) => {
                    // Calls that stopped waiting leave their senders behind: drop them here, so
                    // a queue holds no more than the credential's calls in flight.
                    queue.retain(|sender| !sender.is_closed());
                    queue.push_back(sender);
                }
                None => {
                    state
                        .waiting
                        .insert(credential.to_string(), VecDeque::from([sender]));
                    state.order.push_back(credential.to_string());
                }
            }
            receiver
        };
        let mut waiting = Waiting {
            receiver,
            turns: self.clone(),
            credential: credential.to_string(),
            given: false,
        };
        // The sender lives in the state until it is sent (or the server is gone).
        let _ = (&mut waiting.receiver).await;
        waiting.given = true;
        self.running(credential)
    }

    fn running(self: &Arc<Self>, credential: &str) -> Running {
        Running {
            turns: self.clone(),
            credential: credential.to_string(),
        }
    }

    /// Frees the place `credential` held and gives free places to the credentials waiting,
    /// in turn, skipping those at their share (and calls that stopped waiting).
    fn give_back(&self, credential: &str) {
        let mut state = self.lock();
        if let Some(held) = state.running.get_mut(credential) {
            *held -= 1;
            if *held == 0 {
                state.running.remove(credential);
            }
        }
        state.free += 1;
        let mut skipped = 0;
        while state.free > 0 && skipped < state.order.len() {
            let Some(next) = state.order.pop_front() else {
                break;
            };
            if state.running.get(&next).copied().unwrap_or(0) >= self.share {
                state.order.push_back(next);
                skipped += 1;
                continue;
            }
            let Some(queue) = state.waiting.get_mut(&next) else {
                continue;
            };
            let sender = queue.pop_front();
            if queue.is_empty() {
                state.waiting.remove(&next);
            } else {
                state.order.push_back(next.clone());
            }
            if sender.is_some_and(|sender| sender.send(()).is_ok()) {
                state.free -= 1;
                *state.running.entry(next).or_default() += 1;
                skipped = 0;
            }
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.turns.give_back(&self.credential);
    }
}

/// A call waiting for its turn; if it stops waiting just as its place came, the place goes
/// on to the next.
struct Waiting {
    receiver: oneshot::Receiver<()>,
    turns: Arc<Turns>,
    credential: String,
    given: bool,
}

impl Drop for Waiting {
    fn drop(&mut self) {
        if !self.given {
            self.receiver.close();
            if self.receiver.try_recv().is_ok() {
                self.turns.give_back(&self.credential);
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
            max_calls_running: 1,
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

    type Wait = std::pin::Pin<Box<dyn Future<Output = Running> + Send>>;

    fn wait(turns: &Arc<Turns>, credential: &'static str) -> Wait {
        let turns = turns.clone();
        Box::pin(async move { turns.take(credential).await })
    }

    /// Polls each waiting call once: which have their place.
    fn ready(waits: &mut [Wait]) -> Vec<Option<Running>> {
        use futures::FutureExt;
        let mut context = std::task::Context::from_waker(futures::task::noop_waker_ref());
        waits
            .iter_mut()
            .map(|wait| match wait.poll_unpin(&mut context) {
                std::task::Poll::Ready(running) => Some(running),
                std::task::Poll::Pending => None,
            })
            .collect()
    }

    #[tokio::test]
    async fn a_credential_with_calls_waiting_lets_another_go_next() {
        let turns = Arc::new(Turns::new(1));
        let first = turns.take("a").await;
        let mut waits = vec![wait(&turns, "a"), wait(&turns, "a"), wait(&turns, "b")];
        assert!(ready(&mut waits).iter().all(Option::is_none), "all wait");
        drop(first);
        let mut running = ready(&mut waits[..1]);
        let second = running
            .pop()
            .flatten()
            .expect("a's first waiting call runs");
        assert!(ready(&mut waits[1..]).iter().all(Option::is_none));
        drop(second);
        let mut running = ready(&mut waits[2..]);
        let third = running.pop().flatten().expect("b's turn before a's second");
        assert!(ready(&mut waits[1..2])[0].is_none(), "a waits for b");
        drop(third);
        assert!(ready(&mut waits[1..2])[0].is_some(), "then a again");
    }

    #[tokio::test]
    async fn a_call_that_stops_waiting_passes_its_place_on() {
        let turns = Arc::new(Turns::new(1));
        let first = turns.take("a").await;
        let mut waits = vec![wait(&turns, "a"), wait(&turns, "b")];
        assert!(ready(&mut waits).iter().all(Option::is_none));
        drop(first);
        // a's call got the place but left before it ran: b runs instead.
        let gone = waits.remove(0);
        drop(gone);
        let running = ready(&mut waits).pop().flatten().expect("b runs");
        drop(running);
        drop(waits);
        // Every place is back: one runs at once, the next waits.
        let _one = turns.take("c").await;
        assert!(ready(&mut [wait(&turns, "d")])[0].is_none());
    }

    #[test]
    fn refusals_are_held_until_the_retry_and_longer_for_a_credential_with_many_held() {
        let admission = Admission::new(&limits(3, 2, 0));
        let refused = Refused {
            server_wide: false,
            reason: "busy".into(),
            retry_after: BUSY_RETRY,
        };
        let (first, _a1) = admission.hold_for(&refused, Some("agent:a"), None);
        let (second, _a2) = admission.hold_for(&refused, Some("agent:a"), None);
        assert_eq!((first, second), (BUSY_RETRY, BUSY_RETRY));
        let (third, none) = admission.hold_for(&refused, Some("agent:a"), None);
        assert_eq!(third, HOLD_LONG, "a has as many held as it may have calls");
        assert!(none.is_none());
        let (short, _) =
            admission.hold_for(&refused, Some("agent:a"), Some(Duration::from_millis(400)));
        assert_eq!(
            short,
            Duration::from_millis(200),
            "half the deadline at most"
        );
        let (other, _b) = admission.hold_for(&refused, Some("agent:b"), None);
        assert_eq!(other, BUSY_RETRY, "b is held as briefly as a was");
        drop(_a1);
        let (again, _) = admission.hold_for(&refused, Some("agent:a"), None);
        assert_eq!(again, BUSY_RETRY, "a's place came back");
        let slow = Refused {
            retry_after: Duration::from_secs(5),
            ..refused
        };
        assert_eq!(admission.hold_for(&slow, None, None).0, HOLD_MAX);
    }

    #[tokio::test]
    async fn no_credential_holds_more_than_half_of_the_places() {
        let turns = Arc::new(Turns::new(4));
        let a1 = turns.take("a").await;
        let _a2 = turns.take("a").await;
        let mut waits = vec![wait(&turns, "a")];
        assert!(ready(&mut waits)[0].is_none(), "a holds its half");
        let _b = turns.take("b").await;
        let _c = turns.take("c").await;
        drop(a1);
        assert!(
            ready(&mut waits)[0].is_some(),
            "a's own place came back to it"
        );
    }
}
