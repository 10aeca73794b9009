//! Hostile input, generated (proptest): every gRPC method receives random protobuf (unknown
//! fields, wrong wire types, huge and invalid-UTF-8 strings, negative and huge numbers,
//! nesting, truncation) and every REST route random JSON (wrong types, deep nesting, huge
//! strings) and random path parameters. Never a panic, never INTERNAL or a 5xx, and every
//! INVALID_ARGUMENT / 400 names what was wrong.
//!
//! `PROPTEST_CASES` sets the cases per method and route (32 by default; the documented long
//! run is 10,000).
#[macro_use]
mod common;

use casework::domain::Role;
use common::*;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use std::sync::Arc;
use tonic::Code;

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(32)
}

/// A protobuf varint.
fn varint(mut value: u64, out: &mut Vec<u8>) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Random protobuf: fields 1–20 (and a few far ones) of every wire type, any values.
fn message(depth: u32) -> BoxedStrategy<Vec<u8>> {
    let scalar = prop_oneof![
        any::<u64>().prop_map(|v| (0u8, {
            let mut b = Vec::new();
            varint(v, &mut b);
            b
        })),
        // Negative int32/int64 as protobuf sends them: ten-byte varints.
        any::<i64>().prop_map(|v| (0u8, {
            let mut b = Vec::new();
            varint(v as u64, &mut b);
            b
        })),
        any::<[u8; 8]>().prop_map(|v| (1u8, v.to_vec())),
        any::<[u8; 4]>().prop_map(|v| (5u8, v.to_vec())),
        // Strings and bytes: short, long, invalid UTF-8, control characters.
        prop::collection::vec(any::<u8>(), 0..64).prop_map(|v| (2u8, v)),
        "\\PC{0,40}".prop_map(|s| (2u8, s.into_bytes())),
        (1usize..200_000).prop_map(|n| (2u8, vec![b'x'; n])),
    ];
    let field = if depth == 0 {
        scalar.boxed()
    } else {
        prop_oneof![
            4 => scalar,
            1 => message(depth - 1).prop_map(|m| (2u8, m)),
        ]
        .boxed()
    };
    prop::collection::vec(
        (prop_oneof![1u32..=20, Just(1000), Just(536_870_911)], field),
        0..8,
    )
    .prop_map(|fields| {
        let mut out = Vec::new();
        for (number, (wire, value)) in fields {
            varint(((number as u64) << 3) | wire as u64, &mut out);
            match wire {
                2 => {
                    varint(value.len() as u64, &mut out);
                    out.extend(value);
                }
                _ => out.extend(value),
            }
        }
        out
    })
    .boxed()
}

/// Every method of the casework services.
fn methods() -> Vec<String> {
    use prost::Message;
    let set = prost_types::FileDescriptorSet::decode(casework::pb::FILE_DESCRIPTOR_SET)
        .expect("descriptors");
    let mut methods = Vec::new();
    for file in set.file {
        for service in &file.service {
            for method in &service.method {
                methods.push(format!(
                    "/{}.{}/{}",
                    file.package(),
                    service.name(),
                    method.name()
                ));
            }
        }
    }
    methods
}

/// An answer to hostile input is a refusal that says why, or a plain answer: never INTERNAL,
/// UNKNOWN or DATA_LOSS, and an INVALID_ARGUMENT names a field.
fn acceptable(what: &str, status: &tonic::Status) -> Result<(), TestCaseError> {
    prop_assert!(
        !matches!(
            status.code(),
            Code::Internal | Code::Unknown | Code::DataLoss
        ),
        "{what}: {status:?}"
    );
    if status.code() == Code::InvalidArgument {
        prop_assert!(
            !violated_fields(status).is_empty(),
            "{what}: a refusal names the field: {status:?}"
        );
    }
    Ok(())
}

#[test]
fn random_protobuf_to_every_method_is_refused_cleanly() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let server = runtime.block_on(TestServer::start());
    let admin = runtime.block_on(server.admin());
    let ticket = runtime
        .block_on(admin.clone().create(new_ticket("cust-1")))
        .expect("a ticket to aim at");
    let token = format!("bearer {}", server.token(ADMIN, Role::Admin));
    for method in methods() {
        let mut runner = TestRunner::new(Config {
            cases: cases(),
            failure_persistence: None,
            ..Config::default()
        });
        let strategy = (message(2), any::<bool>(), 0usize..16);
        let outcome = runner.run(&strategy, |(mut body, truncate, cut)| {
            // Now and then a real id in field 1, so calls get past "not found".
            if body.is_empty() {
                body.extend([0x0a, ticket.id.len() as u8]);
                body.extend(ticket.id.as_bytes());
            }
            if truncate {
                body.truncate(body.len().saturating_sub(cut));
            }
            let headers = [
                ("content-type", "application/grpc"),
                ("te", "trailers"),
                ("authorization", token.as_str()),
                ("grpc-timeout", "5S"),
            ];
            let (http, status) = runtime.block_on(async {
                if method.contains("/Watch") {
                    raw_grpc_stream(&server, &method, &headers, grpc_frame(0, &body)).await
                } else {
                    raw_grpc(&server, &method, &headers, grpc_frame(0, &body)).await
                }
            });
            prop_assert_eq!(http, 200, "{}", method);
            let status = status.unwrap_or_else(|| tonic::Status::ok(""));
            acceptable(&method, &status)
        });
        if let Err(error) = outcome {
            panic!("{method}: {error}");
        }
    }
    runtime.block_on(server.stop());
}

