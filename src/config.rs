//! Configuration: clap flags with `CASEWORK_*` environment equivalents (flags win), validated
//! once. Secrets are redacted from `Debug`.
use crate::error::{Error, Result};
use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:50051";
pub const DEFAULT_DATABASE_URL: &str = "sqlite://casework.db";

#[derive(Debug, Parser)]
#[command(
    name = "casework",
    version,
    about = "Case-management backend for chat-first customer support"
)]
pub struct Cli {
    /// Log filter, e.g. `info` or `casework=debug`.
    #[arg(long, env = "CASEWORK_LOG", default_value = "info", global = true)]
    pub log: String,
    /// Log format: `text` or `json` (JSON lines).
    #[arg(
        long,
        env = "CASEWORK_LOG_FORMAT",
        default_value = "text",
        global = true
    )]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Migrate, then serve gRPC, grpc-web and the operator endpoints on one port.
    // Boxed: serve's many settings would make every command as large as it.
    Serve(Box<ServeArgs>),
    /// Run the migrations and exit.
    Migrate(DatabaseArgs),
    /// Print a signed bearer token (same secret resolution as `serve`).
    Token(TokenArgs),
    /// Replace the CCR taxonomy from a CSV or JSON file, validated as ImportCcr does.
    ImportCcr(ImportCcrArgs),
}

#[derive(Debug, Clone, Args)]
pub struct ImportCcrArgs {
    /// JSON (a list of `{code, level, parent_code, translations: [{language, text}]}`) or CSV
    /// (`code,level,parent_code,language,text`, one row per translation).
    pub file: PathBuf,
    /// Validate and count, change nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub database: DatabaseArgs,
}

#[derive(Clone, Args)]
pub struct DatabaseArgs {
    /// `sqlite://FILE` (created if missing) or `postgres://…`.
    #[arg(long, env = "CASEWORK_DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
    pub database_url: String,
}

impl std::fmt::Debug for DatabaseArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseArgs")
            .field("database_url", &redact_url(&self.database_url))
            .finish()
    }
}

#[derive(Clone, Args)]
pub struct SecretArgs {
    /// HS256 secret for bearer tokens. Without it (and without a public key) a secret is
    /// generated on first start and kept beside the database.
    #[arg(long, env = "CASEWORK_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// PEM file of an Ed25519 (EdDSA) or RSA (RS256) public key to verify tokens with instead.
    #[arg(long, env = "CASEWORK_JWT_PUBLIC_KEY")]
    pub jwt_public_key: Option<PathBuf>,
}

