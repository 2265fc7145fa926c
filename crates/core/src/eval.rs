//! Retrieval-quality metrics: how well a ranked list of documents answers a question whose
//! relevant documents are known (hit@k, Recall@k, reciprocal rank), and their means over a
//! question set.
//!
//! Rankings are lists of document ids, best first. A document that appears more than once
//! (several of its chunks were retrieved) counts once, at its first position: "@k" means the
//! first k *distinct* documents. Not here: running the searches or reading question files
//! (`kb-loader eval`).

use serde::Serialize;

/// The ids of `ranked` with later repeats removed, order kept.
pub fn distinct<S: AsRef<str>>(ranked: &[S]) -> Vec<&str> {
    let mut seen = std::collections::HashSet::new();
    ranked
        .iter()
        .map(AsRef::as_ref)
        .filter(|id| seen.insert(*id))
        .collect()
}

/// Whether any relevant document is among the first `k` distinct documents of `ranked`.
pub fn hit_at<S: AsRef<str>, R: AsRef<str>>(ranked: &[S], relevant: &[R], k: usize) -> bool {
    first_relevant_rank(ranked, relevant).is_some_and(|rank| rank <= k)
}

/// The share of the distinct relevant documents found among the first `k` distinct
/// documents of `ranked`; `None` when nothing is relevant (the question is unanswerable and
/// recall is undefined).
pub fn recall_at<S: AsRef<str>, R: AsRef<str>>(
    ranked: &[S],
    relevant: &[R],
    k: usize,
) -> Option<f64> {
    let relevant = distinct(relevant);
    if relevant.is_empty() {
        return None;
    }
    let top: Vec<&str> = distinct(ranked).into_iter().take(k).collect();
    let found = relevant.iter().filter(|id| top.contains(id)).count();
    Some(found as f64 / relevant.len() as f64)
}

/// `1 / rank` of the first relevant document when it is among the first `k` distinct
/// documents, else 0.
pub fn reciprocal_rank_at<S: AsRef<str>, R: AsRef<str>>(
    ranked: &[S],
    relevant: &[R],
    k: usize,
) -> f64 {
    match first_relevant_rank(ranked, relevant) {
        Some(rank) if rank <= k => 1.0 / rank as f64,
        _ => 0.0,
    }
}

/// The 1-based position of the first relevant document among the distinct documents of
/// `ranked`, if any is there.
pub fn first_relevant_rank<S: AsRef<str>, R: AsRef<str>>(
    ranked: &[S],
    relevant: &[R],
) -> Option<usize> {
    distinct(ranked)
        .iter()
        .position(|id| relevant.iter().any(|r| r.as_ref() == *id))
        .map(|i| i + 1)
}

/// The figures of one question, or (in a `Summary`) their means over many. Hits are 0 or 1
/// for one question, so their mean is the share of questions hit.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct Metrics {
    pub hit_at_1: f64,
    pub hit_at_5: f64,
    pub recall_at_5: f64,
    /// Recall at the evaluation's cut-off `k`.
    pub recall_at_k: f64,
    /// Reciprocal rank at the cut-off `k`; its mean is MRR@k.
    pub mrr_at_k: f64,
}

impl Metrics {
    /// The figures of one question with cut-off `k`; `None` when nothing is relevant.
    pub fn of_question<S: AsRef<str>, R: AsRef<str>>(
        ranked: &[S],
        relevant: &[R],
        k: usize,
    ) -> Option<Metrics> {
        let one = |hit: bool| if hit { 1.0 } else { 0.0 };
        Some(Metrics {
            recall_at_5: recall_at(ranked, relevant, 5)?,
            recall_at_k: recall_at(ranked, relevant, k)?,
            hit_at_1: one(hit_at(ranked, relevant, 1)),
            hit_at_5: one(hit_at(ranked, relevant, 5)),
            mrr_at_k: reciprocal_rank_at(ranked, relevant, k),
        })
    }
}