/// Random JSON, deep and wide, of every type.
fn json() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        "\\PC{0,30}".prop_map(Value::String),
        (1usize..100_000).prop_map(|n| Value::String("y".repeat(n))),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::hash_map(
                prop_oneof![
                    // The blueprints' own field names, so values land on real fields.
                    Just("status".to_string()),
                    Just("agentUserID".to_string()),
                    Just("queueID".to_string()),
                    Just("reason".to_string()),
                    Just("resolutionStatus".to_string()),
                    Just("ticketIDs".to_string()),
                    Just("statusID".to_string()),
                    Just("page".to_string()),
                    "[a-zA-Z]{1,12}",
                ],
                inner,
                0..8
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Every REST route as `(method, path template)`, from the served OpenAPI document.
async fn routes(server: &TestServer) -> Vec<(String, String)> {
    let openapi: serde_json::Value = reqwest::get(format!("{}/openapi.json", server.url()))
        .await
        .expect("openapi")
        .json()
        .await
        .expect("json");
    let mut routes = Vec::new();
    for (path, item) in openapi["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("item").keys() {
            routes.push((method.to_uppercase(), path.clone()));
        }
    }
    routes
}

#[test]
fn random_json_and_path_parameters_to_every_route_are_refused_cleanly() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let server = Arc::new(runtime.block_on(TestServer::start()));
    let ticket = runtime
        .block_on(async { server.admin().await.create(new_ticket("cust-1")).await })
        .expect("a ticket to aim at");
    let token = format!("bearer {}", server.token(ADMIN, Role::Admin));
    // A connection per request: the server may close one whose body it did not read.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("client");
    for (method, template) in runtime.block_on(routes(&server)) {
        let mut runner = TestRunner::new(Config {
            cases: cases(),
            failure_persistence: None,
            ..Config::default()
        });
        let parameter = prop_oneof![
            Just(ticket.id.clone()),
            Just("1".to_string()),
            Just("-1".to_string()),
            Just("99999999999999999999".to_string()),
            Just("..%2F..%2Fetc%2Fpasswd".to_string()),
            "[a-zA-Z0-9%._~-]{1,300}",
        ];
        let deep = (0usize..2, 1usize..5000).prop_map(|(on, depth)| {
            (on == 1).then(|| format!("{}{}", "[".repeat(depth), "]".repeat(depth)))
        });
        let strategy = (json(), parameter, deep, "[a-z0-9=&%]{0,60}");
        let outcome = runner.run(&strategy, |(body, parameter, deep, query)| {
            let path = template
                .split('/')
                .map(|segment| {
                    if segment.starts_with('{') {
                        parameter.as_str()
                    } else {
                        segment
                    }
                })
                .collect::<Vec<_>>()
                .join("/");
            let url = format!("{}{path}?{query}", server.url());
            let body = deep.unwrap_or_else(|| body.to_string());
            let request = client
                .request(method.parse().expect("method"), url)
                .header("authorization", &token)
                .header("content-type", "application/json")
                .body(body);
            let (status, text) = runtime.block_on(async {
                let response = request.send().await.expect("response");
                let status = response.status().as_u16();
                (status, response.text().await.unwrap_or_default())
            });
            prop_assert!(status < 500, "{method} {path}: {status} {text}");
            if status == 400 {
                let body: serde_json::Value = serde_json::from_str(&text)
                    .map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
                let detail = body["errors"][0]["detail"].as_str().unwrap_or("");
                prop_assert!(!detail.is_empty(), "{method} {path}: 400 says why: {text}");
            }
            Ok(())
        });
        if let Err(error) = outcome {
            panic!("{method} {template}: {error}");
        }
    }
    runtime.block_on(async {
        Arc::try_unwrap(server)
            .ok()
            .expect("one owner")
            .stop()
            .await
    });
}