impl std::fmt::Debug for SecretArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretArgs")
            .field(
                "jwt_secret",
                &self.jwt_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("jwt_public_key", &self.jwt_public_key)
            .finish()
    }
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "CASEWORK_LISTEN", default_value = DEFAULT_LISTEN)]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub database: DatabaseArgs,
    #[command(flatten)]
    pub secret: SecretArgs,
    /// Load demo queues, departments, agents and a CCR taxonomy when the store is empty.
    #[arg(long, env = "CASEWORK_DEMO")]
    pub demo: bool,
    #[command(flatten)]
    pub limits: LimitArgs,
    #[command(flatten)]
    pub pool: PoolArgs,
    #[command(flatten)]
    pub tls: TlsArgs,
    /// Channels whose assigned tickets go back to their queue when the agent goes offline
    /// (comma-separated; empty keeps them with the agent).
    #[arg(
        long,
        env = "CASEWORK_REQUEUE_CHANNELS",
        value_delimiter = ',',
        default_value = "chat"
    )]
    pub requeue_channels: Vec<String>,
    /// Largest attachment accepted, in bytes (the whole UploadAttachment request must also
    /// fit in --max-message-bytes).
    #[arg(long, env = "CASEWORK_MAX_ATTACHMENT_BYTES", default_value_t = 10 * 1024 * 1024)]
    pub max_attachment_bytes: usize,
    /// Most attachments one room may hold; an upload past it is refused
    /// (RESOURCE_EXHAUSTED).
    #[arg(long, env = "CASEWORK_MAX_ROOM_ATTACHMENTS", default_value_t = 100)]
    pub max_room_attachments: usize,
    /// Most bytes of attachments one room may hold, all together; an upload past it is
    /// refused (RESOURCE_EXHAUSTED).
    #[arg(
        long,
        env = "CASEWORK_MAX_ROOM_ATTACHMENT_BYTES",
        default_value_t = 100 * 1024 * 1024
    )]
    pub max_room_attachment_bytes: usize,
    /// Seconds of customer silence after an agent's chat message before the warning.
    #[arg(long, env = "CASEWORK_CHAT_WARNING_AFTER_SECS", default_value_t = 300)]
    pub chat_warning_after_secs: i64,
    /// Seconds of customer silence after an agent's chat message before the chat closes.
    #[arg(long, env = "CASEWORK_CHAT_CLOSE_AFTER_SECS", default_value_t = 600)]
    pub chat_close_after_secs: i64,
    /// SLA in seconds for tickets whose queue has no default.
    #[arg(long, env = "CASEWORK_DEFAULT_SLA_SECONDS", default_value_t = 86_400)]
    pub default_sla_seconds: i64,
    /// Origins allowed to call grpc-web from a browser (comma-separated, e.g.
    /// `https://console.example.com`); none by default, `*` allows any.
    #[arg(long, env = "CASEWORK_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,
    /// Escalation department of the REST shim's v1 escalate, whose body names none; unset,
    /// v1 escalations are refused with 400.
    #[arg(long, env = "CASEWORK_DEFAULT_ESCALATION_DEPARTMENT")]
    pub default_escalation_department: Option<String>,
    /// Serve the agent console from this directory (e.g. `web/dist`) instead of the bundle
    /// built into the binary; for working on the console.
    #[arg(long, env = "CASEWORK_CONSOLE_DIR")]
    pub console_dir: Option<PathBuf>,
}

impl ServeArgs {
    /// The department escalations naming none go to; with `--demo`, the demo's
    /// `partner-service` unless another is given.
    pub fn default_escalation_department(&self) -> Option<String> {
        self.default_escalation_department
            .clone()
            .filter(|d| !d.is_empty())
            .or_else(|| self.demo.then(|| "partner-service".to_string()))
    }

    /// The chat auto-close delays, validated.
    pub fn chat_timers(&self) -> Result<crate::domain::timers::ChatTimers> {
        let (warning, close) = (self.chat_warning_after_secs, self.chat_close_after_secs);
        if warning <= 0 || close <= warning {
            return Err(Error::invalid(
                "chat_close_after_secs",
                "the warning must come first: 0 < warning < close",
            ));
        }
        Ok(crate::domain::timers::ChatTimers {
            warning_after: chrono::Duration::seconds(warning),
            close_after: chrono::Duration::seconds(close),
        })
    }
}

/// The PostgreSQL pool (ignored for SQLite).
#[derive(Debug, Clone, Args)]
pub struct PoolArgs {
    /// PostgreSQL connections per process.
    #[arg(long, env = "CASEWORK_PG_MAX_CONNECTIONS", default_value_t = 16)]
    pub pg_max_connections: u32,
    /// Seconds a call waits for a free PostgreSQL connection before it fails with UNAVAILABLE.
    #[arg(long, env = "CASEWORK_PG_ACQUIRE_TIMEOUT_SECS", default_value_t = 5)]
    pub pg_acquire_timeout_secs: u64,
    /// The longest one PostgreSQL statement may run, seconds.
    #[arg(long, env = "CASEWORK_PG_STATEMENT_TIMEOUT_SECS", default_value_t = 30)]
    pub pg_statement_timeout_secs: u64,
    /// The longest a PostgreSQL transaction may sit idle holding its locks, seconds.
    #[arg(
        long,
        env = "CASEWORK_PG_IDLE_IN_TRANSACTION_TIMEOUT_SECS",
        default_value_t = 60
    )]
    pub pg_idle_in_transaction_timeout_secs: u64,
}

