//! CcrService: import validates the whole tree first, search is accent- and case-insensitive
//! and ranks word prefixes first, tickets carry leaf codes only; `casework import-ccr`.
#[macro_use]
mod common;

use casework::domain::Role;
use casework::pb;
use casework::pb::ccr_service_client::CcrServiceClient;
use common::*;
use tonic::Code;

fn demo_nodes() -> Vec<pb::Ccr> {
    casework::transport::ccr_file::parse(casework::demo::CCR_TAXONOMY)
        .expect("demo taxonomy")
        .into_iter()
        .map(|node| pb::Ccr {
            code: node.code,
            level: node.level,
            parent_code: node.parent_code,
            translations: node
                .translations
                .into_iter()
                .map(|t| pb::CcrTranslation {
                    language: t.language,
                    text: t.text,
                })
                .collect(),
        })
        .collect()
}

fn node(code: &str, level: i32, parent: &str, texts: &[(&str, &str)]) -> pb::Ccr {
    pb::Ccr {
        code: code.into(),
        level,
        parent_code: parent.into(),
        translations: texts
            .iter()
            .map(|(language, text)| pb::CcrTranslation {
                language: language.to_string(),
                text: text.to_string(),
            })
            .collect(),
    }
}

struct Ccr {
    client: CcrServiceClient<tonic::transport::Channel>,
    auth: Tickets,
}

impl Ccr {
    async fn new(server: &TestServer, sub: &str, role: Role) -> Ccr {
        Ccr {
            client: CcrServiceClient::new(server.channel().await),
            auth: server.tickets(sub, role).await,
        }
    }

    async fn import(
        &mut self,
        nodes: Vec<pb::Ccr>,
        validate_only: bool,
    ) -> Result<pb::ImportCcrResponse, tonic::Status> {
        let request = self.auth.req(pb::ImportCcrRequest {
            nodes,
            validate_only,
        });
        Ok(self.client.import_ccr(request).await?.into_inner())
    }

    async fn tree(&mut self, language: &str) -> Vec<pb::CcrTier> {
        let request = self.auth.req(pb::ListCcrTreeRequest {
            language: language.into(),
        });
        self.client
            .list_ccr_tree(request)
            .await
            .expect("tree")
            .into_inner()
            .tiers
    }

    async fn search(&mut self, query: &str, language: &str) -> Vec<pb::SearchableCcrChild> {
        let request = self.auth.req(pb::SearchCcrRequest {
            query: query.into(),
            language: language.into(),
            page_size: 0,
        });
        self.client
            .search_ccr(request)
            .await
            .expect("search")
            .into_inner()
            .results
    }
}

fn codes(results: &[pb::SearchableCcrChild]) -> Vec<String> {
    results
        .iter()
        .map(|r| r.data.as_ref().expect("data").code.clone())
        .collect()
}

both_backends! {
#[tokio::test]
async fn import_validates_the_whole_tree_and_keeps_the_old_one_on_failure(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let mut admin = Ccr::new(&server, ADMIN, Role::Admin).await;
    let summary = admin
        .import(demo_nodes(), false)
        .await
        .expect("import demo");
    assert_eq!(
        (
            summary.level1_count,
            summary.level2_count,
            summary.level3_count
        ),
        (4, 8, 16)
    );
    assert_eq!(summary.translation_count, 28 * 3);
    let before = admin.tree("").await;
    assert_eq!(before.len(), 4);
    assert_eq!(before[0].children.len(), 2);
    assert_eq!(before[0].children[0].children.len(), 2);

    let mut broken = demo_nodes();
    broken.push(node("1A.1", 3, "1A", &[("en", "duplicate")])); // duplicate code
    broken.push(node("9A.1", 3, "9A", &[("en", "orphan")])); // missing parent
    broken.push(node("1A.1.1", 4, "1A.1", &[("en", "too deep")])); // level 4
    broken.push(node("1A.9", 3, "1A", &[])); // leaf without translation
    broken.push(node("5", 1, "", &[("en", "lonely")])); // level-1 leaf
    let first_new = demo_nodes().len();
    let status = assert_code(admin.import(broken, false).await, Code::InvalidArgument);
    let fields = violated_fields(&status);
    for expected in [
        format!("nodes[{first_new}].code"),
        format!("nodes[{}].parent_code", first_new + 1),
        format!("nodes[{}].level", first_new + 2),
        format!("nodes[{}].translations", first_new + 3),
        format!("nodes[{}].code", first_new + 4),
    ] {
        assert!(
            fields.contains(&expected),
            "{expected} missing from {fields:?}"
        );
    }
    assert_eq!(admin.tree("").await, before, "the old taxonomy is intact");

    // validate_only counts and changes nothing; agents may not import.
    let dry = admin
        .import(
            vec![
                node("1", 1, "", &[("en", "x")]),
                node("1A", 2, "1", &[("en", "y")]),
                node("1A.1", 3, "1A", &[("en", "z")]),
            ],
            true,
        )
        .await
        .expect("dry run");
    assert_eq!(dry.removed_count, 25);
    assert_eq!(admin.tree("").await, before);
    let mut agent = Ccr::new(&server, AGENT, Role::Agent).await;
    assert_code(
        agent.import(demo_nodes(), false).await,
        Code::PermissionDenied,
    );
    assert_eq!(
        agent.tree("de").await[0]
            .ccr
            .as_ref()
            .expect("ccr")
            .translations[0]
            .text,
        "Lieferung"
    );
    server.stop().await;
}
}

