//! `casework-bench` against a real server and a real store: every workload, both loop modes,
//! several addresses, the HTTP/1.1 side-by-side client, the fan-out, the attacks and the raw
//! store baseline run and report calls without errors. (The figures
//! are BENCHMARKS.md's business; no timing is asserted here.)
mod common;

use casework::config::{Limits, ServerOptions};
use casework::domain::Role;
use common::{ADMIN, TestServer};

/// Runs the bench with `args` and returns the JSON line it printed.
async fn bench(args: &[&str], token: &str) -> serde_json::Value {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_casework-bench"))
        .args(args)
        .env("CASEWORK_BENCH_TOKEN", token)
        .output()
        .await
        .expect("run casework-bench");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "casework-bench {args:?} failed: {}{}",
        stdout,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
        .lines()
        .last()
        .map(|line| serde_json::from_str(line).expect("one JSON line"))
        .unwrap_or(serde_json::Value::Null)
}

fn calls(report: &serde_json::Value) -> u64 {
    assert_eq!(report["errors"], 0, "errors in {report}");
    report["calls"].as_u64().expect("calls")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_workload_runs_against_a_real_server() {
    let server = TestServer::start().await;
    let token = server.token(ADMIN, Role::Admin);
    let addr = format!("http://{}", server.addr);
    let target = ["--addr", addr.as_str(), "--connections", "2"];
    let seed = [&target[..], &["--tickets", "40", "--concurrency", "4"]].concat();
    bench(&[&["seed"], &seed[..]].concat(), &token).await;
    let short = ["--seconds", "0.3", "--warmup", "0", "--concurrency", "4"];
    for workload in [
        "health", "get", "list", "rest-get", "create", "message", "day",
    ] {
        let args = [
            &["load"],
            &target[..],
            &short[..],
            &["--workload", workload],
        ]
        .concat();
        let report = bench(&args, &token).await;
        assert!(calls(&report) > 0, "{workload}: {report}");
    }
    let open = [
        &["load"],
        &target[..],
        &short[..],
        &["--workload", "get", "--rate", "100"],
    ]
    .concat();
    let report = bench(&open, &token).await;
    assert_eq!(report["mode"], "open");
    assert!(calls(&report) > 0, "{report}");

    // Several addresses (replicas) share the calls.
    let replicas = format!("{addr},{addr}");
    let spread = [
        &["load", "--addr", replicas.as_str()],
        &short[..],
        &["--workload", "get"],
    ]
    .concat();
    assert!(calls(&bench(&spread, &token).await) > 0);

    // The side-by-side's HTTP/1.1 client: REST and grpc-web.
    for workload in ["get", "list", "create"] {
        let args = [
            &["http", "--system", "casework", "--base-url", addr.as_str()],
            &short[..],
            &["--workload", workload],
        ]
        .concat();
        let report = bench(&args, &token).await;
        assert_eq!(report["system"], "casework");
        assert!(calls(&report) > 0, "http {workload}: {report}");
    }

    // Every watcher hears every ticket created while it listens (errors counts those that
    // heard fewer).
    let fanout = [
        &["fanout"],
        &target[..],
        &[
            "--watchers",
            "5",
            "--stalled",
            "2",
            "--rate",
            "20",
            "--seconds",
            "0.5",
        ],
    ]
    .concat();
    let report = bench(&fanout, &token).await;
    assert!(calls(&report) >= 5, "{report}");

    // Each room watcher hears the messages sent to its room.
    let rooms = [
        &["fanout", "--rooms"],
        &target[..],
        &["--watchers", "3", "--rate", "20", "--seconds", "0.5"],
    ]
    .concat();
    let report = bench(&rooms, &token).await;
    assert!(calls(&report) >= 3, "{report}");

    // The good client is served alone and under a flood (from a process of its own), whose
    // connections are ended.
    let flood = [
        &["abuse"],
        &target[..],
        &[
            "--attack-process",
            "--attack",
            "rapid-reset",
            "--attackers",
            "1",
            "--seconds",
            "0.3",
            "--rate",
            "50",
        ],
    ]
    .concat();
    let report = bench(&flood, &token).await;
    assert_eq!(report["attack"], "rapid-reset");
    assert!(calls(&report["alone"]) > 0, "{report}");
    assert!(calls(&report["attacked"]) > 0, "{report}");
    assert!(
        report["attacks"]["ended"].as_u64().unwrap_or(0) > 0,
        "{report}"
    );

    // An overload from another principal, far past its share (8 calls in flight here, so
    // the refusals do not hang on how the server's tasks happen to be scheduled), is shed.
    let small = TestServer::start_with(ServerOptions {
        limits: Limits {
            max_calls_per_principal: 8,
            ..Limits::default()
        },
        ..ServerOptions::default()
    })
    .await;
    let small_addr = format!("http://{}", small.addr);
    let small_target = ["--addr", small_addr.as_str(), "--connections", "2"];
    let seed = [
        &["seed"],
        &small_target[..],
        &["--tickets", "10", "--concurrency", "1"],
    ]
    .concat();
    bench(&seed, &token).await;
    let attacker = small.token("flood-bot", Role::Service);
    let overload = [
        &["abuse"],
        &small_target[..],
        &["--attack", "overload", "--seconds", "0.3", "--rate", "20"],
        &[
            "--overload-calls",
            "300",
            "--attack-token",
            attacker.as_str(),
        ],
    ]
    .concat();
    let report = bench(&overload, &small.token(ADMIN, Role::Admin)).await;
    assert_eq!(report["attack"], "overload");
    assert!(calls(&report["alone"]) > 0, "{report}");
    assert!(
        report["attacked"]["calls"].as_u64().unwrap_or(0) > 0,
        "{report}"
    );
    let refused = &report["attacks"]["calls"]["ResourceExhausted"];
    assert!(refused.as_u64().unwrap_or(0) > 0, "{report}");
    small.stop().await;

    let raw = format!("sqlite://{}", server.dir.path().join("raw.db").display());
    let store = [
        "store",
        "--database-url",
        raw.as_str(),
        "--batch",
        "16",
        "--seconds",
        "0.3",
        "--warmup",
        "0",
    ];
    let report = bench(&store, &token).await;
    assert_eq!(report["workload"], "store-group");
    assert!(calls(&report) > 0, "{report}");
}