impl PoolArgs {
    pub fn resolve(&self) -> Result<crate::store::PoolSettings> {
        let positive = [
            ("pg_max_connections", u64::from(self.pg_max_connections)),
            ("pg_acquire_timeout_secs", self.pg_acquire_timeout_secs),
            ("pg_statement_timeout_secs", self.pg_statement_timeout_secs),
            (
                "pg_idle_in_transaction_timeout_secs",
                self.pg_idle_in_transaction_timeout_secs,
            ),
        ];
        if let Some((field, _)) = positive.iter().find(|(_, value)| *value == 0) {
            return Err(Error::invalid(*field, "must be positive"));
        }
        Ok(crate::store::PoolSettings {
            max_connections: self.pg_max_connections,
            acquire_timeout: Duration::from_secs(self.pg_acquire_timeout_secs),
            statement_timeout: Duration::from_secs(self.pg_statement_timeout_secs),
            idle_in_transaction_timeout: Duration::from_secs(
                self.pg_idle_in_transaction_timeout_secs,
            ),
        })
    }
}

#[derive(Debug, Clone, Args)]
pub struct TlsArgs {
    /// PEM certificate chain; with --tls-key, serve TLS (rustls) instead of plaintext.
    #[arg(long, env = "CASEWORK_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of the certificate.
    #[arg(long, env = "CASEWORK_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

impl TlsArgs {
    /// The certificate and key, read once; `None` serves plaintext.
    pub fn load(&self) -> Result<Option<TlsIdentity>> {
        let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) else {
            return Ok(None);
        };
        let read = |field: &str, path: &Path| {
            std::fs::read(path)
                .map_err(|e| Error::invalid(field, format!("cannot read {}: {e}", path.display())))
        };
        Ok(Some(TlsIdentity {
            cert_pem: read("tls_cert", cert)?,
            key_pem: read("tls_key", key)?,
        }))
    }
}

/// A PEM certificate chain and key.
#[derive(Clone)]
pub struct TlsIdentity {
    pub cert_pem: Vec<u8>,
    pub key_pem: Vec<u8>,
}

impl std::fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsIdentity(<redacted>)")
    }
}

