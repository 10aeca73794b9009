//! Faults of the machine under the database: SQLite's disk full and its folder read-only
//! (a small tmpfs the test mounts), PostgreSQL's connections terminated and a statement
//! stuck past the statement timeout. Writes fail with a clear status (RESOURCE_EXHAUSTED or
//! UNAVAILABLE, never INTERNAL), reads go on where they can, nothing is corrupted, and once
//! the fault is gone calls succeed again without a restart.
#[macro_use]
mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use tonic::Code;

/// A tmpfs of `size` mounted for one test, unmounted when dropped.
struct Mount {
    path: PathBuf,
    _dir: tempfile::TempDir,
}

impl Mount {
    /// `None` (with a warning) where this process may not mount; CI runs as root and must.
    fn new(size: &str) -> Option<Mount> {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("fs");
        std::fs::create_dir(&path).expect("mount point");
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&path)
            .status()
            .is_ok_and(|s| s.success());
        if !mounted {
            if std::env::var("CI").is_ok_and(|ci| ci == "true") {
                panic!("cannot mount a tmpfs (CI runs as root and must)");
            }
            eprintln!("skipped: cannot mount a tmpfs here (needs root)");
            return None;
        }
        Some(Mount { path, _dir: dir })
    }

    fn remount(&self, options: &str) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,{options}")])
            .arg(&self.path)
            .status()
            .expect("mount");
        assert!(status.success(), "remount {options}");
    }

    fn database_url(&self) -> String {
        format!("sqlite://{}", self.path.join("casework.db").display())
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

async fn integrity_ok(path: &Path) {
    use sqlx::Connection;
    let url = format!("sqlite://{}?mode=ro", path.join("casework.db").display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await.expect("open");
    let result: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut conn)
        .await
        .expect("integrity_check");
    assert_eq!(result, "ok");
}

/// Writes `n` tickets and returns how many failed; panics on a failure that is not a clear
/// "retry later".
async fn failures(admin: &mut Tickets, n: usize, prefix: &str) -> usize {
    let mut failed = 0;
    for i in 0..n {
        let mut ticket = new_ticket(&format!("{prefix}-{i}"));
        ticket.subject = format!("{prefix} {i} {}", "x".repeat(400));
        if let Err(status) = admin.create(ticket).await {
            assert!(
                matches!(status.code(), Code::ResourceExhausted | Code::Unavailable),
                "a clear status, not {status:?}"
            );
            failed += 1;
        }
    }
    failed
}

#[tokio::test]
async fn a_full_disk_refuses_writes_keeps_reads_and_recovers_without_a_restart() {
    let Some(mount) = Mount::new("2m") else {
        return;
    };
    let server = TestServer::start_at(&mount.database_url()).await;
    let mut admin = server.admin().await;
    let first = admin.create(new_ticket("before")).await.expect("create");
    // Write until the disk is full.
    let mut refused = None;
    for i in 0..10_000 {
        let mut ticket = new_ticket(&format!("fill-{i}"));
        ticket.subject = format!("fill {i} {}", "x".repeat(400));
        if let Err(status) = admin.create(ticket).await {
            refused = Some(status);
            break;
        }
    }
    let refused = refused.expect("the disk fills");
    assert!(
        matches!(refused.code(), Code::ResourceExhausted | Code::Unavailable),
        "{refused:?}"
    );
    // Reads go on.
    assert_eq!(admin.get(&first.id).await.expect("read").id, first.id);
    // Room again: writes succeed with no restart.
    mount.remount("size=64m");
    let failed = failures(&mut admin, 200, "after").await;
    assert!(
        failed <= 1,
        "{failed} of 200 writes failed after the disk had room"
    );
    server.stop().await;
    integrity_ok(&mount.path).await;
}

#[tokio::test]
async fn a_read_only_database_folder_is_refused_clearly_and_nothing_is_corrupted() {
    let Some(mount) = Mount::new("64m") else {
        return;
    };
    let server = TestServer::start_at(&mount.database_url()).await;
    let mut admin = server.admin().await;
    admin.create(new_ticket("before")).await.expect("create");
    server.stop().await;
    // Read-only under a stopped server (a running one holds its files open for writing,
    // so the kernel will not make the folder read-only under it): opening it is refused
    // with a clear error, not a panic or a half-opened store.
    mount.remount("ro");
    let error = casework::store::connect(&mount.database_url())
        .await
        .err()
        .expect("a read-only folder is refused");
    assert!(
        matches!(
            error,
            casework::error::Error::Unavailable(_) | casework::error::Error::ResourceExhausted(_)
        ),
        "{error:?}"
    );
    mount.remount("rw");
    integrity_ok(&mount.path).await;
    let server = TestServer::start_at(&mount.database_url()).await;
    let mut admin = server.admin().await;
    let failed = failures(&mut admin, 20, "rw").await;
    assert_eq!(failed, 0, "writable again");
    server.stop().await;
}

#[tokio::test]
async fn terminated_postgres_connections_cost_at_most_a_retry() {
    if !postgres_ready().await {
        return;
    }
    use sqlx::Connection;
    let server = TestServer::start_on(Backend::Postgres).await;
    let mut admin = server.admin().await;
    let ticket = admin.create(new_ticket("before")).await.expect("create");
    let mut killer = sqlx::PgConnection::connect(&server.database_url)
        .await
        .expect("connect");
    let terminated: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .fetch_all(&mut killer)
    .await
    .expect("terminate");
    assert!(!terminated.is_empty(), "the server had connections");
    let mut failed = 0;
    for i in 0..200 {
        match admin.get(&ticket.id).await {
            Ok(_) => {}
            Err(status) => {
                assert_eq!(status.code(), Code::Unavailable, "{status:?}");
                failed += 1;
            }
        }
        if let Err(status) = admin.create(new_ticket(&format!("after-{i}"))).await {
            assert!(
                matches!(status.code(), Code::Unavailable | Code::Unknown),
                "{status:?}"
            );
            failed += 1;
        }
    }
    // At most one failed call per connection that went.
    assert!(
        failed <= terminated.len(),
        "{failed} of 400 calls failed after {} connections went",
        terminated.len()
    );
    server.stop().await;
}

#[tokio::test]
async fn a_statement_stuck_in_postgres_is_cancelled_at_the_statement_timeout() {
    if !postgres_ready().await {
        return;
    }
    use sqlx::Connection;
    let database = PostgresDatabase::create().await;
    let store = casework::store::connect_with(
        &database.url,
        &casework::store::PoolSettings {
            statement_timeout: std::time::Duration::from_millis(300),
            ..Default::default()
        },
    )
    .await
    .expect("store");
    seed(store.as_ref()).await;
    // Another transaction holds the queue's row, so the upsert waits on it…
    let mut holder = sqlx::PgConnection::connect(&database.url)
        .await
        .expect("connect");
    sqlx::query("BEGIN")
        .execute(&mut holder)
        .await
        .expect("begin");
    sqlx::query("SELECT id FROM queues WHERE id = $1 FOR UPDATE")
        .bind(QUEUE)
        .execute(&mut holder)
        .await
        .expect("lock");
    let queue = casework::domain::Queue {
        id: QUEUE.into(),
        name: "renamed".into(),
        language: "en".into(),
        default_sla_seconds: 60,
    };
    // …until the statement timeout cancels it: a clear "retry", not a hang or INTERNAL.
    let error = store.upsert_queue(&queue).await.expect_err("cancelled");
    assert!(
        matches!(error, casework::error::Error::Unavailable(_)),
        "{error:?}"
    );
    sqlx::query("ROLLBACK")
        .execute(&mut holder)
        .await
        .expect("rollback");
    store
        .upsert_queue(&queue)
        .await
        .expect("once the row is free");
}
