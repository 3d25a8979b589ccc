//! Accuracy metrics: rating error and top-k ranking quality.

/// Root mean squared error over (prediction, truth) pairs.
pub fn rmse(pairs: &[(f32, f32)]) -> f64 {
    if pairs.is_empty() {
        return f64::NAN;
    }
    let s: f64 = pairs
        .iter()
        .map(|&(p, t)| (p as f64 - t as f64).powi(2))
        .sum();
    (s / pairs.len() as f64).sqrt()
}

/// Mean absolute error over (prediction, truth) pairs.
pub fn mae(pairs: &[(f32, f32)]) -> f64 {
    if pairs.is_empty() {
        return f64::NAN;
    }
    let s: f64 = pairs
        .iter()
        .map(|&(p, t)| (p as f64 - t as f64).abs())
        .sum();
    s / pairs.len() as f64
}

/// Ranking quality of one user's top-k list.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RankingScores {
    pub precision: f64,
    pub recall: f64,
    pub ndcg: f64,
    pub hit: f64,
    /// Average precision at k: the mean of precision@i over the ranks i of the hits, divided
    /// by min(k, |relevant|).
    pub ap: f64,
}

/// `ranked` is the recommended list, best first (at most k long); `relevant` is sorted.
/// Binary gains, log2 discounts, normalised by the ideal ordering of min(k, |relevant|) hits.
pub fn ranking_scores(ranked: &[u32], relevant: &[u32], k: usize) -> RankingScores {
    let mut hits = 0usize;
    let mut dcg = 0f64;
    let mut precision_sum = 0f64;
    for (pos, item) in ranked.iter().take(k).enumerate() {
        if relevant.binary_search(item).is_ok() {
            hits += 1;
            dcg += 1.0 / ((pos + 2) as f64).log2();
            precision_sum += hits as f64 / (pos + 1) as f64;
        }
    }
    let ap_norm = k.min(relevant.len());
    let ideal: f64 = (0..k.min(relevant.len()))
        .map(|pos| 1.0 / ((pos + 2) as f64).log2())
        .sum();
    RankingScores {
        precision: hits as f64 / k as f64,
        recall: if relevant.is_empty() {
            0.0
        } else {
            hits as f64 / relevant.len() as f64
        },
        ndcg: if ideal > 0.0 { dcg / ideal } else { 0.0 },
        hit: if hits > 0 { 1.0 } else { 0.0 },
        ap: if ap_norm > 0 {
            precision_sum / ap_norm as f64
        } else {
            0.0
        },
    }
}

/// Averages of per-user ranking scores.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RankingSummary {
    pub users: usize,
    pub precision: f64,
    pub recall: f64,
    pub ndcg: f64,
    pub hit_rate: f64,
    pub map: f64,
}

impl RankingSummary {
    pub fn add(&mut self, s: RankingScores) {
        self.users += 1;
        self.precision += s.precision;
        self.recall += s.recall;
        self.ndcg += s.ndcg;
        self.hit_rate += s.hit;
        self.map += s.ap;
    }

    pub fn finish(mut self) -> Self {
        if self.users > 0 {
            let n = self.users as f64;
            self.precision /= n;
            self.recall /= n;
            self.ndcg /= n;
            self.hit_rate /= n;
            self.map /= n;
        }
        self
    }
}

/// The Euclidean norms of a set of embeddings: what `pgrec.embedding_stats` reports per side.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NormStats {
    pub rows: usize,
    pub mean: f64,
    pub min: f64,
    pub median: f64,
    pub max: f64,
    /// Rows whose vector is all zeros (no direction, no cosine).
    pub zero_rows: usize,
}