#[derive(Debug, Clone, Args)]
pub struct LimitArgs {
    /// Largest gRPC message accepted, in bytes (RESOURCE_EXHAUSTED past it).
    #[arg(long, env = "CASEWORK_MAX_MESSAGE_BYTES", default_value_t = 4 * 1024 * 1024)]
    pub max_message_bytes: usize,
    /// HTTP/2 streams per connection.
    #[arg(long, env = "CASEWORK_MAX_CONCURRENT_STREAMS", default_value_t = 256)]
    pub max_concurrent_streams: u32,
    /// HTTP/2 keepalive ping interval, seconds.
    #[arg(long, env = "CASEWORK_KEEPALIVE_INTERVAL_SECS", default_value_t = 30)]
    pub keepalive_interval_secs: u64,
    /// HTTP/2 keepalive ping timeout, seconds.
    #[arg(long, env = "CASEWORK_KEEPALIVE_TIMEOUT_SECS", default_value_t = 10)]
    pub keepalive_timeout_secs: u64,
    /// Largest header list accepted, in bytes.
    #[arg(long, env = "CASEWORK_MAX_HEADER_LIST_BYTES", default_value_t = 16 * 1024)]
    pub max_header_list_bytes: u32,
    /// Deadline of a unary call, seconds.
    #[arg(long, env = "CASEWORK_REQUEST_TIMEOUT_SECS", default_value_t = 30)]
    pub request_timeout_secs: u64,
    /// Largest REST request body, in bytes (413 past it).
    #[arg(long, env = "CASEWORK_MAX_REST_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub max_rest_body_bytes: usize,
    /// Seconds a new connection has to finish TLS and send its first request, and an
    /// HTTP/1.1 request to send its headers.
    #[arg(long, env = "CASEWORK_HANDSHAKE_TIMEOUT_SECS", default_value_t = 10)]
    pub handshake_timeout_secs: u64,
    /// Calls in flight on the whole server; past it calls are refused at once
    /// (RESOURCE_EXHAUSTED / 503) instead of queued.
    #[arg(long, env = "CASEWORK_MAX_CALLS_IN_FLIGHT", default_value_t = 512)]
    pub max_calls_in_flight: usize,
    /// Calls in flight per credential (bearer token); past it RESOURCE_EXHAUSTED / 429.
    #[arg(long, env = "CASEWORK_MAX_CALLS_PER_PRINCIPAL", default_value_t = 128)]
    pub max_calls_per_principal: usize,
    /// Admitted calls running at once, at most half for one credential; the others wait for
    /// a place, given in turn by credential, so one caller's many (or slow) calls do not
    /// queue ahead of another caller's one.
    #[arg(long, env = "CASEWORK_MAX_CALLS_RUNNING", default_value_t = 64)]
    pub max_calls_running: usize,
    /// Open live streams per credential; past it RESOURCE_EXHAUSTED.
    #[arg(
        long,
        env = "CASEWORK_MAX_STREAMS_PER_PRINCIPAL",
        default_value_t = 1024
    )]
    pub max_streams_per_principal: usize,
    /// Connections open at once from one client address; past it a new one is closed at
    /// once, so one address (a slowloris) holds no more than its share of the server.
    #[arg(
        long,
        env = "CASEWORK_MAX_CONNECTIONS_PER_ADDRESS",
        default_value_t = 2048
    )]
    pub max_connections_per_address: usize,
    /// Calls per second per credential (0: no rate limit); past it RESOURCE_EXHAUSTED with
    /// RetryInfo / 429 with Retry-After.
    #[arg(long, env = "CASEWORK_RATE_LIMIT_PER_SECOND", default_value_t = 0)]
    pub rate_limit_per_second: u32,
    /// Calls a credential may make at once above its rate (the bucket's size).
    #[arg(long, env = "CASEWORK_RATE_LIMIT_BURST", default_value_t = 100)]
    pub rate_limit_burst: u32,
    /// Seconds a live stream may stay unwritable (the client reads nothing) before it is
    /// ended; the client resumes with `after_event_id` (the app's `stream_stall`).
    #[arg(long, env = "CASEWORK_STALLED_STREAM_SECS", default_value_t = 30)]
    pub stalled_stream_secs: u64,
}

/// Everything the server needs besides the app, resolved.
#[derive(Debug, Clone, Default)]
pub struct ServerOptions {
    pub limits: Limits,
    pub tls: Option<TlsIdentity>,
    pub cors_origins: Vec<String>,
    /// Serve the console from this directory instead of the embedded bundle.
    pub console_dir: Option<PathBuf>,
}

/// Transport limits (DESIGN.md §9), resolved.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_message_bytes: usize,
    pub max_concurrent_streams: u32,
    pub keepalive_interval: Duration,
    pub keepalive_timeout: Duration,
    pub max_header_list_bytes: u32,
    pub request_timeout: Duration,
    pub max_rest_body_bytes: usize,
    pub handshake_timeout: Duration,
    pub max_calls_in_flight: usize,
    pub max_calls_per_principal: usize,
    pub max_calls_running: usize,
    pub max_streams_per_principal: usize,
    pub max_connections_per_address: usize,
    /// Calls per second per credential; 0 is no limit.
    pub rate_limit_per_second: u32,
    pub rate_limit_burst: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_bytes: 4 * 1024 * 1024,
            max_concurrent_streams: 256,
            keepalive_interval: Duration::from_secs(30),
            keepalive_timeout: Duration::from_secs(10),
            max_header_list_bytes: 16 * 1024,
            request_timeout: Duration::from_secs(30),
            max_rest_body_bytes: 1024 * 1024,
            handshake_timeout: Duration::from_secs(10),
            max_calls_in_flight: 512,
            max_calls_per_principal: 128,
            max_calls_running: 64,
            max_streams_per_principal: 1024,
            max_connections_per_address: 2048,
            rate_limit_per_second: 0,
            rate_limit_burst: 100,
        }
    }
}

