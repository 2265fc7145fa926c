//! Hybrid retrieval: fuses the ranked lists of the vector index and the keyword index into
//! one list by weighted reciprocal rank fusion, drops overlapping passages of one document,
//! and says how confident the answer pipeline may be in the result.
//!
//! A retriever that could not be asked (embedder or Chroma unreachable) is passed as `None`:
//! the other retriever's results still answer, and the result is flagged `degraded`.
//! Not here: running the searches (`edge`), deciding what to do with a low confidence (the
//! escalation policy).

use std::ops::Range;

use serde::{Deserialize, Serialize};

/// The `k` of reciprocal rank fusion from Cormack et al., the usual default.
pub const DEFAULT_RRF_K: f64 = 60.0;
/// Results returned when the caller sets no limit.
pub const DEFAULT_LIMIT: usize = 10;

/// Where a result came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Retriever {
    Vector,
    Keyword,
}

/// One result of one retriever. Lists are given best first; the position is the rank.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hit {
    pub chunk_id: String,
    pub document_id: String,
    /// The retriever's own score, higher is better. For the vector retriever this is the
    /// cosine similarity (Chroma's cosine distance `d` becomes `1 - d`), which the
    /// confidence uses; keyword scores (BM25, `ts_rank`) are kept for display only.
    pub score: f64,
    /// The chunk's bytes in its document's Markdown.
    pub byte_range: Range<usize>,
}

/// How to fuse.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FusionConfig {
    /// RRF constant: larger values flatten the difference between high and low ranks.
    pub k: f64,
    /// Weight of the vector list. At 0 its results add nothing to the fused score (they
    /// still appear, after every result the other list scored). Negative or non-finite
    /// counts as 0.
    pub vector_weight: f64,
    /// Weight of the keyword list; as for `vector_weight`.
    pub keyword_weight: f64,
    /// Most results returned, after deduplication.
    pub limit: usize,
}

impl Default for FusionConfig {
    fn default() -> Self {
        Self {
            k: DEFAULT_RRF_K,
            vector_weight: 1.0,
            keyword_weight: 1.0,
            limit: DEFAULT_LIMIT,
        }
    }
}

impl FusionConfig {
    fn weight(&self, retriever: Retriever) -> f64 {
        let w = match retriever {
            Retriever::Vector => self.vector_weight,
            Retriever::Keyword => self.keyword_weight,
        };
        if w.is_finite() && w > 0.0 { w } else { 0.0 }
    }

    /// `k`, or the default when unusable (a non-positive `k` would divide by zero).
    fn rrf_k(&self) -> f64 {
        if self.k.is_finite() && self.k > 0.0 {
            self.k
        } else {
            DEFAULT_RRF_K
        }
    }
}

/// A result's place in one retriever's list.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RetrieverRank {
    /// 1 for the retriever's best result.
    pub rank: usize,
    pub score: f64,
}

/// One fused result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FusedHit {
    pub chunk_id: String,
    pub document_id: String,
    pub byte_range: Range<usize>,
    /// 1 for the best fused result.
    pub fused_rank: usize,
    /// Σ weight / (k + rank) over the retrievers that returned this chunk.
    pub fused_score: f64,
    /// Present when the vector retriever returned this chunk.
    pub vector: Option<RetrieverRank>,
    /// Present when the keyword retriever returned this chunk.
    pub keyword: Option<RetrieverRank>,
}

/// The fused list and what the answer pipeline should know about it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fusion {
    pub hits: Vec<FusedHit>,
    /// In [0, 1]; see [`fuse`] for how it is computed.
    pub confidence: f64,
    /// A retriever could not be asked; the results come from the other one alone.
    pub degraded: bool,
    /// The retrievers that could not be asked.
    pub missing: Vec<Retriever>,
}