/// Adds up per-question `Metrics` and gives their means.
#[derive(Debug, Clone, Copy, Default)]
pub struct Summary {
    count: usize,
    sum: Metrics,
}

impl Summary {
    pub fn add(&mut self, m: &Metrics) {
        self.count += 1;
        self.sum.hit_at_1 += m.hit_at_1;
        self.sum.hit_at_5 += m.hit_at_5;
        self.sum.recall_at_5 += m.recall_at_5;
        self.sum.recall_at_k += m.recall_at_k;
        self.sum.mrr_at_k += m.mrr_at_k;
    }

    /// How many questions were added.
    pub fn count(&self) -> usize {
        self.count
    }

    /// The means, or `None` before the first question.
    pub fn mean(&self) -> Option<Metrics> {
        if self.count == 0 {
            return None;
        }
        let n = self.count as f64;
        Some(Metrics {
            hit_at_1: self.sum.hit_at_1 / n,
            hit_at_5: self.sum.hit_at_5 / n,
            recall_at_5: self.sum.recall_at_5 / n,
            recall_at_k: self.sum.recall_at_k / n,
            mrr_at_k: self.sum.mrr_at_k / n,
        })
    }
}

/// The running mean of one number (a score, a confidence).
#[derive(Debug, Clone, Copy, Default)]
pub struct Mean {
    count: usize,
    sum: f64,
}

impl Mean {
    pub fn add(&mut self, value: f64) {
        self.count += 1;
        self.sum += value;
    }

    pub fn count(&self) -> usize {
        self.count
    }

    /// The mean, or `None` when nothing was added.
    pub fn value(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum / self.count as f64)
    }
}

/// What the bot did with one visitor message, as the answer evaluation sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TurnOutcome {
    /// A reply with citations and no action.
    Answered,
    /// No grounded answer: "I don't know" and the offer of a person.
    NotAnswered,
    /// Handed to a person.
    Escalated,
}

/// What the evaluation expected of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expectation {
    /// An answer citing one of these documents.
    Answer(Vec<String>),
    /// Outside the knowledge base: no answer.
    NoAnswer,
    /// A person.
    Escalate,
}

/// Answer-quality figures over a set of messages sent through the whole pipeline:
/// - citation precision: of the citations of answered in-scope questions, the share naming a
///   document that answers the question;
/// - answer rate in scope and out of scope (out-of-scope answers are invented or off-topic);
/// - escalation precision and recall, with every message that expects no escalation as a
///   negative.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct AnswerTally {
    pub in_scope: usize,
    pub in_scope_answered: usize,
    /// In-scope answers whose citations include a right document.
    pub in_scope_answered_right: usize,
    pub citations: usize,
    pub right_citations: usize,
    pub out_of_scope: usize,
    pub out_of_scope_answered: usize,
    pub escalation_expected: usize,
    pub escalated_expected: usize,
    pub escalated_unexpected: usize,
}

fn ratio(part: usize, whole: usize) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

impl AnswerTally {
    /// Adds one message: what was expected, what happened, and the documents its reply
    /// cited (one entry per citation).
    pub fn add<S: AsRef<str>>(
        &mut self,
        expected: &Expectation,
        outcome: TurnOutcome,
        cited: &[S],
    ) {
        let escalated = outcome == TurnOutcome::Escalated;
        match expected {
            Expectation::Escalate => {
                self.escalation_expected += 1;
                self.escalated_expected += usize::from(escalated);
                return;
            }
            _ if escalated => self.escalated_unexpected += 1,
            _ => {}
        }
        let answered = outcome == TurnOutcome::Answered;
        match expected {
            Expectation::Answer(right) => {
                self.in_scope += 1;
                if answered {
                    self.in_scope_answered += 1;
                    let good = cited
                        .iter()
                        .filter(|c| right.iter().any(|r| r == c.as_ref()))
                        .count();
                    self.citations += cited.len();
                    self.right_citations += good;
                    self.in_scope_answered_right += usize::from(good > 0);
                }
            }
            Expectation::NoAnswer => {
                self.out_of_scope += 1;
                self.out_of_scope_answered += usize::from(answered);
            }
            Expectation::Escalate => {}
        }
    }