impl LimitArgs {
    pub fn resolve(&self) -> Result<Limits> {
        if self.max_message_bytes == 0
            || self.max_concurrent_streams == 0
            || self.request_timeout_secs == 0
            || self.max_rest_body_bytes == 0
            || self.handshake_timeout_secs == 0
            || self.max_calls_in_flight == 0
            || self.max_calls_per_principal == 0
            || self.max_calls_running == 0
            || self.max_streams_per_principal == 0
            || self.max_connections_per_address == 0
            || self.rate_limit_burst == 0
            || self.stalled_stream_secs == 0
        {
            return Err(Error::invalid("limits", "limits must be positive"));
        }
        Ok(Limits {
            max_message_bytes: self.max_message_bytes,
            max_concurrent_streams: self.max_concurrent_streams,
            keepalive_interval: Duration::from_secs(self.keepalive_interval_secs),
            keepalive_timeout: Duration::from_secs(self.keepalive_timeout_secs),
            max_header_list_bytes: self.max_header_list_bytes,
            request_timeout: Duration::from_secs(self.request_timeout_secs),
            max_rest_body_bytes: self.max_rest_body_bytes,
            handshake_timeout: Duration::from_secs(self.handshake_timeout_secs),
            max_calls_in_flight: self.max_calls_in_flight,
            max_calls_per_principal: self.max_calls_per_principal,
            max_calls_running: self.max_calls_running,
            max_streams_per_principal: self.max_streams_per_principal,
            max_connections_per_address: self.max_connections_per_address,
            rate_limit_per_second: self.rate_limit_per_second,
            rate_limit_burst: self.rate_limit_burst,
        })
    }
}

#[derive(Debug, Clone, Args)]
pub struct TokenArgs {
    /// Subject: agent id, customer id or service name.
    #[arg(long)]
    pub sub: String,
    /// agent, supervisor, admin, service or customer.
    #[arg(long)]
    pub role: String,
    /// Lifetime, e.g. `30m`, `1h`, `7d`.
    #[arg(long, default_value = "1h")]
    pub ttl: String,
    /// For a service token: agent roles above `agent` it may act for (`supervisor,admin`).
    #[arg(long, value_delimiter = ',')]
    pub act: Vec<String>,
    #[command(flatten)]
    pub database: DatabaseArgs,
    #[command(flatten)]
    pub secret: SecretArgs,
}

/// Parses `90s`, `30m`, `1h`, `7d` (a bare number is seconds).
pub fn parse_ttl(ttl: &str) -> Result<i64> {
    let ttl = ttl.trim();
    let (number, unit) = ttl.split_at(ttl.find(|c: char| !c.is_ascii_digit()).unwrap_or(ttl.len()));
    let number: i64 = number
        .parse()
        .map_err(|_| Error::invalid("ttl", "must look like 90s, 30m, 1h or 7d"))?;
    let seconds = match unit {
        "" | "s" => number,
        "m" => number * 60,
        "h" => number * 3600,
        "d" => number * 86400,
        _ => return Err(Error::invalid("ttl", "unit must be s, m, h or d")),
    };
    if seconds <= 0 || seconds > 366 * 86400 {
        return Err(Error::invalid("ttl", "must be between 1s and 366d"));
    }
    Ok(seconds)
}

/// Hides the password of a database URL.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme + 3],
                    &userinfo[..colon],
                    &url[at..]
                ),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// Where the generated secret lives: beside a SQLite file, else in the working directory.
