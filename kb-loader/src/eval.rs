//! `eval`: how well the app's search finds the documents that answer a set of questions,
//! per search mode (keyword, vector, hybrid), and how the hybrid top score and confidence
//! of unanswerable questions compare with answerable ones (the answer pipeline's "I don't
//! know" threshold is chosen from that).
//!
//! Reads the question file, asks the search API, and prints the figures. The metric math is
//! `core_logic::eval`; HTTP is `api`.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;

use anyhow::{Context, bail, ensure};
use core_logic::eval::{Mean, Metrics, Summary, first_relevant_rank};
use core_logic::kb::{MAX_SEARCH_LIMIT, SearchMode};
use indicatif::ProgressBar;
use serde::Deserialize;

use crate::api::{Api, SearchResponse};
use crate::output;

/// The modes compared, in the order of the table's columns.
pub const MODES: [SearchMode; 3] = [SearchMode::Keyword, SearchMode::Vector, SearchMode::Hybrid];

const UNANSWERABLE: &str = "unanswerable";

/// One line of the question file.
#[derive(Debug, Clone, Deserialize)]
pub struct Question {
    pub id: String,
    pub question: String,
    /// Relative paths of the documents that answer it; empty for unanswerable questions.
    #[serde(default)]
    pub answers: Vec<String>,
    /// `direct`, `paraphrase` or `unanswerable`.
    pub kind: String,
}

impl Question {
    fn is_answerable(&self) -> bool {
        !self.answers.is_empty()
    }
}

/// Parses a JSON-lines question file (blank lines are ignored); `kind` must agree with
/// `answers`, and ids must be unique.
pub fn parse_questions(text: &str) -> anyhow::Result<Vec<Question>> {
    let mut questions: Vec<Question> = Vec::new();
    let mut ids = HashSet::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let q: Question = serde_json::from_str(line).with_context(|| format!("line {n}"))?;
        ensure!(
            !q.question.trim().is_empty(),
            "line {n}: question {} is empty",
            q.id
        );
        match (q.kind == UNANSWERABLE, q.is_answerable()) {
            (true, true) => bail!(
                "line {n}: question {} is unanswerable but has answers",
                q.id
            ),
            (false, false) => bail!(
                "line {n}: question {} has no answers; its kind should be `{UNANSWERABLE}`",
                q.id
            ),
            _ => {}
        }
        ensure!(
            ids.insert(q.id.clone()),
            "line {n}: question id {} is repeated",
            q.id
        );
        questions.push(q);
    }
    ensure!(!questions.is_empty(), "the file holds no questions");
    Ok(questions)
}

/// How many results to ask for so that `k` distinct documents are likely among them (a
/// document can fill several places with its chunks).
pub fn search_limit(k: usize) -> usize {
    (k.max(5) * 3).min(MAX_SEARCH_LIMIT)
}

/// Picks one figure out of `Metrics`.
type MetricOf = fn(&Metrics) -> f64;

/// The figures of one search mode.
#[derive(Debug, Default)]
struct ModeFigures {
    all: Summary,
    by_kind: BTreeMap<String, Summary>,
    responses: usize,
    degraded: usize,
    missing: Vec<String>,
}

/// The first relevant document's place in each mode's ranking, for one question.
#[derive(Debug)]
struct QuestionRanks {
    id: String,
    kind: String,
    ranks: [Option<usize>; 3],
}

/// Everything `eval` measures; filled response by response.
#[derive(Debug)]
pub struct Evaluation {
    k: usize,
    modes: [ModeFigures; 3],
    answerable_top_score: Mean,
    answerable_confidence: Mean,
    unanswerable_top_score: Mean,
    unanswerable_confidence: Mean,
    questions: Vec<QuestionRanks>,
}

impl Evaluation {
    pub fn new(k: usize) -> Evaluation {
        Evaluation {
            k,
            modes: Default::default(),
            answerable_top_score: Mean::default(),
            answerable_confidence: Mean::default(),
            unanswerable_top_score: Mean::default(),
            unanswerable_confidence: Mean::default(),
            questions: Vec::new(),
        }
    }

