//! The `casework` binary: CLI → config → run. No logic lives here.
use casework::app::{App, AppConfig};
use casework::clock::{Clock, SystemClock};
use casework::config::{Cli, Command, LogFormat, parse_ttl, redact_url};
use casework::domain::Role;
use casework::error::{Error, Result};
use clap::Parser;
use std::process::ExitCode;
use std::sync::Arc;
use tracing_subscriber::EnvFilter;

/// jemalloc, whose background thread gives memory freed after a burst back to the system
/// within seconds (glibc's allocator kept it: RELIABILITY.md, "Memory").
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options, read when it starts: purge dirty pages after 1 s, from a background
/// thread (so an idle server purges too).
#[cfg(not(target_env = "msvc"))]
#[allow(non_upper_case_globals)]
#[unsafe(export_name = "_rjem_malloc_conf")]
pub static malloc_conf: Option<&'static std::ffi::c_char> = Some(unsafe {
    // SAFETY: a C string literal lives for the whole program.
    &*c"background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0".as_ptr()
});

fn init_logging(filter: &str, format: LogFormat) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().with_current_span(true).init(),
        LogFormat::Text => builder.init(),
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}

async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Serve(args) => {
            let options = casework::config::ServerOptions {
                limits: args.limits.resolve()?,
                tls: args.tls.load()?,
                cors_origins: args.cors_origins.clone(),
                console_dir: args.console_dir.clone(),
            };
            let authenticator = Arc::new(args.secret.authenticator(&args.database.database_url)?);
            tracing::info!(database = %redact_url(&args.database.database_url), "opening store");
            let store =
                casework::store::connect_with(&args.database.database_url, &args.pool.resolve()?)
                    .await?;
            let config = AppConfig {
                default_sla_seconds: args.default_sla_seconds,
                max_attachment_bytes: args.max_attachment_bytes,
                max_room_attachments: args.max_room_attachments,
                max_room_attachment_bytes: args.max_room_attachment_bytes,
                chat_timers: args.chat_timers()?,
                requeue_channels: args
                    .requeue_channels
                    .iter()
                    .filter(|c| !c.is_empty())
                    .cloned()
                    .collect(),
                default_escalation_department: args.default_escalation_department(),
                stream_stall: std::time::Duration::from_secs(args.limits.stalled_stream_secs),
                ..AppConfig::default()
            };
            let app = App::new(store, Arc::new(SystemClock), config).await?;
            if args.demo && casework::demo::load(&app).await? {
                tracing::info!("loaded demo reference data");
            }
            app.check_default_escalation_department().await?;
            let server = casework::server::start(
                app,
                authenticator,
                args.listen,
                options,
                shutdown_signal(),
            )
            .await?;
            server.wait().await
        }
        Command::Migrate(args) => {
            let store = casework::store::connect(&args.database_url).await?;
            store.close().await;
            tracing::info!(database = %redact_url(&args.database_url), "migrations applied");
            Ok(())
        }
        Command::ImportCcr(args) => {
            let text = std::fs::read_to_string(&args.file).map_err(|e| {
                Error::invalid("file", format!("cannot read {}: {e}", args.file.display()))
            })?;
            let nodes = casework::transport::ccr_file::parse(&text)?;
            let store = casework::store::connect(&args.database.database_url).await?;
            let app = App::new(store.clone(), Arc::new(SystemClock), AppConfig::default()).await?;
            let summary = app.replace_taxonomy(nodes, args.dry_run).await;
            store.close().await;
            let summary = summary?;
            println!(
                "{} CCR taxonomy: {} level-1, {} level-2, {} level-3 codes, {} translations; {} old codes removed",
                if args.dry_run { "valid" } else { "imported" },
                summary.level_counts[0],
                summary.level_counts[1],
                summary.level_counts[2],
                summary.translation_count,
                summary.removed_count
            );
            Ok(())
        }
        Command::Token(args) => {
            let role = Role::parse(&args.role).ok_or_else(|| {
                Error::invalid(
                    "role",
                    "must be agent, supervisor, admin, service or customer",
                )
            })?;
            let ttl = parse_ttl(&args.ttl)?;
            let authenticator = args.secret.authenticator(&args.database.database_url)?;
            let act = args
                .act
                .iter()
                .map(|r| {
                    Role::parse(r.trim())
                        .ok_or_else(|| Error::invalid("act", "must list supervisor or admin"))
                })
                .collect::<Result<Vec<_>>>()?;
            let token = authenticator.mint_acting(
                &args.sub,
                role,
                &act,
                SystemClock.now().timestamp(),
                ttl,
            )?;
            println!("{token}");
            Ok(())
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(&cli.log, cli.log_format);
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("casework: {error}");
            ExitCode::FAILURE
        }
    }
}
