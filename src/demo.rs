//! Demo reference data for `serve --demo`: queues, departments, agents and a contact-reason
//! taxonomy (English, German, French) of a small food-delivery support floor. Loaded only
//! into an empty store. (The agent statuses `online`, `offline`, `break`, `busy` come with the
//! migrations.)
use crate::app::App;
use crate::domain::hours::{BusinessHours, WorkingSpan};
use crate::domain::sla::{SlaPolicy, SlaTargets};
use crate::domain::{Agent, AgentRole, EscalationDepartment, Queue, Severity};
use crate::error::Result;
use chrono::Weekday;

/// The demo CCR taxonomy, in the JSON form `casework import-ccr` reads.
pub const CCR_TAXONOMY: &str = include_str!("demo_ccr.json");

pub async fn load(app: &App) -> Result<bool> {
    let store = app.store().as_ref();
    if !store.is_empty().await? {
        return Ok(false);
    }
    app.replace_taxonomy(crate::transport::ccr_file::parse(CCR_TAXONOMY)?, false)
        .await?;
    for (id, name, language, sla) in [
        ("chat-sg-en", "chat-sg-en", "en", 900),
        ("chat-de-de", "chat-de-de", "de", 900),
        ("email-sg-en", "email-sg-en", "en", 86_400),
        ("vendor-sg-en", "vendor-sg-en", "en", 3_600),
    ] {
        store
            .upsert_queue(&Queue {
                id: id.into(),
                name: name.into(),
                language: language.into(),
                default_sla_seconds: sla,
            })
            .await?;
    }
    for policy in sla_policies(app.now()) {
        store.upsert_sla_policy(&policy).await?;
    }
    for (id, label) in [
        ("partner-service", "Partner Service"),
        ("corporate", "Corporate"),
        ("payments", "Payments"),
        ("logistics", "Logistics"),
    ] {
        store
            .upsert_department(&EscalationDepartment {
                id: id.into(),
                label: label.into(),
            })
            .await?;
    }
    type DemoAgent<'a> = (
        &'a str,
        &'a str,
        AgentRole,
        &'a [&'a str],
        &'a [&'a str],
        i32,
    );
    let agents: [DemoAgent; 4] = [
        (
            "agent@example.com",
            "Ada Agent",
            AgentRole::Agent,
            &["chat-sg-en", "email-sg-en"],
            &["en"],
            3,
        ),
        (
            "agent.de@example.com",
            "Dieter Agent",
            AgentRole::Agent,
            &["chat-de-de"],
            &["de", "en"],
            3,
        ),
        (
            "supervisor@example.com",
            "Sam Supervisor",
            AgentRole::Supervisor,
            &["chat-sg-en", "chat-de-de", "email-sg-en", "vendor-sg-en"],
            &["en", "de"],
            5,
        ),
        (
            "admin@example.com",
            "Alex Admin",
            AgentRole::Admin,
            &[],
            &[],
            0,
        ),
    ];
    for (id, name, role, queues, languages, max_concurrent) in agents {
        store
            .upsert_agent(&Agent {
                id: id.into(),
                name: name.into(),
                role,
                status: "offline".into(),
                status_alias: "Offline".into(),
                last_login_at: None,
                status_updated_at: None,
                queues: queues.iter().map(|q| q.to_string()).collect(),
                languages: languages.iter().map(|l| l.to_string()).collect(),
                max_concurrent,
            })
            .await?;
    }
    Ok(true)
}

/// Demo SLA policies: chats answered within a minute and every two minutes after, solved
/// within half an hour (an hour for low severity), around the clock; e-mail answered within
/// four working hours (Singapore, Monday to Friday 09:00–18:00) and solved within three
/// working days, on hold and waiting on the customer not counted.
fn sla_policies(now: crate::clock::Time) -> Vec<SlaPolicy> {
    let chat = |queue: &str, severity, resolution| SlaPolicy {
        queue: queue.into(),
        severity,
        targets: SlaTargets {
            first_reply_seconds: 60,
            next_reply_seconds: 120,
            resolution_seconds: resolution,
            warn_before_seconds: 30,
            pause_on_hold: true,
            pause_waiting_on_customer: false,
            business_hours: None,
        },
        updated_at: now,
    };
    let weekdays = [
        Weekday::Mon,
        Weekday::Tue,
        Weekday::Wed,
        Weekday::Thu,
        Weekday::Fri,
    ];
    let office = BusinessHours {
        time_zone: "Asia/Singapore".into(),
        weekly: weekdays
            .into_iter()
            .map(|weekday| WorkingSpan {
                weekday,
                start_minute: 9 * 60,
                end_minute: 18 * 60,
            })
            .collect(),
        holidays: Vec::new(),
    };
    vec![
        chat("chat-sg-en", None, 1800),
        chat("chat-sg-en", Some(Severity::Low), 3600),
        chat("chat-de-de", None, 1800),
        SlaPolicy {
            queue: "email-sg-en".into(),
            severity: None,
            targets: SlaTargets {
                first_reply_seconds: 4 * 3600,
                next_reply_seconds: 8 * 3600,
                resolution_seconds: 3 * 9 * 3600,
                warn_before_seconds: 3600,
                pause_on_hold: true,
                pause_waiting_on_customer: true,
                business_hours: Some(office),
            },
            updated_at: now,
        },
    ]
}