both_backends! {
#[tokio::test]
async fn search_finds_words_in_their_language_and_ranks_prefixes_first(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let mut admin = Ccr::new(&server, ADMIN, Role::Admin).await;
    admin.import(demo_nodes(), false).await.expect("import");
    let mut agent = Ccr::new(&server, AGENT, Role::Agent).await;

    // German, any case: the delivery leaves, each with its parents (level 1 first).
    let results = agent.search("LIEFERUNG", "de").await;
    assert_eq!(codes(&results), vec!["1A.1", "1A.2", "1B.1", "1B.2"]);
    let parents: Vec<&str> = results[0].parents.iter().map(|p| p.code.as_str()).collect();
    assert_eq!(parents, vec!["1", "1A"]);
    assert_eq!(
        results[0].data.as_ref().expect("data").translation,
        "Fahrer ist spät dran"
    );
    assert_eq!(results[0].data.as_ref().expect("data").language, "de");
    // French, and the German word finds nothing in French.
    assert_eq!(
        codes(&agent.search("livraison", "fr").await),
        vec!["1A.1", "1A.2", "1B.1", "1B.2"]
    );
    assert!(agent.search("Lieferung", "fr").await.is_empty());
    // Accents are ignored both ways.
    assert_eq!(
        codes(&agent.search("ruckerstattung", "de").await),
        vec!["2A.1", "2A.2"]
    );
    assert_eq!(
        codes(&agent.search("échec", "fr").await),
        vec!["2B.1", "2B.2"]
    );

    // Word prefixes rank before substrings, which rank before parent-only matches.
    admin
        .import(
            vec![
                node("1", 1, "", &[("en", "Delivery")]),
                node("1A", 2, "1", &[("en", "Problems")]),
                node("1A.1", 3, "1A", &[("en", "Redelivery requested")]),
                node("1A.2", 3, "1A", &[("en", "Delivery late")]),
                node("1A.3", 3, "1A", &[("en", "Cold food")]),
            ],
            false,
        )
        .await
        .expect("small taxonomy");
    assert_eq!(
        codes(&agent.search("deliv", "en").await),
        vec!["1A.2", "1A.1", "1A.3"]
    );
    server.stop().await;
}
}

both_backends! {
#[tokio::test]
async fn tickets_carry_leaf_codes_only(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let mut ccr = Ccr::new(&server, ADMIN, Role::Admin).await;
    ccr.import(demo_nodes(), false).await.expect("import");
    let mut admin = server.admin().await;
    let mut request = new_ticket("cust-ccr");
    request.metadata = Some(pb::TicketMetadata {
        ccr: "2B.2".into(),
        ..Default::default()
    });
    let ticket = admin.create(request.clone()).await.expect("leaf code");
    assert_eq!(ticket.metadata.expect("metadata").ccr, "2B.2");
    request.metadata = Some(pb::TicketMetadata {
        ccr: "2B".into(),
        ..Default::default()
    });
    let status = assert_code(admin.create(request).await, Code::InvalidArgument);
    assert_eq!(violated_fields(&status), vec!["metadata.ccr".to_string()]);

    let update = |code: &str| pb::UpdateTicketRequest {
        ticket_id: ticket.id.clone(),
        ticket: Some(pb::Ticket {
            metadata: Some(pb::TicketMetadata {
                ccr: code.into(),
                ..Default::default()
            }),
            ..Default::default()
        }),
        update_mask: Some(prost_types::FieldMask {
            paths: vec!["metadata.ccr".into()],
        }),
        expected_version: 0,
    };
    let request = admin.req(update("1A.1"));
    let updated = admin
        .client
        .update_ticket(request)
        .await
        .expect("update")
        .into_inner();
    assert_eq!(
        updated
            .ticket
            .expect("ticket")
            .metadata
            .expect("metadata")
            .ccr,
        "1A.1"
    );
    let request = admin.req(update("1A"));
    let status = assert_code(
        admin.client.update_ticket(request).await,
        Code::InvalidArgument,
    );
    assert_eq!(
        violated_fields(&status),
        vec!["ticket.metadata.ccr".to_string()]
    );
    server.stop().await;
}
}