/// Fuses the vector and keyword lists. `None` means the retriever could not be asked;
/// `Some(&[])` means it answered with nothing.
///
/// Each chunk scores Σ `weight / (k + rank)` over the lists it appears in (a chunk listed
/// twice in one list counts at its better rank). Ties are broken by the number of lists the
/// chunk is in, then its best single rank, then document id, byte offset and chunk id, so
/// the order never depends on input order beyond the ranks. Then, walking best first, a
/// result is dropped when a better one from the same document overlaps its byte range.
///
/// Confidence is the mean of two parts, each in [0, 1]:
/// - rank agreement: the top fused score divided by the best score possible from the
///   retrievers that answered (a chunk ranked first by every one of them gets 1; ranked
///   first by only one of two equal-weight retrievers, 0.5);
/// - similarity: the top result's vector similarity clamped to [0, 1], or 0 when the vector
///   retriever did not return it.
///
/// So a keyword-only result scores at most 0.5 in degraded mode and at most 0.25 when the
/// vector retriever answered without it; with no results the confidence is 0.
pub fn fuse(vector: Option<&[Hit]>, keyword: Option<&[Hit]>, config: &FusionConfig) -> Fusion {
    let k = config.rrf_k();
    let lists = [(Retriever::Vector, vector), (Retriever::Keyword, keyword)];

    let mut candidates: Vec<FusedHit> = Vec::new();
    for (retriever, list) in lists {
        let Some(list) = list else { continue };
        let weight = config.weight(retriever);
        let mut rank = 0;
        for hit in list {
            let existing = candidates.iter().position(|c| c.chunk_id == hit.chunk_id);
            if existing.is_some_and(|i| slot(&candidates[i], retriever).is_some()) {
                continue; // listed twice by this retriever: the better rank already counted
            }
            rank += 1;
            let index = existing.unwrap_or_else(|| {
                candidates.push(FusedHit {
                    chunk_id: hit.chunk_id.clone(),
                    document_id: hit.document_id.clone(),
                    byte_range: hit.byte_range.clone(),
                    fused_rank: 0,
                    fused_score: 0.0,
                    vector: None,
                    keyword: None,
                });
                candidates.len() - 1
            });
            let candidate = &mut candidates[index];
            candidate.fused_score += weight / (k + rank as f64);
            let entry = Some(RetrieverRank {
                rank,
                score: hit.score,
            });
            match retriever {
                Retriever::Vector => candidate.vector = entry,
                Retriever::Keyword => candidate.keyword = entry,
            }
        }
    }

    candidates.sort_by(|a, b| {
        b.fused_score
            .total_cmp(&a.fused_score)
            .then_with(|| lists_in(b).cmp(&lists_in(a)))
            .then_with(|| best_rank(a).cmp(&best_rank(b)))
            .then_with(|| a.document_id.cmp(&b.document_id))
            .then_with(|| a.byte_range.start.cmp(&b.byte_range.start))
            .then_with(|| a.chunk_id.cmp(&b.chunk_id))
    });

    let mut hits: Vec<FusedHit> = Vec::new();
    for candidate in candidates {
        if hits.len() == config.limit {
            break;
        }
        let overlaps_better = hits.iter().any(|kept| {
            kept.document_id == candidate.document_id
                && kept.byte_range.start < candidate.byte_range.end
                && candidate.byte_range.start < kept.byte_range.end
        });
        if !overlaps_better {
            hits.push(candidate);
        }
    }
    for (i, hit) in hits.iter_mut().enumerate() {
        hit.fused_rank = i + 1;
    }

    let missing: Vec<Retriever> = lists
        .iter()
        .filter(|(_, list)| list.is_none())
        .map(|(r, _)| *r)
        .collect();
    let best_possible: f64 = lists
        .iter()
        .filter(|(_, list)| list.is_some())
        .map(|(r, _)| config.weight(*r) / (k + 1.0))
        .sum();
    let confidence = hits
        .first()
        .map(|top| confidence_of(top, best_possible))
        .unwrap_or(0.0);

    Fusion {
        hits,
        confidence,
        degraded: !missing.is_empty(),
        missing,
    }
}

fn confidence_of(top: &FusedHit, best_possible: f64) -> f64 {
    let agreement = if best_possible > 0.0 {
        (top.fused_score / best_possible).clamp(0.0, 1.0)
    } else {
        0.0
    };
    let similarity = top
        .vector
        .map(|v| v.score)
        .filter(|s| s.is_finite())
        .map_or(0.0, |s| s.clamp(0.0, 1.0));
    (agreement + similarity) / 2.0
}

fn slot(hit: &FusedHit, retriever: Retriever) -> Option<RetrieverRank> {
    match retriever {
        Retriever::Vector => hit.vector,
        Retriever::Keyword => hit.keyword,
    }
}