    /// Adds the responses of one question: one per mode in [`MODES`] order when it is
    /// answerable, only the hybrid one when not. `prefix` turns answers into external ids.
    pub fn add(&mut self, q: &Question, prefix: &str, responses: &[(SearchMode, SearchResponse)]) {
        let relevant: Vec<String> = q.answers.iter().map(|a| format!("{prefix}{a}")).collect();
        let mut ranks = [None; 3];
        for (mode, response) in responses {
            let i = MODES.iter().position(|m| m == mode).unwrap_or(0);
            let figures = &mut self.modes[i];
            figures.responses += 1;
            if response.degraded {
                figures.degraded += 1;
                for m in &response.missing {
                    if !figures.missing.contains(m) {
                        figures.missing.push(m.clone());
                    }
                }
            }
            let ranked: Vec<&str> = response
                .results
                .iter()
                .map(|r| r.external_id.as_str())
                .collect();
            if *mode == SearchMode::Hybrid {
                // A search that found nothing scores 0: as sure an "I don't know" as any.
                let top = response.results.first().map_or(0.0, |r| r.score);
                let (score, confidence) = if q.is_answerable() {
                    (
                        &mut self.answerable_top_score,
                        &mut self.answerable_confidence,
                    )
                } else {
                    (
                        &mut self.unanswerable_top_score,
                        &mut self.unanswerable_confidence,
                    )
                };
                score.add(top);
                confidence.add(response.confidence);
            }
            if let Some(m) = Metrics::of_question(&ranked, &relevant, self.k) {
                figures.all.add(&m);
                figures.by_kind.entry(q.kind.clone()).or_default().add(&m);
                ranks[i] = first_relevant_rank(&ranked, &relevant);
            }
        }
        if q.is_answerable() {
            self.questions.push(QuestionRanks {
                id: q.id.clone(),
                kind: q.kind.clone(),
                ranks,
            });
        }
    }

    /// The side-by-side table and the unanswerable comparison.
    pub fn render(&self) -> String {
        let k = self.k;
        let answerable = self.modes[2].all.count();
        let unanswerable = self.unanswerable_confidence.count();
        let mut out = format!(
            "{answerable} answerable and {unanswerable} unanswerable questions; \
             metrics over the first {k} distinct documents.\n\n"
        );
        let mut rows = vec![
            ["", "keyword", "vector", "hybrid"]
                .map(String::from)
                .to_vec(),
        ];
        let mut section = |label: String, summaries: [Option<&Summary>; 3]| {
            rows.push(vec![label]);
            let means = summaries.map(|s| s.and_then(Summary::mean));
            let metric_rows: [(String, MetricOf); 5] = [
                ("hit@1".into(), |m| m.hit_at_1),
                ("hit@5".into(), |m| m.hit_at_5),
                ("recall@5".into(), |m| m.recall_at_5),
                (format!("recall@{k}"), |m| m.recall_at_k),
                (format!("MRR@{k}"), |m| m.mrr_at_k),
            ];
            for (name, value) in metric_rows {
                let mut row = vec![format!("  {name}")];
                row.extend(means.iter().map(|m| {
                    m.as_ref()
                        .map_or("-".into(), |m| format!("{:.3}", value(m)))
                }));
                rows.push(row);
            }
        };
        section(
            format!("all ({answerable})"),
            [0, 1, 2].map(|i| Some(&self.modes[i].all)),
        );
        let kinds: Vec<&String> = self.modes[2].by_kind.keys().collect();
        for kind in kinds {
            let n = self.modes[2].by_kind[kind].count();
            section(
                format!("{kind} ({n})"),
                [0, 1, 2].map(|i| self.modes[i].by_kind.get(kind)),
            );
        }
        let mut degraded = vec!["degraded responses".to_string()];
        degraded.extend(
            self.modes
                .iter()
                .map(|f| format!("{}/{}", f.degraded, f.responses)),
        );
        rows.push(degraded);
        out.push_str(&output::table(&rows));
        for (mode, f) in MODES.iter().zip(&self.modes) {
            if f.degraded > 0 {
                let _ = writeln!(
                    out,
                    "warning: {} of {} {} responses were degraded (missing: {}); those figures \
                     do not measure the full pipeline",
                    f.degraded,
                    f.responses,
                    mode_name(*mode),
                    f.missing.join(", ")
                );
            }
        }
        let fmt =
            |m: &Mean, digits: usize| m.value().map_or("-".into(), |v| format!("{v:.digits$}"));
        let _ = writeln!(
            out,
            "\nHybrid search, answerable vs unanswerable questions:"
        );
        out.push_str(&output::table(&[
            ["", "answerable", "unanswerable"]
                .map(String::from)
                .to_vec(),
            vec![
                "  mean top-1 score".into(),
                fmt(&self.answerable_top_score, 4),
                fmt(&self.unanswerable_top_score, 4),
            ],
            vec![
                "  mean confidence".into(),
                fmt(&self.answerable_confidence, 3),
                fmt(&self.unanswerable_confidence, 3),
            ],
        ]));
        out
    }

