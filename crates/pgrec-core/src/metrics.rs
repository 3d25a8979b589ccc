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
}

/// `ranked` is the recommended list, best first (at most k long); `relevant` is sorted.
/// Binary gains, log2 discounts, normalised by the ideal ordering of min(k, |relevant|) hits.
pub fn ranking_scores(ranked: &[u32], relevant: &[u32], k: usize) -> RankingScores {
    let mut hits = 0usize;
    let mut dcg = 0f64;
    for (pos, item) in ranked.iter().take(k).enumerate() {
        if relevant.binary_search(item).is_ok() {
            hits += 1;
            dcg += 1.0 / ((pos + 2) as f64).log2();
        }
    }
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
}

impl RankingSummary {
    pub fn add(&mut self, s: RankingScores) {
        self.users += 1;
        self.precision += s.precision;
        self.recall += s.recall;
        self.ndcg += s.ndcg;
        self.hit_rate += s.hit;
    }

    pub fn finish(mut self) -> Self {
        if self.users > 0 {
            let n = self.users as f64;
            self.precision /= n;
            self.recall /= n;
            self.ndcg /= n;
            self.hit_rate /= n;
        }
        self
    }
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

        let miss = ranking_scores(&[1, 2], &[3], 2);
        assert!(close(miss.precision, 0.0) && close(miss.ndcg, 0.0) && close(miss.hit, 0.0));

        let perfect = ranking_scores(&[3, 1], &[1, 3], 2);
        assert!(close(perfect.ndcg, 1.0) && close(perfect.recall, 1.0));
    }

    #[test]
    fn summary_averages() {
        let mut sum = RankingSummary::default();
        sum.add(ranking_scores(&[1], &[1], 1));
        sum.add(ranking_scores(&[2], &[1], 1));
        let s = sum.finish();
        assert_eq!(s.users, 2);
        assert!(close(s.precision, 0.5) && close(s.hit_rate, 0.5));
    }
}
