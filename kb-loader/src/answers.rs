//! `kb-loader eval-answers`: sends every question of a question file, and every message of
//! an escalation file, through the whole answer pipeline (a new chat session each, as a
//! visitor would) and prints answer quality: citation precision, the answer rate in and out
//! of scope, and escalation precision and recall (`core_logic::eval::AnswerTally`).
//!
//! The escalation file is JSON lines `{"id", "message", "escalate": true|false}`; every
//! question of the question file counts as a message that should not escalate.

use std::collections::{BTreeMap, HashMap, HashSet};

use anyhow::{Context, ensure};
use core_logic::eval::{AnswerTally, Expectation, TurnOutcome};
use indicatif::ProgressBar;
use serde::Deserialize;
use serde_json::Value;

use crate::api::Api;
use crate::eval::Question;

/// One line of the escalation file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EscalationCase {
    pub id: String,
    pub message: String,
    pub escalate: bool,
    /// The reason expected (documentation only).
    #[serde(default)]
    pub reason: Option<String>,
}

/// Parses an escalation file (JSON lines; blank lines ignored; ids unique).
pub fn parse_escalations(text: &str) -> anyhow::Result<Vec<EscalationCase>> {
    let mut cases = Vec::new();
    let mut ids = HashSet::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let case: EscalationCase =
            serde_json::from_str(line).with_context(|| format!("line {}", i + 1))?;
        ensure!(
            !case.message.trim().is_empty(),
            "line {}: empty message",
            i + 1
        );
        ensure!(
            ids.insert(case.id.clone()),
            "line {}: id {} is repeated",
            i + 1,
            case.id
        );
        cases.push(case);
    }
    Ok(cases)
}

/// One message to send and what it should get.
struct Probe<'a> {
    id: &'a str,
    group: &'a str,
    text: &'a str,
    expected: Expectation,
    /// The escalation reason expected, if the file names one.
    reason: Option<&'a str>,
}

/// The figures, overall and per group (question kind, or `escalation` / `no_escalation`).
#[derive(Debug, Default)]
pub struct AnswerEvaluation {
    pub all: AnswerTally,
    pub by_group: BTreeMap<String, AnswerTally>,
    /// Replies by responder (`extractive`, `llm`, `fallback`).
    pub responders: BTreeMap<String, usize>,
    /// Messages whose expectation was not met, for reading: (id, what happened).
    pub misses: Vec<(String, String)>,
}

/// What the bot did, read from a turn.
fn outcome_of(turn: &Value) -> TurnOutcome {
    match turn["action"]["type"].as_str() {
        Some("escalate") => TurnOutcome::Escalated,
        Some(_) => TurnOutcome::NotAnswered,
        None if turn["reply"].is_object() => TurnOutcome::Answered,
        None => TurnOutcome::NotAnswered,
    }
}

fn met(expected: &Expectation, outcome: TurnOutcome, cited: &[String]) -> bool {
    match expected {
        Expectation::Answer(right) => {
            outcome == TurnOutcome::Answered && cited.iter().any(|c| right.contains(c))
        }
        Expectation::NoAnswer => outcome == TurnOutcome::NotAnswered,
        Expectation::Escalate => outcome == TurnOutcome::Escalated,
    }
}