    /// The figures as JSON.
    pub fn to_json(&self) -> serde_json::Value {
        let summary = |s: &Summary| {
            let mut v = serde_json::to_value(s.mean()).unwrap_or_default();
            if let Some(o) = v.as_object_mut() {
                o.insert("questions".into(), s.count().into());
            }
            v
        };
        let modes: serde_json::Map<String, serde_json::Value> = MODES
            .iter()
            .zip(&self.modes)
            .map(|(mode, f)| {
                let by_kind: serde_json::Map<String, serde_json::Value> = f
                    .by_kind
                    .iter()
                    .map(|(k, s)| (k.clone(), summary(s)))
                    .collect();
                (
                    mode_name(*mode).to_string(),
                    serde_json::json!({
                        "all": summary(&f.all),
                        "by_kind": by_kind,
                        "responses": f.responses,
                        "degraded": f.degraded,
                        "missing": f.missing,
                    }),
                )
            })
            .collect();
        let side = |score: &Mean, confidence: &Mean| {
            serde_json::json!({
                "questions": confidence.count(),
                "mean_top1_score": score.value(),
                "mean_confidence": confidence.value(),
            })
        };
        let per_question: Vec<serde_json::Value> = self
            .questions
            .iter()
            .map(|q| {
                let ranks: serde_json::Map<String, serde_json::Value> = MODES
                    .iter()
                    .zip(q.ranks)
                    .map(|(m, r)| (mode_name(*m).to_string(), r.into()))
                    .collect();
                serde_json::json!({"id": q.id, "kind": q.kind, "first_relevant_rank": ranks})
            })
            .collect();
        serde_json::json!({
            "k": self.k,
            "search_limit": search_limit(self.k),
            "modes": modes,
            "hybrid_confidence": {
                "answerable": side(&self.answerable_top_score, &self.answerable_confidence),
                "unanswerable": side(&self.unanswerable_top_score, &self.unanswerable_confidence),
            },
            "questions": per_question,
        })
    }
}

fn mode_name(mode: SearchMode) -> &'static str {
    match mode {
        SearchMode::Keyword => "keyword",
        SearchMode::Vector => "vector",
        SearchMode::Hybrid => "hybrid",
        SearchMode::Reranked => "reranked",
    }
}