fn lists_in(hit: &FusedHit) -> usize {
    usize::from(hit.vector.is_some()) + usize::from(hit.keyword.is_some())
}

fn best_rank(hit: &FusedHit) -> usize {
    [hit.vector, hit.keyword]
        .iter()
        .flatten()
        .map(|r| r.rank)
        .min()
        .unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hit on its own 100-byte stretch of document `doc` (placed by a hash of its id), so
    /// hits never overlap unless a test says so.
    fn hit(chunk: &str, doc: &str, score: f64) -> Hit {
        let n = chunk
            .bytes()
            .fold(0usize, |acc, b| (acc * 131 + usize::from(b)) % 1_000_003);
        Hit {
            chunk_id: chunk.to_owned(),
            document_id: doc.to_owned(),
            score,
            byte_range: n * 1000..n * 1000 + 100,
        }
    }

    fn list(chunks: &[&str]) -> Vec<Hit> {
        chunks.iter().map(|c| hit(c, "d", 0.5)).collect()
    }

    fn ids(fusion: &Fusion) -> Vec<&str> {
        fusion.hits.iter().map(|h| h.chunk_id.as_str()).collect()
    }

    #[test]
    fn reciprocal_rank_fusion_orders_by_summed_reciprocal_ranks() {
        let cases: [(&[&str], &[&str], &[&str]); 5] = [
            // In both lists beats first in one; 1/61 + 1/63 edges out 2/62.
            (&["a", "b", "c"], &["c", "b", "x"], &["c", "b", "a", "x"]),
            // Identical lists keep their order.
            (&["a", "b", "c"], &["a", "b", "c"], &["a", "b", "c"]),
            // Disjoint lists interleave; equal scores are ordered by byte position.
            (&["a", "b"], &["x", "y"], &["a", "x", "b", "y"]),
            // One list empty: the other's order.
            (&["a", "b"], &[], &["a", "b"]),
            (&[], &[], &[]),
        ];
        for (vector, keyword, expected) in cases {
            let fusion = fuse(
                Some(&list(vector)),
                Some(&list(keyword)),
                &FusionConfig::default(),
            );
            assert_eq!(ids(&fusion), expected, "{vector:?} + {keyword:?}");
            assert!(!fusion.degraded);
        }
    }

    #[test]
    fn fused_hits_keep_each_retrievers_rank_and_score() {
        let vector = vec![hit("a", "d", 0.9), hit("b", "d", 0.7)];
        let keyword = vec![hit("b", "d", 12.5)];
        let fusion = fuse(Some(&vector), Some(&keyword), &FusionConfig::default());
        let b = &fusion.hits[0];
        assert_eq!((b.chunk_id.as_str(), b.fused_rank), ("b", 1));
        assert_eq!(
            b.vector,
            Some(RetrieverRank {
                rank: 2,
                score: 0.7
            })
        );
        assert_eq!(
            b.keyword,
            Some(RetrieverRank {
                rank: 1,
                score: 12.5
            })
        );
        assert!((b.fused_score - (1.0 / 62.0 + 1.0 / 61.0)).abs() < 1e-12);
        let a = &fusion.hits[1];
        assert_eq!(
            (a.chunk_id.as_str(), a.fused_rank, a.keyword),
            ("a", 2, None)
        );
    }

    #[test]
    fn weights_shift_the_order_toward_the_heavier_retriever() {
        let vector = list(&["v"]);
        let keyword = list(&["k"]);
        let cases = [
            (1.0, 1.0, vec!["k", "v"]), // tie, broken by byte position
            (2.0, 1.0, vec!["v", "k"]),
            (1.0, 2.0, vec!["k", "v"]),
            (0.0, 1.0, vec!["k", "v"]),
            (1.0, -5.0, vec!["v", "k"]),
            (f64::NAN, 1.0, vec!["k", "v"]),
        ];
        for (vector_weight, keyword_weight, expected) in cases {
            let config = FusionConfig {
                vector_weight,
                keyword_weight,
                ..FusionConfig::default()
            };
            let fusion = fuse(Some(&vector), Some(&keyword), &config);
            assert_eq!(
                ids(&fusion),
                expected,
                "weights {vector_weight} / {keyword_weight}"
            );
        }
    }

    #[test]
    fn k_controls_how_much_top_ranks_dominate() {
        // "a" is first in one list only; "b" is fourth in both.
        let vector = list(&["a", "x", "w", "b"]);
        let keyword = list(&["y", "z", "u", "b"]);
        let cases = [(1.0, "a"), (60.0, "b"), (0.0, "b"), (-1.0, "b")];
        for (k, first) in cases {
            let config = FusionConfig {
                k,
                ..FusionConfig::default()
            };
            let fusion = fuse(Some(&vector), Some(&keyword), &config);
            assert_eq!(fusion.hits[0].chunk_id, first, "k {k}");
        }
    }

    #[test]
    fn ties_are_broken_the_same_whatever_the_input_order() {
        let lists = [
            (list(&["a", "b"]), list(&["c", "d"])),
            (list(&["c", "d"]), list(&["a", "b"])),
        ];
        let orders: Vec<Vec<String>> = lists
            .iter()
            .map(|(v, k)| {
                let fusion = fuse(Some(v), Some(k), &FusionConfig::default());
                fusion.hits.iter().map(|h| h.chunk_id.clone()).collect()
            })
            .collect();
        assert_eq!(orders[0], ["a", "c", "b", "d"]);
        assert_eq!(orders[1], ["a", "c", "b", "d"]);
    }

    #[test]
    fn a_chunk_listed_twice_by_one_retriever_counts_once_at_its_better_rank() {
        let fusion = fuse(
            Some(&list(&["a", "a", "b"])),
            Some(&[]),
            &FusionConfig::default(),
        );
        assert_eq!(ids(&fusion), ["a", "b"]);
        assert_eq!(fusion.hits[1].vector.map(|r| r.rank), Some(2));
    }

    #[test]
    fn overlapping_chunks_of_one_document_keep_only_the_best() {
        let at = |chunk: &str, doc: &str, range: Range<usize>| Hit {
            byte_range: range,
            ..hit(chunk, doc, 0.5)
        };
        let cases = [
            // Overlapping ranges in one document: the better-ranked one stays.
            (vec![at("a", "d", 0..100), at("b", "d", 80..200)], vec!["a"]),
            (vec![at("b", "d", 80..200), at("a", "d", 0..100)], vec!["b"]),
            // Touching ranges do not overlap.
            (
                vec![at("a", "d", 0..100), at("b", "d", 100..200)],
                vec!["a", "b"],
            ),
            // Same range, different documents: both stay.
            (
                vec![at("a", "d", 0..100), at("b", "e", 0..100)],
                vec!["a", "b"],
            ),
            // A dropped chunk does not knock out a later one it alone overlapped.
            (
                vec![
                    at("a", "d", 0..100),
                    at("b", "d", 90..210),
                    at("c", "d", 200..300),
                ],
                vec!["a", "c"],
            ),
        ];
        for (vector, expected) in cases {
            let fusion = fuse(Some(&vector), Some(&[]), &FusionConfig::default());
            assert_eq!(ids(&fusion), expected, "{vector:?}");
            let ranks: Vec<usize> = fusion.hits.iter().map(|h| h.fused_rank).collect();
            assert_eq!(ranks, (1..=expected.len()).collect::<Vec<_>>());
        }
    }

    #[test]
    fn limit_applies_after_deduplication() {
        let at = |chunk: &str, range: Range<usize>| Hit {
            byte_range: range,
            ..hit(chunk, "d", 0.5)
        };
        let vector = vec![at("a", 0..100), at("b", 50..150), at("c", 200..300)];
        let config = FusionConfig {
            limit: 2,
            ..FusionConfig::default()
        };
        assert_eq!(ids(&fuse(Some(&vector), None, &config)), ["a", "c"]);
    }

    #[test]
    fn confidence_grows_with_agreement_between_retrievers() {
        // The keyword retriever's first result is the vector retriever's result at rank
        // `vector_rank` (None: not found by it); similarity held fixed.
        let fillers: Vec<String> = (0..20).map(|i| format!("f{i:02}")).collect();
        let confidence = |vector_rank: Option<usize>| {
            let mut vector: Vec<Hit> = fillers.iter().map(|f| hit(f, "other", 0.6)).collect();
            if let Some(rank) = vector_rank {
                vector.insert(rank - 1, hit("top", "d", 0.6));
            }
            let keyword = vec![hit("top", "d", 3.0)];
            let fusion = fuse(Some(&vector), Some(&keyword), &FusionConfig::default());
            assert_eq!(fusion.hits[0].chunk_id, "top", "rank {vector_rank:?}");
            fusion.confidence
        };
        let cases = [None, Some(20), Some(10), Some(3), Some(1)];
        let values: Vec<f64> = cases.iter().map(|&r| confidence(r)).collect();
        for (pair, rank) in values.windows(2).zip(&cases[1..]) {
            assert!(pair[1] > pair[0], "rank {rank:?}: {values:?}");
        }
        assert!((values[4] - (1.0 + 0.6) / 2.0).abs() < 1e-12);
    }

    #[test]
    fn confidence_is_bounded_and_follows_similarity() {
        let cases = [
            // (vector list, keyword list, expected confidence)
            (
                Some(vec![hit("a", "d", 0.8)]),
                Some(vec![hit("a", "d", 1.0)]),
                0.9,
            ),
            (
                Some(vec![hit("a", "d", 1.7)]),
                Some(vec![hit("a", "d", 1.0)]),
                1.0,
            ),
            (
                Some(vec![hit("a", "d", -0.4)]),
                Some(vec![hit("a", "d", 1.0)]),
                0.5,
            ),
            (
                Some(vec![hit("a", "d", f64::NAN)]),
                Some(vec![hit("a", "d", 1.0)]),
                0.5,
            ),
            // Keyword-only top result while the vector retriever answered without it.
            (Some(vec![]), Some(vec![hit("a", "d", 9.0)]), 0.25),
            // Degraded: keyword alone.
            (None, Some(vec![hit("a", "d", 9.0)]), 0.5),
            (Some(vec![]), Some(vec![]), 0.0),
            (None, None, 0.0),
        ];
        for (vector, keyword, expected) in cases {
            let fusion = fuse(
                vector.as_deref(),
                keyword.as_deref(),
                &FusionConfig::default(),
            );
            assert!(
                (fusion.confidence - expected).abs() < 1e-12,
                "{vector:?} {keyword:?}: {}",
                fusion.confidence
            );
            assert!((0.0..=1.0).contains(&fusion.confidence));
        }
    }

    #[test]
    fn missing_retriever_degrades_but_the_other_still_answers() {
        let vector = list(&["v1", "v2"]);
        let keyword = list(&["k1", "k2"]);
        let cases = [
            (
                Some(&vector[..]),
                Some(&keyword[..]),
                vec![],
                vec!["k1", "v1", "k2", "v2"],
            ),
            (
                None,
                Some(&keyword[..]),
                vec![Retriever::Vector],
                vec!["k1", "k2"],
            ),
            (
                Some(&vector[..]),
                None,
                vec![Retriever::Keyword],
                vec!["v1", "v2"],
            ),
            (
                None,
                None,
                vec![Retriever::Vector, Retriever::Keyword],
                vec![],
            ),
            // Answering with nothing is not being missing.
            (Some(&[][..]), Some(&keyword[..]), vec![], vec!["k1", "k2"]),
        ];
        for (v, k, missing, expected) in cases {
            let fusion = fuse(v, k, &FusionConfig::default());
            assert_eq!(fusion.missing, missing);
            assert_eq!(fusion.degraded, !missing.is_empty());
            assert_eq!(ids(&fusion), expected);
        }
    }

    #[test]
    fn fusion_serializes_for_the_search_preview() {
        let fusion = fuse(None, Some(&list(&["a"])), &FusionConfig::default());
        let json = serde_json::to_value(&fusion).unwrap();
        assert_eq!(json["degraded"], true);
        assert_eq!(json["missing"][0], "vector");
        assert_eq!(json["hits"][0]["fused_rank"], 1);
        assert_eq!(json["hits"][0]["keyword"]["rank"], 1);
        assert_eq!(json["hits"][0]["vector"], serde_json::Value::Null);
        assert_eq!(
            json["hits"][0]["byte_range"]["start"],
            hit("a", "d", 0.0).byte_range.start
        );
    }
}