/// Sends every probe and adds up the figures. `prefix` is the --prefix the documents were
/// loaded with. A failed request stops the run: partial figures would mislead.
pub fn run(
    api: &Api,
    widget_key: &str,
    questions: &[Question],
    escalations: &[EscalationCase],
    prefix: &str,
    bar: &ProgressBar,
) -> anyhow::Result<AnswerEvaluation> {
    // Citations name documents by the server's id; questions by external id.
    let external: HashMap<String, String> = api
        .list_documents()?
        .into_iter()
        .map(|d| (d.id, d.external_id))
        .collect();
    let mut probes: Vec<Probe> = questions
        .iter()
        .map(|q| Probe {
            id: &q.id,
            group: &q.kind,
            text: &q.question,
            expected: if q.answers.is_empty() {
                Expectation::NoAnswer
            } else {
                Expectation::Answer(q.answers.iter().map(|a| format!("{prefix}{a}")).collect())
            },
            reason: None,
        })
        .collect();
    for case in escalations {
        probes.push(Probe {
            id: &case.id,
            group: if case.escalate {
                "escalation"
            } else {
                "no_escalation"
            },
            text: &case.message,
            // A message that must not escalate expects nothing else in particular: it
            // counts only as a negative of the escalation figures.
            expected: if case.escalate {
                Expectation::Escalate
            } else {
                Expectation::Answer(Vec::new())
            },
            reason: case.reason.as_deref(),
        });
    }
    bar.set_length(probes.len() as u64);
    let mut evaluation = AnswerEvaluation::default();
    for probe in &probes {
        bar.set_message(probe.id.to_string());
        let (session, token) = api.start_session(widget_key)?;
        let turn = api
            .say(&session, &token, probe.text)
            .with_context(|| format!("message {}", probe.id))?;
        let outcome = outcome_of(&turn);
        let cited: Vec<String> = turn["reply"]["citations"]
            .as_array()
            .map(|cs| {
                cs.iter()
                    .filter_map(|c| c["document_id"].as_str())
                    .map(|id| external.get(id).cloned().unwrap_or_else(|| id.to_string()))
                    .collect()
            })
            .unwrap_or_default();
        if let Some(responder) = turn["reply"]["responder"].as_str() {
            *evaluation
                .responders
                .entry(responder.to_string())
                .or_default() += 1;
        }
        let negative_only = matches!(&probe.expected, Expectation::Answer(r) if r.is_empty());
        if negative_only {
            // Only the escalation figures: count it as out of scope's twin without answers.
            if outcome == TurnOutcome::Escalated {
                evaluation.all.escalated_unexpected += 1;
                evaluation
                    .by_group
                    .entry(probe.group.to_string())
                    .or_default()
                    .escalated_unexpected += 1;
                evaluation
                    .misses
                    .push((probe.id.to_string(), "escalated".into()));
            }
        } else {
            evaluation.all.add(&probe.expected, outcome, &cited);
            evaluation
                .by_group
                .entry(probe.group.to_string())
                .or_default()
                .add(&probe.expected, outcome, &cited);
            if !met(&probe.expected, outcome, &cited) {
                let what = match outcome {
                    TurnOutcome::Answered if cited.is_empty() => {
                        "answered without citations".into()
                    }
                    TurnOutcome::Answered => format!("answered citing {}", cited.join(", ")),
                    TurnOutcome::NotAnswered => match probe.reason {
                        Some(reason) => format!("not escalated (expected {reason})"),
                        None => "not answered".into(),
                    },
                    TurnOutcome::Escalated => format!(
                        "escalated ({})",
                        turn["action"]["reason"].as_str().unwrap_or("?")
                    ),
                };
                evaluation.misses.push((probe.id.to_string(), what));
            }
        }
        bar.inc(1);
    }
    Ok(evaluation)
}

fn percent(value: Option<f64>) -> String {
    value.map_or("-".into(), |v| format!("{:.1}%", v * 100.0))
}

impl AnswerEvaluation {
    pub fn render(&self) -> String {
        let t = &self.all;
        let mut rows = vec![vec![
            "figure".to_string(),
            "value".to_string(),
            "of".to_string(),
        ]];
        let mut row = |name: &str, value: Option<f64>, of: String| {
            rows.push(vec![name.to_string(), percent(value), of]);
        };
        row(
            "citation precision",
            t.citation_precision(),
            format!("{} citations", t.citations),
        );
        row(
            "in-scope answer rate",
            t.in_scope_answer_rate(),
            format!("{} questions", t.in_scope),
        );
        row(
            "in-scope answered citing a right document",
            t.in_scope_correct_rate(),
            format!("{} questions", t.in_scope),
        );
        row(
            "out-of-scope answer rate (lower is better)",
            t.out_of_scope_answer_rate(),
            format!("{} questions", t.out_of_scope),
        );
        row(
            "escalation precision",
            t.escalation_precision(),
            format!(
                "{} escalated",
                t.escalated_expected + t.escalated_unexpected
            ),
        );
        row(
            "escalation recall",
            t.escalation_recall(),
            format!("{} expected", t.escalation_expected),
        );
        let mut out = crate::output::table(&rows);
        out.push_str("\nby group:\n");
        let mut groups = vec![vec![
            "group".to_string(),
            "answered".to_string(),
            "right citation".to_string(),
            "escalated".to_string(),
        ]];
        for (group, g) in &self.by_group {
            let n = g.in_scope + g.out_of_scope + g.escalation_expected;
            let escalated = g.escalated_expected + g.escalated_unexpected;
            groups.push(vec![
                group.clone(),
                format!(
                    "{}/{}",
                    g.in_scope_answered + g.out_of_scope_answered,
                    g.in_scope + g.out_of_scope
                ),
                format!("{}/{}", g.in_scope_answered_right, g.in_scope),
                format!("{escalated}/{}", n.max(escalated)),
            ]);
        }
        out.push_str(&crate::output::table(&groups));
        let responders: Vec<String> = self
            .responders
            .iter()
            .map(|(r, n)| format!("{r} {n}"))
            .collect();
        out.push_str(&format!(
            "\nreplies by responder: {}\n",
            responders.join(", ")
        ));
        if !self.misses.is_empty() {
            out.push_str(&format!(
                "\nexpectations not met ({}):\n",
                self.misses.len()
            ));
            for (id, what) in &self.misses {
                out.push_str(&format!("  {id}: {what}\n"));
            }
        }
        out
    }

