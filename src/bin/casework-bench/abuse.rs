//! `abuse`: a well-behaved client's latency while the server is attacked. The good client
//! (GetTicket at a fixed rate, open loop, its own connections) is measured alone, then again
//! while attackers repeat one attack for the whole period: an HTTP/2 flood on connections of
//! their own (`h2raw`), or an overload — one principal keeping `--overload-calls` GetTicket
//! calls in flight, each with a deadline, so the server must shed what it cannot take.
use crate::Result;
use crate::h2raw::{self, Attack};
use crate::load::{Caller, Target, Workload, authorized, open_loop};
use crate::report::{Report, histogram, record};
use casework::pb;
use casework::pb::ticket_service_client::TicketServiceClient;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::AsyncBufReadExt;
use tonic::transport::Channel;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Flood {
    RapidReset,
    Continuation,
    Headers,
    /// `--overload-calls` calls in flight from one principal (`--attack-token`).
    Overload,
}

#[derive(clap::Args)]
pub struct AbuseArgs {
    #[command(flatten)]
    pub target: Target,
    #[arg(long, value_enum)]
    pub attack: Flood,
    /// The good client's calls per second.
    #[arg(long, default_value_t = 200.0)]
    pub rate: f64,
    /// Seconds measured alone, and again under attack.
    #[arg(long, default_value_t = 10.0)]
    pub seconds: f64,
    /// Floods: attacking connections at a time, each attack repeated as soon as it ends.
    #[arg(long, default_value_t = 4)]
    pub attackers: usize,
    /// Overload: calls kept in flight (the default is four times the server's default
    /// --max-calls-in-flight).
    #[arg(long, default_value_t = 2048)]
    pub overload_calls: usize,
    /// Overload: the attacking principal's token (another principal than the good client's).
    #[arg(long, env = "CASEWORK_BENCH_ATTACK_TOKEN", hide_env_values = true)]
    pub attack_token: Option<String>,
    /// Overload: each attacking call's deadline, in seconds.
    #[arg(long, default_value_t = 2.0)]
    pub deadline: f64,
    /// Runs the attackers in a process of their own (a child of this one), so the good
    /// client does not share a runtime with them.
    #[arg(long)]
    pub attack_process: bool,
    /// The child of `--attack-process`: attacks only and prints what it met.
    #[arg(long, hide = true)]
    pub attack_only: bool,
}

/// What the attackers met.
#[derive(Default, Serialize, Deserialize)]
#[serde(default)]
struct Attacks {
    /// Flood connections the server ended (GOAWAY or closed).
    ended: u64,
    /// Flood connections it did not end or that could not connect, including the last ones,
    /// cut off at the end of the period.
    not_ended: u64,
    /// Overload calls by outcome (`Ok`, `ResourceExhausted`, …).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    calls: BTreeMap<String, u64>,
    /// Overload: the first message of each refusal, by outcome.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    messages: BTreeMap<String, String>,
    /// Overload: the p99 and the slowest of the refusals (time to shed), and the slowest call
    /// of any outcome (against its deadline).
    #[serde(skip_serializing_if = "Option::is_none")]
    shed_p99_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    shed_max_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    slowest_ms: Option<f64>,
}

#[derive(Serialize)]
struct AbuseReport {
    attack: Flood,
    alone: Report,
    attacked: Report,
    /// The good client's p99 under attack over its p99 alone.
    p99_ratio: f64,
    attacks: Attacks,
}

impl Serialize for Flood {
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        use clap::ValueEnum;
        let value = self.to_possible_value().expect("no skipped variants");
        serializer.serialize_str(value.get_name())
    }
}

pub async fn run(args: AbuseArgs) -> Result<()> {
    let period = Duration::from_secs_f64(args.seconds);
    if args.attack_only {
        // The attacking process of `--attack-process`: says when it is connected, attacks,
        // and reports what it met.
        let ids = attack_ids(&args).await?;
        println!("ready");
        let attacks = attack(&args, ids, Instant::now() + period + Duration::from_secs(2)).await?;
        println!("{}", serde_json::to_string(&attacks)?);
        return Ok(());
    }
    let mut good = Caller::connect(&args.target, 64).await?;
    good.load_ids(1_000).await?;
    let good = Arc::new(good);
    let measure = || {
        open_loop(
            &good,
            Workload::Get,
            64,
            args.rate,
            Duration::from_secs(1),
            period,
        )
    };
    let alone = measure().await?;
    let (attacked, attacks) = if args.attack_process {
        let mut child = tokio::process::Command::new(std::env::current_exe()?)
            .args(std::env::args_os().skip(1))
            .arg("--attack-only")
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        let mut lines = tokio::io::BufReader::new(child.stdout.take().ok_or("no stdout")?).lines();
        if lines.next_line().await?.as_deref() != Some("ready") {
            return Err("the attacking process did not start".into());
        }
        let attacked = measure().await?;
        let report = lines
            .next_line()
            .await?
            .ok_or("the attacking process said nothing")?;
        if !child.wait().await?.success() {
            return Err("the attacking process failed".into());
        }
        (attacked, serde_json::from_str(&report)?)
    } else {
        let until = Instant::now() + period + Duration::from_secs(2);
        let ids = good.ids().to_vec();
        let (attacked, attacks) = tokio::join!(measure(), attack(&args, ids, until));
        (attacked?, attacks?)
    };
    finish(args.attack, args.rate, period, alone, attacked, attacks)
}