both_backends! {
async fn import_ccr_command_reads_csv_and_refuses_a_broken_file(backend: Backend) {
    let dir = tempfile::tempdir().expect("dir");
    let postgres = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => Some(PostgresDatabase::create().await),
    };
    let database_url = match &postgres {
        None => format!("sqlite://{}", dir.path().join("cli.db").display()),
        Some(database) => database.url.clone(),
    };
    let good = dir.path().join("ccr.csv");
    std::fs::write(
        &good,
        "code,level,parent_code,language,text\n\
         1,1,,en,Delivery\n1,1,,de,Lieferung\n1A,2,1,en,Late delivery\n\
         1A.1,3,1A,en,Rider is late\n1A.1,3,1A,de,Fahrer ist spät dran\n",
    )
    .expect("write csv");
    let run = |file: &std::path::Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_casework"))
            .args([
                "import-ccr",
                file.to_str().expect("path"),
                "--database-url",
                &database_url,
            ])
            .output()
            .expect("run casework")
    };
    let output = run(&good);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("1 level-3 codes, 5 translations"),
        "{stdout}"
    );

    let broken = dir.path().join("broken.json");
    std::fs::write(
        &broken,
        r#"[{"code": "1", "level": 1, "translations": [{"language": "en", "text": "Delivery"}]},
            {"code": "1A.1", "level": 3, "parent_code": "1A", "translations": []}]"#,
    )
    .expect("write json");
    let output = run(&broken);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("nodes[1].parent_code") && stderr.contains("nodes[1].translations"),
        "{stderr}"
    );

    let store = casework::store::connect(&database_url)
        .await
        .expect("store");
    let nodes = store.list_ccr().await.expect("list");
    assert_eq!(nodes.len(), 3, "the good import stands");
    assert_eq!(nodes[2].translations.len(), 2);
    store.close().await;
}
}

both_backends! {
#[tokio::test]
async fn bad_ccr_input_names_the_field(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let mut agent = Ccr::new(&server, AGENT, Role::Agent).await;
    let search = |query: &str, language: &str, page_size: i32| pb::SearchCcrRequest {
        query: query.into(),
        language: language.into(),
        page_size,
    };
    for (request, field) in [
        (search("", "en", 0), "query"),
        (search(&"q".repeat(201), "en", 0), "query"),
        (search("...", "en", 0), "query"),
        (search("refund", "e n", 0), "language"),
        (search("refund", &"x".repeat(17), 0), "language"),
        (search("refund", "en", -1), "page_size"),
        (search("refund", "en", 101), "page_size"),
    ] {
        let request = agent.auth.req(request);
        let status = assert_code(
            agent.client.search_ccr(request).await,
            Code::InvalidArgument,
        );
        assert_eq!(violated_fields(&status), vec![field.to_string()]);
    }
    let request = agent.auth.req(pb::ListCcrTreeRequest {
        language: "../etc".into(),
    });
    let status = assert_code(
        agent.client.list_ccr_tree(request).await,
        Code::InvalidArgument,
    );
    assert_eq!(violated_fields(&status), vec!["language".to_string()]);
    for (code, expected) in [("", Code::InvalidArgument), ("9Z.9", Code::NotFound)] {
        let request = agent.auth.req(pb::GetCcrRequest { code: code.into() });
        assert_code(agent.client.get_ccr(request).await, expected);
    }
    let mut admin = Ccr::new(&server, ADMIN, Role::Admin).await;
    let status = assert_code(admin.import(vec![], false).await, Code::InvalidArgument);
    assert_eq!(violated_fields(&status), vec!["nodes".to_string()]);
    let mut node = node("1", 1, "", &[("", "Delivery")]);
    node.translations.push(pb::CcrTranslation {
        language: "en".into(),
        text: String::new(),
    });
    let status = assert_code(admin.import(vec![node], false).await, Code::InvalidArgument);
    let fields = violated_fields(&status);
    for field in [
        "nodes[0].translations[0].language",
        "nodes[0].translations[1].text",
        "nodes[0].code",
    ] {
        assert!(fields.contains(&field.to_string()), "{field}: {fields:?}");
    }
    assert!(admin.tree("").await.is_empty(), "nothing was imported");
    server.stop().await;
}
}