pub fn secret_path(database_url: &str) -> PathBuf {
    if let Some(rest) = database_url.strip_prefix("sqlite:") {
        let file = rest
            .trim_start_matches("//")
            .split('?')
            .next()
            .unwrap_or_default();
        if !file.is_empty() && !file.contains(":memory:") {
            return PathBuf::from(format!("{file}.secret"));
        }
    }
    PathBuf::from("casework.secret")
}

/// Reads the secret at `path`, creating it (random, mode 0600) on first use.
pub fn load_or_create_secret(path: &Path) -> Result<Vec<u8>> {
    match std::fs::read_to_string(path) {
        Ok(secret) if !secret.trim().is_empty() => return Ok(secret.trim().as_bytes().to_vec()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(Error::Unavailable(format!(
                "cannot read {}: {e}",
                path.display()
            )));
        }
    }
    use rand::Rng;
    let bytes: [u8; 32] = rand::rng().random();
    let secret: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(mut file) => {
            use std::io::Write;
            file.write_all(secret.as_bytes())
                .map_err(|e| Error::Unavailable(format!("cannot write {}: {e}", path.display())))?;
            Ok(secret.into_bytes())
        }
        // Another process created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => load_or_create_secret(path),
        Err(e) => Err(Error::Unavailable(format!(
            "cannot create {}: {e}",
            path.display()
        ))),
    }
}

impl SecretArgs {
    pub fn authenticator(
        &self,
        database_url: &str,
    ) -> Result<crate::transport::auth::Authenticator> {
        use crate::transport::auth::Authenticator;
        if let Some(path) = &self.jwt_public_key {
            let pem = std::fs::read(path).map_err(|e| {
                Error::invalid(
                    "jwt_public_key",
                    format!("cannot read {}: {e}", path.display()),
                )
            })?;
            return Authenticator::public_key(&pem);
        }
        let secret = match &self.jwt_secret {
            Some(secret) if secret.len() >= 16 => secret.as_bytes().to_vec(),
            Some(_) => {
                return Err(Error::invalid(
                    "jwt_secret",
                    "must be at least 16 characters",
                ));
            }
            // Every process on one PostgreSQL database must verify the others' tokens: a
            // secret generated per process would not do.
            None if database_url.starts_with("postgres") => {
                return Err(Error::invalid(
                    "jwt_secret",
                    "is required with a postgres:// database (or --jwt-public-key), so that \
                     every replica accepts the same tokens",
                ));
            }
            None => load_or_create_secret(&secret_path(database_url))?,
        };
        Ok(Authenticator::hs256(&secret))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_needs_a_shared_secret() {
        let none = SecretArgs {
            jwt_secret: None,
            jwt_public_key: None,
        };
        let error = none
            .authenticator("postgres://postgres@127.0.0.1/casework")
            .expect_err("a generated secret cannot be shared by replicas");
        assert!(error.to_string().contains("jwt_secret"), "{error}");
        let shared = SecretArgs {
            jwt_secret: Some("a-secret-all-replicas-share".into()),
            jwt_public_key: None,
        };
        assert!(
            shared
                .authenticator("postgres://postgres@127.0.0.1/casework")
                .is_ok()
        );
    }

    #[test]
    fn pool_settings_must_be_positive() {
        let pool = PoolArgs {
            pg_max_connections: 16,
            pg_acquire_timeout_secs: 0,
            pg_statement_timeout_secs: 30,
            pg_idle_in_transaction_timeout_secs: 60,
        };
        let error = pool.resolve().expect_err("zero timeout");
        assert!(
            error.to_string().contains("pg_acquire_timeout_secs"),
            "{error}"
        );
        let pool = PoolArgs {
            pg_acquire_timeout_secs: 2,
            ..pool
        };
        assert_eq!(
            pool.resolve().expect("valid").acquire_timeout,
            Duration::from_secs(2)
        );
    }
}