    pub fn to_json(&self) -> Value {
        let t = &self.all;
        serde_json::json!({
            "citation_precision": t.citation_precision(),
            "in_scope_answer_rate": t.in_scope_answer_rate(),
            "in_scope_correct_rate": t.in_scope_correct_rate(),
            "out_of_scope_answer_rate": t.out_of_scope_answer_rate(),
            "escalation_precision": t.escalation_precision(),
            "escalation_recall": t.escalation_recall(),
            "counts": t,
            "by_group": self.by_group,
            "responders": self.responders,
            "misses": self.misses,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_server::{Reply, TestServer};
    use serde_json::json;

    fn question(id: &str, kind: &str, answers: &[&str]) -> Question {
        serde_json::from_value(json!({ "id": id, "question": format!("question {id}"),
            "answers": answers, "kind": kind }))
        .unwrap()
    }

    #[test]
    fn escalation_files_parse_and_refuse_repeats() {
        let cases = parse_escalations(
            "{\"id\":\"e1\",\"message\":\"a person please\",\"escalate\":true}\n\n\
             {\"id\":\"e2\",\"message\":\"hi\",\"escalate\":false,\"reason\":null}\n",
        )
        .unwrap();
        assert_eq!(cases.len(), 2);
        assert!(parse_escalations("{\"id\":\"e1\",\"message\":\"x\",\"escalate\":true}\n{\"id\":\"e1\",\"message\":\"y\",\"escalate\":true}").is_err());
        assert!(parse_escalations("{\"id\":\"e1\",\"message\":\" \",\"escalate\":true}").is_err());
        assert!(parse_escalations("{\"id\":\"e1\",\"message\":\"x\"}").is_err());
    }

    #[test]
    fn turns_are_scored_against_what_each_message_expects() {
        // The scripted app: one document, and a reply per message text.
        let server = TestServer::start(|req| {
            if req.target.starts_with("/api/kb/documents") {
                return Reply::json(
                    200,
                    json!({ "documents": [
                    { "id": "d1", "external_id": "refunds.md", "content_hash": "h",
                      "vector_status": "indexed" }], "next_cursor": null }),
                );
            }
            if req.target == "/api/sessions" {
                assert!(
                    req.header("authorization").is_none(),
                    "no admin token to sessions"
                );
                return Reply::json(201, json!({ "session": { "id": "s1" }, "token": "vt" }));
            }
            assert_eq!(req.header("authorization"), Some("Bearer vt"));
            let text = serde_json::from_slice::<Value>(&req.body).unwrap()["text"]
                .as_str()
                .unwrap()
                .to_string();
            let turn = match text.as_str() {
                "question q1" => json!({ "reply": { "responder": "extractive",
                    "citations": [{ "document_id": "d1" }] }, "action": null }),
                "question q2" => json!({ "reply": { "responder": "extractive", "citations": [] },
                    "action": { "type": "offer_handoff" } }),
                "a person please" => {
                    json!({ "reply": { "responder": "extractive", "citations": [] },
                    "action": { "type": "escalate", "reason": "human_requested" } })
                }
                _ => json!({ "reply": { "responder": "extractive", "citations": [] },
                    "action": { "type": "escalate", "reason": "frustration" } }),
            };
            Reply::json(201, turn)
        });
        let api = Api::new(&server.url, "admin").unwrap();
        let questions = [
            question("q1", "direct", &["refunds.md"]),
            question("q2", "unanswerable", &[]),
        ];
        let escalations = parse_escalations(
            "{\"id\":\"e1\",\"message\":\"a person please\",\"escalate\":true}\n\
             {\"id\":\"e2\",\"message\":\"just curious\",\"escalate\":false}",
        )
        .unwrap();
        let bar = ProgressBar::hidden();
        let evaluation = run(&api, "wk", &questions, &escalations, "", &bar).unwrap();
        let t = &evaluation.all;
        assert_eq!(t.citation_precision(), Some(1.0));
        assert_eq!(t.out_of_scope_answer_rate(), Some(0.0));
        assert_eq!(t.escalation_recall(), Some(1.0));
        assert_eq!(t.escalation_precision(), Some(0.5));
        assert_eq!(
            evaluation.misses,
            [("e2".to_string(), "escalated".to_string())]
        );
        let text = evaluation.render();
        assert!(
            text.contains("citation precision") && text.contains("100.0%"),
            "{text}"
        );
        assert_eq!(evaluation.to_json()["escalation_precision"], 0.5);
    }
}