/// Asks every question (each mode for answerable ones, hybrid only for the others) and
/// adds up the figures. Any failed search stops the run: partial figures would mislead.
pub fn run(
    api: &Api,
    questions: &[Question],
    k: usize,
    prefix: &str,
    bar: &ProgressBar,
) -> anyhow::Result<Evaluation> {
    ensure!(
        (1..=MAX_SEARCH_LIMIT).contains(&k),
        "--k must be between 1 and {MAX_SEARCH_LIMIT}"
    );
    let limit = search_limit(k);
    let total: usize = questions
        .iter()
        .map(|q| if q.is_answerable() { MODES.len() } else { 1 })
        .sum();
    bar.set_length(total as u64);
    let mut evaluation = Evaluation::new(k);
    for q in questions {
        bar.set_message(q.id.clone());
        let modes: &[SearchMode] = if q.is_answerable() {
            &MODES
        } else {
            &[SearchMode::Hybrid]
        };
        let mut responses = Vec::with_capacity(modes.len());
        for &mode in modes {
            let response = api.search(&q.question, limit, mode).map_err(|e| {
                if e.is_fatal() {
                    anyhow::Error::new(e)
                } else {
                    anyhow::anyhow!("question {} ({} search): {e}", q.id, mode_name(mode))
                }
            })?;
            responses.push((mode, response));
            bar.inc(1);
        }
        evaluation.add(q, prefix, &responses);
    }
    Ok(evaluation)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::SearchResult;
    use crate::test_server::{Reply, TestServer};

    fn response(ids: &[&str], top_score: f64, confidence: f64, degraded: bool) -> SearchResponse {
        SearchResponse {
            results: ids
                .iter()
                .enumerate()
                .map(|(i, id)| SearchResult {
                    external_id: id.to_string(),
                    score: top_score / (i + 1) as f64,
                })
                .collect(),
            degraded,
            missing: if degraded {
                vec!["vector".into()]
            } else {
                Vec::new()
            },
            confidence,
        }
    }

    fn question(id: &str, kind: &str, answers: &[&str]) -> Question {
        Question {
            id: id.into(),
            question: format!("question {id}?"),
            answers: answers.iter().map(|a| a.to_string()).collect(),
            kind: kind.into(),
        }
    }

    #[test]
    fn question_files_are_json_lines_whose_kind_agrees_with_their_answers() {
        let text = r#"
{"id":"q1","question":"How do refunds work?","answers":["billing/refund-policy.md"],"kind":"direct"}

{"id":"q2","question":"Can pets fly?","answers":[],"kind":"unanswerable"}
"#;
        let qs = parse_questions(text).unwrap();
        assert_eq!(qs.len(), 2);
        assert!(qs[0].is_answerable() && !qs[1].is_answerable());

        let no_answers = r#"{"id":"q1","question":"x","answers":[],"kind":"direct"}"#;
        assert!(
            parse_questions(no_answers)
                .unwrap_err()
                .to_string()
                .contains("line 1")
        );
        let repeated = format!(
            "{0}\n{0}",
            r#"{"id":"q1","question":"x","answers":["a"],"kind":"direct"}"#
        );
        assert!(
            parse_questions(&repeated)
                .unwrap_err()
                .to_string()
                .contains("repeated")
        );
        let broken = "{\"id\":\"q1\"\nnot json";
        assert!(
            parse_questions(broken)
                .unwrap_err()
                .to_string()
                .starts_with("line 1")
        );
        assert!(parse_questions("\n\n").is_err());
    }

    #[test]
    fn the_search_limit_leaves_room_for_repeated_documents_within_the_api_maximum() {
        assert_eq!(search_limit(10), 30);
        assert_eq!(search_limit(1), 15);
        assert_eq!(search_limit(40), MAX_SEARCH_LIMIT);
    }

    #[test]
    fn figures_are_kept_per_mode_and_per_kind_with_answers_prefixed() {
        let mut e = Evaluation::new(10);
        let q1 = question("q1", "direct", &["a.md"]);
        let q2 = question("q2", "paraphrase", &["b.md"]);
        e.add(
            &q1,
            "kb/",
            &[
                (SearchMode::Keyword, response(&["kb/a.md"], 1.0, 0.9, false)),
                (
                    SearchMode::Vector,
                    response(&["kb/x.md", "kb/a.md"], 1.0, 0.9, true),
                ),
                (
                    SearchMode::Hybrid,
                    response(&["kb/a.md", "kb/a.md"], 0.04, 0.9, false),
                ),
            ],
        );
        e.add(
            &q2,
            "kb/",
            &[
                (SearchMode::Keyword, response(&["kb/x.md"], 1.0, 0.5, false)),
                (SearchMode::Vector, response(&["kb/b.md"], 1.0, 0.5, false)),
                (
                    SearchMode::Hybrid,
                    response(&["kb/x.md", "kb/x.md", "kb/b.md"], 0.02, 0.5, false),
                ),
            ],
        );
        e.add(
            &question("q3", UNANSWERABLE, &[]),
            "kb/",
            &[(SearchMode::Hybrid, response(&[], 0.0, 0.1, false))],
        );
        let keyword = e.modes[0].all.mean().unwrap();
        assert_eq!((keyword.hit_at_1, keyword.mrr_at_k), (0.5, 0.5));
        let vector = e.modes[1].all.mean().unwrap();
        assert_eq!(vector.mrr_at_k, 0.75);
        let hybrid = e.modes[2].all.mean().unwrap();
        // q2's answer is the second distinct document although it is the third result.
        assert_eq!(hybrid.mrr_at_k, 0.75);
        assert_eq!(
            e.modes[2].by_kind["paraphrase"].mean().unwrap().mrr_at_k,
            0.5
        );
        assert_eq!(
            (e.modes[1].degraded, e.modes[1].missing.clone()),
            (1, vec!["vector".to_string()])
        );
        let close = |a: Option<f64>, b: f64| a.is_some_and(|a| (a - b).abs() < 1e-9);
        assert!(close(e.answerable_top_score.value(), 0.03));
        assert!(close(e.answerable_confidence.value(), 0.7));
        assert_eq!(e.unanswerable_top_score.value(), Some(0.0));
        assert_eq!(e.unanswerable_confidence.value(), Some(0.1));
        assert_eq!(
            e.modes[2].all.count(),
            2,
            "unanswerable questions are not in the means"
        );

        let table = e.render();
        assert!(table.contains("2 answerable and 1 unanswerable"), "{table}");
        assert!(table.contains("  MRR@10"), "{table}");
        assert!(
            table.contains("warning: 1 of 2 vector responses were degraded"),
            "{table}"
        );
        let json = e.to_json();
        assert_eq!(json["modes"]["hybrid"]["all"]["mrr_at_k"], 0.75);
        assert_eq!(json["modes"]["hybrid"]["all"]["questions"], 2);
        assert_eq!(
            json["hybrid_confidence"]["unanswerable"]["mean_confidence"],
            0.1
        );
        assert_eq!(json["questions"][1]["first_relevant_rank"]["hybrid"], 2);
        assert_eq!(
            json["questions"][1]["first_relevant_rank"]["keyword"],
            serde_json::Value::Null
        );
    }

    #[test]
    fn answerable_questions_are_searched_in_every_mode_and_unanswerable_ones_in_hybrid() {
        let server = TestServer::start(|_| {
            Reply::json(
                200,
                serde_json::json!({
                    "results": [], "degraded": false, "missing": [], "confidence": 0.0,
                }),
            )
        });
        let api = Api::new(&server.url, "tok").unwrap();
        let qs = [
            question("q1", "direct", &["a.md"]),
            question("q2", UNANSWERABLE, &[]),
        ];
        run(&api, &qs, 10, "", &ProgressBar::hidden()).unwrap();
        let modes: Vec<String> = server
            .requests()
            .iter()
            .map(|r| {
                let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
                assert_eq!(body["limit"], 30);
                format!(
                    "{} {}",
                    body["query"].as_str().unwrap(),
                    body["mode"].as_str().unwrap()
                )
            })
            .collect();
        assert_eq!(
            modes,
            [
                "question q1? keyword",
                "question q1? vector",
                "question q1? hybrid",
                "question q2? hybrid"
            ]
        );
    }

    #[test]
    fn a_refused_token_stops_the_evaluation_with_its_message() {
        let server = TestServer::start(|_| Reply::problem(401, "bad signature"));
        let api = Api::new(&server.url, "tok").unwrap();
        let qs = [question("q1", "direct", &["a.md"])];
        let err = run(&api, &qs, 10, "", &ProgressBar::hidden()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the token was refused: bad signature (401)"
        );
    }
}
