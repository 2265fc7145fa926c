//! Answers on the eval sets, end to end on both backends: a knowledge base nobody here wrote
//! (mtrag-un's IBM Cloud collection, 177 articles, from `../shared/eval/mtrag-un`) and the
//! sample knowledge base, each loaded with `kb-loader load` into the app with a real Chroma
//! and the real embedding sidecar. An answerable question gets an answer citing the article
//! that answers it; a question the knowledge base does not answer gets the offer of a person.
//!
//! The questions are real ones of each set (`make eval` measures all of them); these few
//! guard the whole path against a regression. The eval data lies beside the clone, as
//! `shared/` does on every machine and in CI: its absence fails the test.

use std::path::{Path, PathBuf};
use std::process::Command;

use core_logic::auth::Role;
use e2e::devhost_bin;
use e2e::http::{post_json, send, staff_token};
use e2e::platform::{Backend, PlatformApp, TenantSeed};
use e2e::services::{Chroma, Embedder};
use serde_json::{Value, json};

const ROOMY: &str = r#"{"rate_limits":{"per_visitor":100000,"per_client":100000}}"#;

struct Loaded {
    app: PlatformApp,
    tenant: TenantSeed,
    _chroma: Chroma,
    _embedder: Embedder,
}

/// The app with `folder` loaded into a fresh tenant by kb-loader.
fn load(backend: Backend, folder: &Path) -> Loaded {
    assert!(folder.is_dir(), "eval data missing: {}", folder.display());
    let tenant = TenantSeed::unique("evalset", ROOMY);
    let chroma = Chroma::start();
    let embedder = Embedder::start();
    let app = PlatformApp::start_with_retrieval(
        backend,
        std::slice::from_ref(&tenant),
        &chroma,
        &embedder,
        &[],
    );
    let kb_loader = devhost_bin().with_file_name("kb-loader");
    let out = Command::new(&kb_loader)
        .arg("load")
        .arg(folder)
        .args(["--url", &app.base])
        .env(
            "SUPPORT_AGENT_TOKEN",
            staff_token(&tenant.id, Role::Admin, "eval"),
        )
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", kb_loader.display()));
    assert!(out.status.success(), "kb-loader load: {out:?}");
    Loaded {
        app,
        tenant,
        _chroma: chroma,
        _embedder: embedder,
    }
}

impl Loaded {
    /// The turn of `question` in a new session.
    fn ask(&self, question: &str) -> Value {
        let session = send(post_json(
            &self.app,
            "/api/sessions",
            None,
            &json!({ "widget_key": self.tenant.widget_key }),
        ))
        .json();
        let id = session["session"]["id"].as_str().unwrap();
        let token = session["token"].as_str().unwrap();
        let turn = send(post_json(
            &self.app,
            &format!("/api/sessions/{id}/messages"),
            Some(token),
            &json!({ "text": question }),
        ));
        assert_eq!(turn.status, 201, "{}", turn.text);
        turn.json()
    }

    /// The external ids (file paths) of the documents a turn's reply cites.
    fn cited(&self, turn: &Value) -> Vec<String> {
        let admin = staff_token(&self.tenant.id, Role::Admin, "eval");
        turn["reply"]["citations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                let doc = c["document_id"].as_str().unwrap();
                let got = send(e2e::http::request(
                    &self.app,
                    reqwest::Method::GET,
                    &format!("/api/kb/documents/{doc}"),
                    Some(&admin),
                ))
                .json();
                got["document"]["external_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            })
            .collect()
    }

    /// Answered, citing only articles among `articles` (the set's gold articles).
    fn assert_answered_from(&self, question: &str, articles: &[&str]) {
        let turn = self.ask(question);
        assert_eq!(turn["action"], Value::Null, "{question}: {turn}");
        let cited = self.cited(&turn);
        assert!(!cited.is_empty(), "{question}: {turn}");
        for article in &cited {
            assert!(
                articles.contains(&article.as_str()),
                "{question}: cites {article}: {turn}"
            );
        }
    }

    fn assert_offered(&self, question: &str) {
        let turn = self.ask(question);
        assert_eq!(
            turn["action"]["type"], "offer_handoff",
            "{question}: {turn}"
        );
        assert_eq!(turn["reply"]["citations"], json!([]), "{question}: {turn}");
    }
}

/// This clone's folder (named by this file's crate, so another clone's build of the shared
/// test library cannot point elsewhere).
fn clone_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn mtrag_ibmcloud() -> PathBuf {
    clone_root().join("../shared/eval/mtrag-un/kb/ibmcloud")
}

fn a_real_help_center_answers_what_it_covers_and_offers_a_person_otherwise(backend: Backend) {
    let kb = load(backend, &mtrag_ibmcloud());
    kb.assert_answered_from("How does Calico enforce policies?", &["ibmcld_05986.md"]);
    kb.assert_answered_from(
        "Requirements for upgrading to MySQL version 8",
        &["ibmcld_06587.md", "ibmcld_06588.md"],
    );
    kb.assert_offered("Is it a paid service and how much?");
}

fn the_sample_knowledge_base_answers_what_it_covers_and_offers_a_person_otherwise(
    backend: Backend,
) {
    let kb = load(backend, &clone_root().join("kb-loader/sample-kb"));
    kb.assert_answered_from(
        "How long do I have to report a lost package?",
        &["shipping/lost-or-delayed-deliveries.md"],
    );
    kb.assert_offered("Do you have a loyalty points program?");
}

e2e::on_both_backends!(
    a_real_help_center_answers_what_it_covers_and_offers_a_person_otherwise,
    the_sample_knowledge_base_answers_what_it_covers_and_offers_a_person_otherwise,
);
