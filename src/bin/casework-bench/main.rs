//! `casework-bench`: the load generator and baselines behind BENCHMARKS.md.
//!
//! - `load`: one workload against a running server, closed-loop (N calls in flight, peak
//!   throughput) or open-loop (`--rate`: calls started on a fixed schedule, latency measured
//!   from the scheduled start, so a stalled server cannot hide its queue — no coordinated
//!   omission).
//! - `fanout`: N `WatchTickets` clients while tickets are created; the time from each event's
//!   server timestamp to its delivery at every watcher.
//! - `store`: the raw store baseline, an in-process sqlx loop writing the rows a CreateTicket
//!   writes (a ticket and its event) with the server's durability, one transaction per write
//!   or group-committed.
//! - `seed`: creates tickets through the API (the scale curves' data).
//! - `reports`: GetReport's latency over a store filled with a synthetic load.
//! - `abuse`: a well-behaved client's latency alone and while the server is flooded (HTTP/2
//!   rapid reset, CONTINUATION, oversized headers) or overloaded.
//!
//! Every run prints one JSON line (throughput, latency percentiles in milliseconds, errors);
//! `bench/run.sh` pins the server and this tool to separate cores and collects the lines.
mod abuse;
mod fanout;
mod h2raw;
mod load;
mod peer;
mod report;
mod reports;
mod store;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "casework-bench",
    about = "Load generator and baselines for casework"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs one workload against a running server.
    Load(load::LoadArgs),
    /// Measures live-stream delivery to many watchers.
    Fanout(fanout::FanoutArgs),
    /// The raw store baseline: ticket + event rows through sqlx, in process.
    Store(store::StoreArgs),
    /// Creates tickets through CreateTicket (data for the read workloads).
    Seed(load::SeedArgs),
    /// Create, get or list over HTTP/1.1, against casework or a peer (django-helpdesk).
    Http(peer::HttpArgs),
    /// GetReport over a store filled with a synthetic load (N tickets over D days).
    Reports(reports::ReportsArgs),
    /// A good client's GetTicket latency alone and while the server is attacked.
    Abuse(abuse::AbuseArgs),
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Load(args) => load::run(args).await,
        Command::Fanout(args) => fanout::run(args).await,
        Command::Store(args) => store::run(args).await,
        Command::Seed(args) => load::seed(args).await,
        Command::Http(args) => peer::run(args).await,
        Command::Reports(args) => reports::run(args).await,
        Command::Abuse(args) => abuse::run(args).await,
    };
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("casework-bench: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// The tool's errors: whatever went wrong, as text for the operator.
pub type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;