/// The tickets the overload asks for (the good client's: the same rows).
async fn attack_ids(args: &AbuseArgs) -> Result<Vec<String>> {
    if args.attack != Flood::Overload {
        return Ok(Vec::new());
    }
    let mut caller = Caller::connect(&args.target, 1).await?;
    caller.load_ids(1_000).await?;
    Ok(caller.ids().to_vec())
}

/// Runs the attack until `until` and tallies what it met.
async fn attack(args: &AbuseArgs, ids: Vec<String>, until: Instant) -> Result<Attacks> {
    let attacks = Arc::new(Mutex::new(Attacks::default()));
    let mut attackers = tokio::task::JoinSet::new();
    let kind = match args.attack {
        Flood::Overload => return overload(args, ids, until).await,
        Flood::RapidReset => Attack::RapidReset,
        Flood::Continuation => Attack::Continuation,
        Flood::Headers => Attack::Headers,
    };
    let addr: SocketAddr = args
        .target
        .addr
        .split(',')
        .next()
        .unwrap_or_default()
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()?;
    for _ in 0..args.attackers {
        let attacks = attacks.clone();
        attackers.spawn(async move {
            while Instant::now() < until {
                let left = until.saturating_duration_since(Instant::now());
                let outcome = tokio::time::timeout(left, h2raw::attack(addr, kind, 100_000)).await;
                let mut attacks = attacks.lock().expect("not poisoned");
                match outcome {
                    Ok(Ok(true)) => attacks.ended += 1,
                    _ => attacks.not_ended += 1,
                }
            }
        });
    }
    while attackers.join_next().await.is_some() {}
    Ok(std::mem::take(&mut *attacks.lock().expect("not poisoned")))
}

/// One principal keeping `--overload-calls` GetTicket calls of `ids` in flight until `until`.
async fn overload(args: &AbuseArgs, ids: Vec<String>, until: Instant) -> Result<Attacks> {
    let token = args
        .attack_token
        .as_deref()
        .ok_or("--attack-token (or CASEWORK_BENCH_ATTACK_TOKEN) names the attacker")?;
    let bearer: tonic::metadata::MetadataValue<_> = format!("Bearer {token}").parse()?;
    // Enough connections for every call to be on the wire at once.
    let channels = Target {
        connections: args.overload_calls.div_ceil(128).max(1),
        ..args.target.clone()
    }
    .channels()
    .await?;
    let deadline = Duration::from_secs_f64(args.deadline);
    let attacks = Arc::new(Mutex::new(Attacks::default()));
    let shed = Arc::new(Mutex::new((histogram(), Duration::ZERO)));
    let mut attackers = tokio::task::JoinSet::new();
    for n in 0..args.overload_calls {
        let channel: Channel = channels[n % channels.len()].clone();
        let (bearer, attacks, shed) = (bearer.clone(), attacks.clone(), shed.clone());
        let id = crate::load::pick(&ids, n as u64).to_string();
        attackers.spawn(async move {
            let mut client = TicketServiceClient::new(channel);
            while Instant::now() < until {
                let mut request = authorized(
                    &bearer,
                    pb::GetTicketRequest {
                        key: Some(pb::get_ticket_request::Key::Id(id.clone())),
                    },
                );
                request.set_timeout(deadline);
                let began = Instant::now();
                let outcome = client.get_ticket(request).await;
                let took = began.elapsed();
                let (code, message) = match &outcome {
                    Ok(_) => (tonic::Code::Ok, None),
                    Err(status) => (status.code(), Some(status.message())),
                };
                let mut shed = shed.lock().expect("not poisoned");
                shed.1 = shed.1.max(took);
                if code == tonic::Code::ResourceExhausted {
                    record(&mut shed.0, took);
                }
                drop(shed);
                let mut attacks = attacks.lock().expect("not poisoned");
                *attacks.calls.entry(format!("{code:?}")).or_default() += 1;
                if let Some(message) = message {
                    attacks
                        .messages
                        .entry(format!("{code:?}"))
                        .or_insert_with(|| message.to_string());
                }
            }
        });
    }
    while attackers.join_next().await.is_some() {}
    let (shed, slowest) = std::mem::replace(
        &mut *shed.lock().expect("not poisoned"),
        (histogram(), Duration::ZERO),
    );
    let mut attacks = std::mem::take(&mut *attacks.lock().expect("not poisoned"));
    if !shed.is_empty() {
        attacks.shed_p99_ms = Some(shed.value_at_quantile(0.99) as f64 / 1000.0);
        attacks.shed_max_ms = Some(shed.max() as f64 / 1000.0);
    }
    attacks.slowest_ms = Some(slowest.as_secs_f64() * 1000.0);
    Ok(attacks)
}

fn finish(
    attack: Flood,
    rate: f64,
    period: Duration,
    alone: crate::report::Tally,
    attacked: crate::report::Tally,
    attacks: Attacks,
) -> Result<()> {
    let report = |tally| Report::new("get", "open", 64, Some(rate), period, tally);
    let (alone, attacked) = (report(&alone), report(&attacked));
    let report = AbuseReport {
        attack,
        p99_ratio: attacked.p99_ms / alone.p99_ms,
        alone,
        attacked,
        attacks,
    };
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}