pub fn norm_stats(vectors: &[f32], k: usize) -> Option<NormStats> {
    if k == 0 || vectors.len() < k {
        return None;
    }
    let mut norms: Vec<f64> = vectors
        .chunks_exact(k)
        .map(|r| r.iter().map(|&v| v as f64 * v as f64).sum::<f64>().sqrt())
        .collect();
    let rows = norms.len();
    let zero_rows = norms.iter().filter(|&&n| n == 0.0).count();
    let mean = norms.iter().sum::<f64>() / rows as f64;
    norms.sort_by(|a, b| a.total_cmp(b));
    let median = if rows % 2 == 1 {
        norms[rows / 2]
    } else {
        (norms[rows / 2 - 1] + norms[rows / 2]) / 2.0
    };
    Some(NormStats {
        rows,
        mean,
        min: norms[0],
        median,
        max: norms[rows - 1],
        zero_rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn rmse_and_mae_by_hand() {
        let pairs = [(3.0, 4.0), (2.0, 2.0), (5.0, 3.0)];
        // errors 1, 0, 2: squares 1, 0, 4 -> sqrt(5/3); abs mean 1.
        assert!(close(rmse(&pairs), (5.0f64 / 3.0).sqrt()));
        assert!(close(mae(&pairs), 1.0));
        assert!(rmse(&[]).is_nan());
    }

    #[test]
    fn ranking_by_hand() {
        // Recommended [10, 20, 30, 40], relevant {20, 40, 99}, k = 4.
        let s = ranking_scores(&[10, 20, 30, 40], &[20, 40, 99], 4);
        assert!(close(s.precision, 0.5));
        assert!(close(s.recall, 2.0 / 3.0));
        // DCG = 1/log2(3) + 1/log2(5); IDCG = 1 + 1/log2(3) + 1/log2(4).
        let dcg = 1.0 / 3f64.log2() + 1.0 / 5f64.log2();
        let idcg = 1.0 + 1.0 / 3f64.log2() + 0.5;
        assert!(close(s.ndcg, dcg / idcg));
        assert!(close(s.hit, 1.0));
        // Hits at ranks 2 and 4: (1/2 + 2/4) / min(4, 3).
        assert!(close(s.ap, (0.5 + 0.5) / 3.0));

        let miss = ranking_scores(&[1, 2], &[3], 2);
        assert!(close(miss.precision, 0.0) && close(miss.ndcg, 0.0) && close(miss.hit, 0.0));

        let perfect = ranking_scores(&[3, 1], &[1, 3], 2);
        assert!(close(perfect.ndcg, 1.0) && close(perfect.recall, 1.0) && close(perfect.ap, 1.0));
    }

    #[test]
    fn summary_averages() {
        let mut sum = RankingSummary::default();
        sum.add(ranking_scores(&[1], &[1], 1));
        sum.add(ranking_scores(&[2], &[1], 1));
        let s = sum.finish();
        assert_eq!(s.users, 2);
        assert!(close(s.precision, 0.5) && close(s.hit_rate, 0.5) && close(s.map, 0.5));

        // Every field is the plain mean of the per-user values, each field its own.
        let per_user = [
            ranking_scores(&[10, 20, 30, 40], &[20, 40, 99], 4),
            ranking_scores(&[5, 6], &[6, 7, 8, 9], 2),
            ranking_scores(&[1, 2, 3], &[4], 3),
        ];
        let mut sum = RankingSummary::default();
        for s in per_user {
            sum.add(s);
        }
        let s = sum.finish();
        let mean = |f: fn(&RankingScores) -> f64| per_user.iter().map(f).sum::<f64>() / 3.0;
        assert_eq!(s.users, 3);
        assert!(close(s.precision, mean(|r| r.precision)), "{s:?}");
        assert!(close(s.recall, mean(|r| r.recall)), "{s:?}");
        assert!(close(s.ndcg, mean(|r| r.ndcg)), "{s:?}");
        assert!(close(s.hit_rate, mean(|r| r.hit)), "{s:?}");
        // By hand: precision (2/4 + 1/2 + 0) / 3, recall (2/3 + 1/4 + 0) / 3, hits 2 of 3.
        assert!(close(s.precision, 1.0 / 3.0) && close(s.hit_rate, 2.0 / 3.0));
        assert!(close(s.recall, (2.0 / 3.0 + 0.25) / 3.0));
        // No users: zeros, not NaN.
        let empty = RankingSummary::default().finish();
        assert_eq!(empty, RankingSummary::default());
    }

    /// nDCG with more relevant items than k: the ideal list holds k hits, so a list of k hits
    /// scores 1. Worked by hand.
    #[test]
    fn ndcg_ideal_is_capped_at_k() {
        let s = ranking_scores(&[7, 3], &[1, 3, 5, 7], 2);
        assert!(close(s.ndcg, 1.0), "{s:?}");
        assert!(close(s.precision, 1.0) && close(s.recall, 0.5));
        // One hit in second place out of k = 2: (1 / log2 3) / (1 + 1 / log2 3).
        let s = ranking_scores(&[8, 3], &[1, 3, 5, 7], 2);
        let want = (1.0 / 3f64.log2()) / (1.0 + 1.0 / 3f64.log2());
        assert!(close(s.ndcg, want), "{} vs {want}", s.ndcg);
    }

    /// A ranked list shorter than k (fewer candidates than k): precision still divides by k
    /// and the ideal list still holds min(k, |relevant|) hits.
    #[test]
    fn short_ranked_list_is_scored_against_k() {
        // k = 3, one recommendation, two relevant items: DCG 1, IDCG 1 + 1 / log2 3.
        let s = ranking_scores(&[4], &[4, 9], 3);
        assert!(close(s.precision, 1.0 / 3.0));
        assert!(close(s.recall, 0.5));
        assert!(close(s.ndcg, 1.0 / (1.0 + 1.0 / 3f64.log2())), "{s:?}");
        assert!(close(s.hit, 1.0));
        // Items past k in the list do not count.
        let s = ranking_scores(&[1, 2, 4], &[4], 2);
        assert!(close(s.precision, 0.0) && close(s.ndcg, 0.0) && close(s.hit, 0.0));
        // No relevant item at all: everything is 0 (not NaN).
        let s = ranking_scores(&[1, 2], &[], 2);
        assert_eq!((s.precision, s.recall, s.ndcg, s.hit), (0.0, 0.0, 0.0, 0.0));
    }

    /// nDCG against a brute-force definition: DCG of the list over DCG of the best possible
    /// list of the same length k (every relevant item first), on many random cases.
    #[test]
    fn ndcg_matches_brute_force() {
        use rand::{Rng, SeedableRng};
        let dcg = |gains: &[bool]| -> f64 {
            let mut s = 0.0;
            for (i, &g) in gains.iter().enumerate() {
                if g {
                    s += 1.0 / (i as f64 + 2.0).log2();
                }
            }
            s
        };
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(5);
        for _ in 0..500 {
            let n_items = rng.gen_range(1..20u32);
            let k = rng.gen_range(1..8usize);
            let mut relevant: Vec<u32> = (0..n_items).filter(|_| rng.gen_bool(0.3)).collect();
            relevant.sort_unstable();
            let mut pool: Vec<u32> = (0..n_items).collect();
            rand::seq::SliceRandom::shuffle(&mut pool[..], &mut rng);
            let len = rng.gen_range(0..=n_items as usize).min(k + 2);
            let ranked = &pool[..len];
            let shown: Vec<bool> = ranked
                .iter()
                .take(k)
                .map(|i| relevant.contains(i))
                .collect();
            let best: Vec<bool> = (0..k).map(|i| i < relevant.len()).collect();
            let want = if relevant.is_empty() {
                0.0
            } else {
                dcg(&shown) / dcg(&best)
            };
            let s = ranking_scores(ranked, &relevant, k);
            assert!(close(s.ndcg, want), "{ranked:?} {relevant:?} k={k}");
            let hits = shown.iter().filter(|&&g| g).count() as f64;
            assert!(close(s.precision, hits / k as f64));
            assert!(s.ndcg <= 1.0 + 1e-12);
        }
    }
}

/// Area under the ROC curve of one user's scores: the probability that a relevant item scores
/// above a non-relevant one (ties count half). Items in `excluded` (sorted) are not candidates;
/// `relevant` (sorted) may hold indices past the end (unknown items), which are ignored.
/// None when there is no relevant or no non-relevant candidate.
pub fn auc(scores: &[f32], relevant: &[u32], excluded: &[u32]) -> Option<f64> {
    let mut cand: Vec<(f32, bool)> = scores
        .iter()
        .enumerate()
        .filter(|(i, _)| excluded.binary_search(&(*i as u32)).is_err())
        .map(|(i, &s)| (s, relevant.binary_search(&(i as u32)).is_ok()))
        .collect();
    let p = cand.iter().filter(|c| c.1).count();
    let n = cand.len() - p;
    if p == 0 || n == 0 {
        return None;
    }
    cand.sort_by(|a, b| a.0.total_cmp(&b.0));
    // Sum of the (1-based, tie-averaged) ranks of the relevant items.
    let mut rank_sum = 0.0f64;
    let mut i = 0;
    while i < cand.len() {
        let mut j = i;
        while j < cand.len() && cand[j].0 == cand[i].0 {
            j += 1;
        }
        let avg = (i + 1 + j) as f64 / 2.0;
        rank_sum += avg * cand[i..j].iter().filter(|c| c.1).count() as f64;
        i = j;
    }
    Some((rank_sum - (p * (p + 1)) as f64 / 2.0) / (p as f64 * n as f64))
}

/// How spread out a set of embeddings is: the mean cosine over all pairs of (up to `max_rows`,
/// evenly strided) rows, and the share of the total squared norm that lies along the first
/// principal direction of the uncentered rows (1.0 when every vector points the same way,
/// about 1 / k for isotropic vectors). Collapsed embeddings have both close to 1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EmbeddingHealth {
    pub mean_cosine: f64,
    pub first_direction_share: f64,
    pub rows_sampled: usize,
}

pub fn embedding_health(vectors: &[f32], k: usize, max_rows: usize) -> Option<EmbeddingHealth> {
    if k == 0 {
        return None;
    }
    let n = vectors.len() / k;
    // At most about 2^22 values are read, so wide vectors (ease's) sample fewer rows.
    let max_rows = max_rows.min(((1usize << 22) / k).max(64));
    let stride = n.div_ceil(max_rows.max(2)).max(1);
    let rows: Vec<Vec<f64>> = (0..n)
        .step_by(stride)
        .map(|r| {
            vectors[r * k..(r + 1) * k]
                .iter()
                .map(|&v| v as f64)
                .collect()
        })
        .filter(|r: &Vec<f64>| r.iter().any(|v| *v != 0.0))
        .collect();
    let m = rows.len();
    if m < 2 {
        return None;
    }
    // Mean pairwise cosine = (|sum of unit vectors|^2 - m) / (m (m - 1)).
    let mut sum = vec![0.0f64; k];
    for r in &rows {
        let nrm = r.iter().map(|v| v * v).sum::<f64>().sqrt();
        for (s, v) in sum.iter_mut().zip(r) {
            *s += v / nrm;
        }
    }
    let s2: f64 = sum.iter().map(|v| v * v).sum();
    let mean_cosine = (s2 - m as f64) / (m as f64 * (m as f64 - 1.0));
    // Top eigenvalue of the second-moment matrix C = R^T R by power iteration, without
    // forming C (x -> R^T (R x) costs 2 m k, so wide vectors such as ease's stay cheap).
    let trace: f64 = rows.iter().flatten().map(|v| v * v).sum();
    let mut x = vec![1.0f64 / (k as f64).sqrt(); k];
    let mut lambda = 0.0;
    for _ in 0..200 {
        let mut y = vec![0.0f64; k];
        for r in &rows {
            let rx: f64 = r.iter().zip(&x).map(|(a, b)| a * b).sum();
            for (yv, rv) in y.iter_mut().zip(r) {
                *yv += rx * rv;
            }
        }
        let nrm = y.iter().map(|v| v * v).sum::<f64>().sqrt();
        if nrm == 0.0 {
            break;
        }
        let next: Vec<f64> = y.iter().map(|v| v / nrm).collect();
        let delta: f64 = next.iter().zip(&x).map(|(a, b)| (a - b).abs()).sum();
        x = next;
        lambda = nrm;
        if delta < 1e-10 {
            break;
        }
    }
    Some(EmbeddingHealth {
        mean_cosine,
        first_direction_share: if trace > 0.0 { lambda / trace } else { 0.0 },
        rows_sampled: m,
    })
}

#[cfg(test)]
mod health_tests {
    use super::*;

    #[test]
    fn auc_counts_ordered_pairs_and_ties() {
        // Relevant 0 and 2; item 3 excluded. Pairs (rel, non-rel): (0,1) 0.9>0.5 yes,
        // (0,4) 0.9>0.1 yes, (2,1) tie 0.5 half, (2,4) yes -> 3.5 / 4.
        let scores = [0.9, 0.5, 0.5, 2.0, 0.1];
        assert_eq!(auc(&scores, &[0, 2, u32::MAX], &[3]), Some(0.875));
        assert_eq!(auc(&scores, &[], &[]), None);
        // A perfect and a reversed ranking.
        assert_eq!(auc(&[3.0, 2.0, 1.0], &[0], &[]), Some(1.0));
        assert_eq!(auc(&[1.0, 2.0, 3.0], &[0], &[]), Some(0.0));
        // One relevant item above two of three others: 2 / 3.
        let got = auc(&[0.2, 0.9, 0.5, 0.1], &[2], &[]).unwrap();
        assert!((got - 2.0 / 3.0).abs() < 1e-12, "{got}");
        // Three relevant items, one of them above the only other one: 1 / 3.
        let got = auc(&[0.2, 0.9, 0.5, 0.1], &[0, 1, 3], &[]).unwrap();
        assert!((got - 1.0 / 3.0).abs() < 1e-12, "{got}");
        // Everything excluded but relevant items: no pair.
        assert_eq!(auc(&[0.2, 0.9, 0.5], &[0], &[1, 2]), None);
    }

    /// Three vectors worked by hand: (1, 0), (0, 1), (1, 1). Pairwise cosines 0, 1/sqrt 2,
    /// 1/sqrt 2, mean sqrt 2 / 3; second moment [[2, 1], [1, 2]] has top eigenvalue 3 of
    /// trace 4.
    #[test]
    fn embedding_health_by_hand() {
        let h = embedding_health(&[1.0, 0.0, 0.0, 1.0, 1.0, 1.0], 2, 10).unwrap();
        assert_eq!(h.rows_sampled, 3);
        assert!((h.mean_cosine - 2f64.sqrt() / 3.0).abs() < 1e-9, "{h:?}");
        assert!((h.first_direction_share - 0.75).abs() < 1e-9, "{h:?}");
        // Zero rows are skipped: they have no direction.
        let z = embedding_health(&[1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0], 2, 10).unwrap();
        assert_eq!(z, h);
        // Fewer than two usable rows, or no columns: nothing to say.
        assert_eq!(embedding_health(&[0.0; 6], 2, 10), None);
        assert_eq!(embedding_health(&[0.0, 0.0, 3.0, 4.0], 2, 10), None);
        assert_eq!(embedding_health(&[1.0, 2.0], 0, 10), None);
        // Striding: 10 rows, at most 3: every 4th row (0, 4, 8); at most 1 means at least 2.
        let rows: Vec<f32> = (0..10).flat_map(|r| [1.0, r as f32]).collect();
        assert_eq!(embedding_health(&rows, 2, 3).unwrap().rows_sampled, 3);
        assert_eq!(embedding_health(&rows, 2, 1).unwrap().rows_sampled, 2);
        // Opposite vectors: cosine -1, one direction.
        let o = embedding_health(&[2.0, 0.0, -1.0, 0.0], 2, 10).unwrap();
        assert!((o.mean_cosine + 1.0).abs() < 1e-9 && (o.first_direction_share - 1.0).abs() < 1e-9);
    }

    #[test]
    fn collapsed_and_spread_embeddings_are_told_apart() {
        // All vectors along (1, 1, 1) plus tiny noise: cosine ~1, one direction.
        let mut collapsed = Vec::new();
        let mut spread = Vec::new();
        for i in 0..100 {
            let e = (i % 7) as f32 * 1e-3;
            collapsed.extend([1.0 + e, 1.0 - e, 1.0]);
            // The six signed axes in turn: mean cosine close to 0, share 1/3.
            let mut v = [0.0f32; 3];
            v[i % 3] = if i % 2 == 0 { 1.0 } else { -1.0 };
            spread.extend(v);
        }
        let c = embedding_health(&collapsed, 3, 1000).unwrap();
        assert!(
            c.mean_cosine > 0.99 && c.first_direction_share > 0.99,
            "{c:?}"
        );
        let s = embedding_health(&spread, 3, 1000).unwrap();
        assert!(s.mean_cosine.abs() < 0.05, "{s:?}");
        assert!((s.first_direction_share - 1.0 / 3.0).abs() < 0.05, "{s:?}");
        // Sampling keeps at most max_rows rows.
        assert!(embedding_health(&spread, 3, 10).unwrap().rows_sampled <= 10);
    }

    #[test]
    fn norm_stats_of_known_rows() {
        // norms 5, 0, 1, 13
        let v = [3.0, 4.0, 0.0, 0.0, 1.0, 0.0, 5.0, 12.0];
        let s = norm_stats(&v, 2).unwrap();
        assert_eq!(s.rows, 4);
        assert_eq!(s.zero_rows, 1);
        assert!((s.mean - 19.0 / 4.0).abs() < 1e-12);
        assert_eq!((s.min, s.median, s.max), (0.0, 3.0, 13.0));
        let odd = norm_stats(&v[..6], 2).unwrap();
        assert_eq!(odd.median, 1.0);
        assert!(norm_stats(&v, 0).is_none());
        assert!(norm_stats(&[], 2).is_none());
    }
}