    pub fn citation_precision(&self) -> Option<f64> {
        ratio(self.right_citations, self.citations)
    }

    pub fn in_scope_answer_rate(&self) -> Option<f64> {
        ratio(self.in_scope_answered, self.in_scope)
    }

    /// Answers that cite a right document, over all in-scope questions.
    pub fn in_scope_correct_rate(&self) -> Option<f64> {
        ratio(self.in_scope_answered_right, self.in_scope)
    }

    pub fn out_of_scope_answer_rate(&self) -> Option<f64> {
        ratio(self.out_of_scope_answered, self.out_of_scope)
    }

    pub fn escalation_precision(&self) -> Option<f64> {
        ratio(
            self.escalated_expected,
            self.escalated_expected + self.escalated_unexpected,
        )
    }

    pub fn escalation_recall(&self) -> Option<f64> {
        ratio(self.escalated_expected, self.escalation_expected)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NONE: [&str; 0] = [];

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn hit_counts_only_the_first_k_documents() {
        let ranked = ["a", "b", "c"];
        assert!(!hit_at(&ranked, &["c"], 2));
        assert!(hit_at(&ranked, &["c"], 3));
        assert!(hit_at(&ranked, &["a"], 1));
        assert!(!hit_at(&ranked, &["a"], 0));
    }

    #[test]
    fn repeated_documents_take_one_place_in_the_ranking() {
        // Three chunks of `a` then `b`: `b` is the second document, not the fourth.
        let ranked = ["a", "a", "a", "b"];
        assert!(hit_at(&ranked, &["b"], 2));
        assert!(close(reciprocal_rank_at(&ranked, &["b"], 10), 0.5));
        assert_eq!(recall_at(&ranked, &["a", "b"], 2), Some(1.0));
        assert_eq!(distinct(&ranked), ["a", "b"]);
    }

    #[test]
    fn recall_is_the_share_of_relevant_documents_found() {
        let ranked = ["x", "a", "y", "z", "b", "c"];
        let relevant = ["a", "b", "c"];
        assert!(close(recall_at(&ranked, &relevant, 1).unwrap(), 0.0));
        assert!(close(recall_at(&ranked, &relevant, 2).unwrap(), 1.0 / 3.0));
        assert!(close(recall_at(&ranked, &relevant, 5).unwrap(), 2.0 / 3.0));
        assert!(close(recall_at(&ranked, &relevant, 6).unwrap(), 1.0));
    }

    #[test]
    fn a_relevant_document_listed_twice_counts_once_in_recall() {
        assert_eq!(recall_at(&["a"], &["a", "a", "b"], 10), Some(0.5));
    }

    #[test]
    fn questions_without_relevant_documents_have_no_recall_and_no_hit() {
        let ranked = ["a", "b"];
        assert_eq!(recall_at(&ranked, &NONE, 10), None);
        assert!(!hit_at(&ranked, &NONE, 10));
        assert!(close(reciprocal_rank_at(&ranked, &NONE, 10), 0.0));
        assert_eq!(Metrics::of_question(&ranked, &NONE, 10), None);
    }

    #[test]
    fn k_beyond_the_list_looks_at_the_whole_list() {
        let ranked = ["a", "b"];
        assert!(hit_at(&ranked, &["b"], 100));
        assert_eq!(recall_at(&ranked, &["b", "missing"], 100), Some(0.5));
        assert!(close(reciprocal_rank_at(&ranked, &["b"], 100), 0.5));
    }

    #[test]
    fn an_empty_ranking_finds_nothing() {
        assert!(!hit_at(&NONE, &["a"], 10));
        assert_eq!(recall_at(&NONE, &["a"], 10), Some(0.0));
        assert!(close(reciprocal_rank_at(&NONE, &["a"], 10), 0.0));
    }

    #[test]
    fn reciprocal_rank_is_zero_past_the_cut_off() {
        let ranked = ["x", "y", "a"];
        assert!(close(reciprocal_rank_at(&ranked, &["a"], 3), 1.0 / 3.0));
        assert!(close(reciprocal_rank_at(&ranked, &["a"], 2), 0.0));
        // The first relevant document decides, not the best-placed one listed first.
        assert!(close(reciprocal_rank_at(&ranked, &["a", "y"], 3), 0.5));
    }

    #[test]
    fn question_figures_combine_each_metric() {
        let ranked = ["x", "a", "y", "z", "w", "b"];
        let m = Metrics::of_question(&ranked, &["a", "b"], 10).unwrap();
        assert_eq!(m.hit_at_1, 0.0);
        assert_eq!(m.hit_at_5, 1.0);
        assert!(close(m.recall_at_5, 0.5));
        assert!(close(m.recall_at_k, 1.0));
        assert!(close(m.mrr_at_k, 0.5));
    }

    #[test]
    fn summary_means_are_taken_over_the_questions_added() {
        let mut s = Summary::default();
        assert_eq!(s.mean(), None);
        // Hand-computed: question 1 finds its document first, question 2 third, question 3
        // not at all.
        for ranked in [["a", "x", "y"], ["x", "y", "a"], ["x", "y", "z"]] {
            s.add(&Metrics::of_question(&ranked, &["a"], 10).unwrap());
        }
        let m = s.mean().unwrap();
        assert_eq!(s.count(), 3);
        assert!(close(m.hit_at_1, 1.0 / 3.0));
        assert!(close(m.hit_at_5, 2.0 / 3.0));
        assert!(close(m.recall_at_5, 2.0 / 3.0));
        assert!(close(m.recall_at_k, 2.0 / 3.0));
        assert!(close(m.mrr_at_k, (1.0 + 1.0 / 3.0) / 3.0));
    }

    #[test]
    fn mean_of_nothing_is_none() {
        let mut mean = Mean::default();
        assert_eq!(mean.value(), None);
        mean.add(1.0);
        mean.add(0.0);
        assert_eq!(mean.value(), Some(0.5));
        assert_eq!(mean.count(), 2);
    }

    #[test]
    fn answer_tally_counts_precision_scope_and_escalations() {
        let mut t = AnswerTally::default();
        let refunds = Expectation::Answer(vec!["refunds.md".into()]);
        t.add(
            &refunds,
            TurnOutcome::Answered,
            &["refunds.md", "shipping.md"],
        );
        t.add(&refunds, TurnOutcome::Answered, &["shipping.md"]);
        t.add(&refunds, TurnOutcome::NotAnswered, &[] as &[&str]);
        t.add(&refunds, TurnOutcome::Escalated, &[] as &[&str]);
        t.add(
            &Expectation::NoAnswer,
            TurnOutcome::NotAnswered,
            &[] as &[&str],
        );
        t.add(&Expectation::NoAnswer, TurnOutcome::Answered, &["x.md"]);
        t.add(
            &Expectation::Escalate,
            TurnOutcome::Escalated,
            &[] as &[&str],
        );
        t.add(
            &Expectation::Escalate,
            TurnOutcome::NotAnswered,
            &[] as &[&str],
        );
        assert_eq!(t.citation_precision(), Some(1.0 / 3.0));
        assert_eq!(t.in_scope_answer_rate(), Some(0.5));
        assert_eq!(t.in_scope_correct_rate(), Some(0.25));
        assert_eq!(t.out_of_scope_answer_rate(), Some(0.5));
        assert_eq!(t.escalation_precision(), Some(0.5));
        assert_eq!(t.escalation_recall(), Some(0.5));
        assert_eq!(AnswerTally::default().citation_precision(), None);
    }
}
