//! The harness's real services (`e2e::services`): Chroma and the embedding sidecar start,
//! answer, stop (their port goes dead) and restart (Chroma keeping its data).

use std::time::Duration;

use e2e::services::{Chroma, Embedder};
use serde_json::{Value, json};

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

const COLLECTIONS: &str = "/tenants/default_tenant/databases/default_database/collections";

#[test]
fn chroma_starts_and_answers_heartbeat() {
    let chroma = Chroma::start();
    assert_eq!(chroma.url, format!("http://{}", chroma.host()));
    let resp = client().get(chroma.api("/heartbeat")).send().unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().unwrap();
    assert!(
        body["nanosecond heartbeat"].as_u64().is_some(),
        "unexpected heartbeat {body}"
    );
}

#[test]
fn chroma_stop_makes_it_unreachable_and_restart_keeps_data() {
    let mut chroma = Chroma::start();
    let http = client();
    let created: Value = http
        .post(chroma.api(COLLECTIONS))
        .json(&json!({
            "name": "kb-services-test",
            "configuration": {"hnsw": {"space": "cosine"}},
            "get_or_create": true,
        }))
        .send()
        .unwrap()
        .error_for_status()
        .unwrap()
        .json()
        .unwrap();
    let id = created["id"].as_str().unwrap().to_string();
    let add = http
        .post(chroma.api(&format!("{COLLECTIONS}/{id}/add")))
        .json(&json!({
            "ids": ["chunk-1"],
            "embeddings": [[1.0, 0.0, 0.0]],
            "documents": ["hello"],
            "metadatas": [{"doc_id": "d1"}],
        }))
        .send()
        .unwrap();
    assert_eq!(add.status(), 201, "{}", add.text().unwrap());

    chroma.stop();
    assert!(!chroma.is_running());
    let err = http
        .get(chroma.api("/heartbeat"))
        .send()
        .expect_err("a stopped Chroma still answers");
    assert!(err.is_connect(), "{err}");

    chroma.restart();
    let found: Value = http
        .get(chroma.api(&format!("{COLLECTIONS}/kb-services-test")))
        .send()
        .unwrap()
        .error_for_status()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(found["id"], id.as_str());
    assert_eq!(found["configuration_json"]["hnsw"]["space"], "cosine");
    let count: Value = http
        .get(chroma.api(&format!("{COLLECTIONS}/{id}/count")))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(count, json!(1));
    let hits: Value = http
        .post(chroma.api(&format!("{COLLECTIONS}/{id}/query")))
        .json(&json!({
            "query_embeddings": [[1.0, 0.0, 0.0]],
            "n_results": 1,
            "include": ["documents", "distances"],
        }))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(hits["ids"], json!([["chunk-1"]]));
    assert_eq!(hits["documents"], json!([["hello"]]));
}

#[test]
fn embedder_embeds_hello_into_384_floats_and_restarts() {
    let mut embedder = Embedder::start();
    let http = client();
    let health: Value = http
        .get(format!("{}/health", embedder.url))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(health["dims"], 384, "{health}");

    let url = embedder.url.clone();
    let embed = |http: &reqwest::blocking::Client| -> Vec<f64> {
        let body: Value = http
            .post(format!("{url}/v1/embeddings"))
            .json(&json!({"input": "hello"}))
            .send()
            .unwrap()
            .error_for_status()
            .unwrap()
            .json()
            .unwrap();
        body["data"][0]["embedding"]
            .as_array()
            .unwrap_or_else(|| panic!("no embedding in {body}"))
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect()
    };
    let v = embed(&http);
    assert_eq!(v.len(), 384);
    let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
    assert!((norm - 1.0).abs() < 1e-3, "norm {norm}");

    embedder.stop();
    let err = http
        .get(format!("{}/health", embedder.url))
        .send()
        .expect_err("a stopped embedder still answers");
    assert!(err.is_connect(), "{err}");
    embedder.restart();
    let again = embed(&http);
    let cos: f64 = v.iter().zip(&again).map(|(a, b)| a * b).sum();
    assert!(cos > 0.9999, "restarted embedder disagrees: cos {cos}");
}
