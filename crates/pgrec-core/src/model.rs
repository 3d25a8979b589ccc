//! A trained factor model: global mean, user and item biases, user and item factors.
//! prediction = mean + b_u + b_i + f(p_u, q_i), clipped to the rating range seen in training,
//! where f is the dot product, or for neural collaborative filtering a small network over the
//! concatenated vectors (`ScoreHead`).

use rayon::prelude::*;

use crate::kernels::gemm;
use crate::kernels::Kernels;

/// A stored parameter block of a version beyond its factors: (name, rows, cols, values), as
/// pgrec.model_tensors holds it (ncf's scoring network, the towers, vbmf's learned priors).
pub type Tensor = (String, usize, usize, Vec<f32>);

/// Items scored per matrix product by `ScoreHead`. Fixed, so a score never depends on how the
/// catalogue was cut.
const HEAD_CHUNK: usize = 256;

/// One dense layer of a `ScoreHead`: y = x W + b, W stored `n_in x n_out` row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct HeadLayer {
    pub n_in: usize,
    pub n_out: usize,
    pub weight: Vec<f32>,
    pub bias: Vec<f32>,
}

/// The scoring network of neural collaborative filtering: layers over [user vector, item
/// vector] with ReLU between them and one output. The first layer's weights split into a user
/// half and an item half, so a user's half is computed once per request and every item only
/// adds its own half.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreHead {
    pub layers: Vec<HeadLayer>,
}

impl ScoreHead {
    /// Checks the shapes against the vector size `k`: the first layer takes 2k inputs, each
    /// layer takes what the previous gives, the last gives one value.
    pub fn check(&self, k: usize) -> std::result::Result<(), String> {
        let Some(first) = self.layers.first() else {
            return Err("the scoring network has no layers".into());
        };
        if first.n_in != 2 * k {
            return Err(format!(
                "the first layer takes {} inputs, expected {}",
                first.n_in,
                2 * k
            ));
        }
        for (l, layer) in self.layers.iter().enumerate() {
            if layer.weight.len() != layer.n_in * layer.n_out || layer.bias.len() != layer.n_out {
                return Err(format!("layer {l} has the wrong number of values"));
            }
            if let Some(next) = self.layers.get(l + 1) {
                if next.n_in != layer.n_out {
                    return Err(format!("layer {} does not fit layer {l}", l + 1));
                }
            }
        }
        match self.layers.last() {
            Some(last) if last.n_out == 1 => Ok(()),
            _ => Err("the last layer must have one output".into()),
        }
    }

    /// Scores of `user` against the `items.len() / k` item vectors in `items`, into `out`.
    pub fn score(&self, user: &[f32], items: &[f32], k: usize, out: &mut [f32]) {
        let first = &self.layers[0];
        let h = first.n_out;
        // The user's half of the first layer, plus its bias.
        let mut base = first.bias.clone();
        gemm(
            1,
            k,
            h,
            user,
            false,
            &first.weight[..k * h],
            false,
            1.0,
            &mut base,
        );
        let item_half = &first.weight[k * h..];
        for (rows, out) in items
            .chunks(HEAD_CHUNK * k.max(1))
            .zip(out.chunks_mut(HEAD_CHUNK))
        {
            let m = out.len();
            let mut z: Vec<f32> = Vec::with_capacity(m * h);
            for _ in 0..m {
                z.extend_from_slice(&base);
            }
            gemm(m, k, h, rows, false, item_half, false, 1.0, &mut z);
            for layer in &self.layers[1..] {
                for v in &mut z {
                    *v = v.max(0.0);
                }
                let mut next: Vec<f32> = Vec::with_capacity(m * layer.n_out);
                for _ in 0..m {
                    next.extend_from_slice(&layer.bias);
                }
                gemm(
                    m,
                    layer.n_in,
                    layer.n_out,
                    &z,
                    false,
                    &layer.weight,
                    false,
                    1.0,
                    &mut next,
                );
                z = next;
            }
            out.copy_from_slice(&z[..m]);
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct FactorModel {
    pub factors: usize,
    pub global_mean: f32,
    /// Predictions are clipped to this range (explicit ratings only).
    pub rating_range: Option<(f32, f32)>,
    pub user_bias: Vec<f32>,
    pub item_bias: Vec<f32>,
    /// Row-major, `factors` values per user.
    pub user_factors: Vec<f32>,
    /// Row-major, `factors` values per item.
    pub item_factors: Vec<f32>,
    /// The interaction of neural collaborative filtering; None for the dot product.
    pub head: Option<ScoreHead>,
}

/// A borrowed view of a model's parts: what serving, evaluation and fold-in score through. It
/// holds no data of its own, so a model cached once (or held by a training) is read in place.
#[derive(Debug, Clone, Copy)]
pub struct ModelView<'a> {
    pub factors: usize,
    pub global_mean: f32,
    pub rating_range: Option<(f32, f32)>,
    pub user_bias: &'a [f32],
    pub item_bias: &'a [f32],
    pub user_factors: &'a [f32],
    pub item_factors: &'a [f32],
    pub head: Option<&'a ScoreHead>,
}

impl<'a> ModelView<'a> {
    /// The same dot-product model with users and items swapped: what an item is folded in
    /// against (its interactions are the "items" of the swapped model). Scores are symmetric
    /// (biases plus a dot product), so folding an item into the swapped model is the item side
    /// of the fit that folds users in. A network head does not swap (None).
    pub fn transposed(&self) -> Option<ModelView<'a>> {
        if self.head.is_some() {
            return None;
        }
        Some(ModelView {
            user_bias: self.item_bias,
            item_bias: self.user_bias,
            user_factors: self.item_factors,
            item_factors: self.user_factors,
            ..*self
        })
    }

    pub fn n_users(&self) -> usize {
        self.user_bias.len()
    }

    pub fn n_items(&self) -> usize {
        self.item_bias.len()
    }

    #[inline]
    pub fn user(&self, u: u32) -> &'a [f32] {
        let k = self.factors;
        &self.user_factors[u as usize * k..(u as usize + 1) * k]
    }

    #[inline]
    pub fn item(&self, i: u32) -> &'a [f32] {
        let k = self.factors;
        &self.item_factors[i as usize * k..(i as usize + 1) * k]
    }

    #[inline]
    pub fn clip(&self, x: f32) -> f32 {
        match self.rating_range {
            Some((lo, hi)) => x.clamp(lo, hi),
            None => x,
        }
    }

    /// The interaction term of user `u` and item `i`.
    #[inline]
    fn interaction(&self, kern: Kernels, u: u32, i: u32) -> f32 {
        match &self.head {
            None => kern.dot(self.user(u), self.item(i)),
            Some(head) => {
                let mut s = [0.0f32];
                head.score(self.user(u), self.item(i), self.factors, &mut s);
                s[0]
            }
        }
    }

    /// Prediction for known indices.
    #[inline]
    pub fn predict(&self, kern: Kernels, u: u32, i: u32) -> f32 {
        let raw = self.global_mean
            + self.user_bias[u as usize]
            + self.item_bias[i as usize]
            + self.interaction(kern, u, i);
        self.clip(raw)
    }

    /// Prediction when the user or the item may be unknown: unknown parts contribute nothing
    /// (so an unknown user gets mean + item bias). Used for evaluation on held-out data.
    pub fn predict_partial(&self, kern: Kernels, u: Option<u32>, i: Option<u32>) -> f32 {
        match (u, i) {
            (Some(u), Some(i)) => self.predict(kern, u, i),
            (Some(u), None) => self.clip(self.global_mean + self.user_bias[u as usize]),
            (None, Some(i)) => self.clip(self.global_mean + self.item_bias[i as usize]),
            (None, None) => self.clip(self.global_mean),
        }
    }

    /// Unclipped scores of every item for user `u`, into `out` (ranking order is what matters).
    pub fn score_items(&self, kern: Kernels, u: u32, out: &mut Vec<f32>) {
        out.clear();
        let p = self.user(u);
        let base = self.global_mean + self.user_bias[u as usize];
        let k = self.factors;
        if let Some(head) = &self.head {
            out.resize(self.n_items(), 0.0);
            head.score(p, self.item_factors, k, out);
            for (s, b) in out.iter_mut().zip(self.item_bias) {
                *s += base + b;
            }
            return;
        }
        if k == 0 {
            // no vectors to pair the biases with: every item scores by its bias alone
            out.extend(self.item_bias.iter().map(|b| base + b));
            return;
        }
        out.extend(
            self.item_factors
                .chunks_exact(k)
                .zip(self.item_bias)
                .map(|(q, b)| base + b + kern.dot(p, q)),
        );
    }

    /// Like `score_items`, with the scoring network's item chunks spread over the current rayon
    /// pool (call it inside `pool.install`). The scores are the same as `score_items` gives:
    /// the chunks are the same, only their order of computation differs.
    pub fn score_items_parallel(&self, kern: Kernels, u: u32, out: &mut Vec<f32>) {
        let Some(head) = &self.head else {
            return self.score_items(kern, u, out);
        };
        let k = self.factors;
        let p = self.user(u);
        let base = self.global_mean + self.user_bias[u as usize];
        out.clear();
        out.resize(self.n_items(), 0.0);
        out.par_chunks_mut(HEAD_CHUNK)
            .zip(self.item_factors.par_chunks(HEAD_CHUNK * k))
            .zip(self.item_bias.par_chunks(HEAD_CHUNK))
            .for_each(|((o, rows), bias)| {
                head.score(p, rows, k, o);
                for (s, b) in o.iter_mut().zip(bias) {
                    *s += base + b;
                }
            });
    }

    /// Euclidean norm of every item's factor vector.
    pub fn item_norms(&self, kern: Kernels) -> Vec<f32> {
        (0..self.n_items() as u32)
            .map(|i| crate::kernels::norm(kern, self.item(i)))
            .collect()
    }
}

impl FactorModel {
    /// The model's parts, borrowed.
    #[inline]
    pub fn view(&self) -> ModelView<'_> {
        ModelView {
            factors: self.factors,
            global_mean: self.global_mean,
            rating_range: self.rating_range,
            user_bias: &self.user_bias,
            item_bias: &self.item_bias,
            user_factors: &self.user_factors,
            item_factors: &self.item_factors,
            head: self.head.as_ref(),
        }
    }

    pub fn n_users(&self) -> usize {
        self.user_bias.len()
    }

    pub fn n_items(&self) -> usize {
        self.item_bias.len()
    }

    #[inline]
    pub fn user(&self, u: u32) -> &[f32] {
        self.view().user(u)
    }

    #[inline]
    pub fn item(&self, i: u32) -> &[f32] {
        self.view().item(i)
    }

    #[inline]
    pub fn clip(&self, x: f32) -> f32 {
        self.view().clip(x)
    }

    #[inline]
    pub fn predict(&self, kern: Kernels, u: u32, i: u32) -> f32 {
        self.view().predict(kern, u, i)
    }

    pub fn predict_partial(&self, kern: Kernels, u: Option<u32>, i: Option<u32>) -> f32 {
        self.view().predict_partial(kern, u, i)
    }

    pub fn score_items(&self, kern: Kernels, u: u32, out: &mut Vec<f32>) {
        self.view().score_items(kern, u, out)
    }

    pub fn score_items_parallel(&self, kern: Kernels, u: u32, out: &mut Vec<f32>) {
        self.view().score_items_parallel(kern, u, out)
    }

    pub fn item_norms(&self, kern: Kernels) -> Vec<f32> {
        self.view().item_norms(kern)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> FactorModel {
        FactorModel {
            factors: 2,
            global_mean: 3.0,
            rating_range: Some((1.0, 5.0)),
            user_bias: vec![0.5, -0.5],
            item_bias: vec![0.1, 0.2, 0.0],
            user_factors: vec![1.0, 0.0, 0.0, 1.0],
            item_factors: vec![1.0, 0.0, 2.0, 0.1, -1.0, 0.0],
            head: None,
        }
    }

    /// The transposed view swaps the sides: its users are the items (vectors and biases), its
    /// items the users; a model with a scoring network has none.
    #[test]
    fn the_transposed_view_swaps_users_and_items() {
        let m = tiny();
        let (v, t) = (m.view(), m.view().transposed().unwrap());
        assert_eq!((t.n_users(), t.n_items()), (v.n_items(), v.n_users()));
        for i in 0..3u32 {
            assert_eq!(t.user(i), v.item(i));
            assert_eq!(t.user_bias[i as usize], v.item_bias[i as usize]);
        }
        for u in 0..2u32 {
            assert_eq!(t.item(u), v.user(u));
            assert_eq!(t.item_bias[u as usize], v.user_bias[u as usize]);
        }
        let with_head = FactorModel {
            head: Some(tiny_head()),
            ..tiny()
        };
        assert!(with_head.view().transposed().is_none());
    }

    /// A head over k = 2: relu([u, v] W1 + b1) W2 + b2 with W1 4 x 3.
    fn tiny_head() -> ScoreHead {
        ScoreHead {
            layers: vec![
                HeadLayer {
                    n_in: 4,
                    n_out: 3,
                    weight: vec![
                        1.0, 0.0, -1.0, //
                        0.0, 1.0, 0.5, //
                        2.0, -1.0, 0.0, //
                        0.0, 0.5, 1.0,
                    ],
                    bias: vec![0.1, -0.2, 0.0],
                },
                HeadLayer {
                    n_in: 3,
                    n_out: 1,
                    weight: vec![1.0, -2.0, 0.5],
                    bias: vec![0.3],
                },
            ],
        }
    }

    /// The head by hand: the naive concatenated forward pass.
    fn naive_head(h: &ScoreHead, u: &[f32], v: &[f32]) -> f32 {
        let mut x: Vec<f32> = u.iter().chain(v).copied().collect();
        for (l, layer) in h.layers.iter().enumerate() {
            let mut y = layer.bias.clone();
            for (o, yo) in y.iter_mut().enumerate() {
                for (i, xi) in x.iter().enumerate() {
                    *yo += xi * layer.weight[i * layer.n_out + o];
                }
            }
            if l + 1 < h.layers.len() {
                y.iter_mut().for_each(|v| *v = v.max(0.0));
            }
            x = y;
        }
        x[0]
    }

    #[test]
    fn head_scores_match_the_concatenated_network() {
        let mut m = tiny();
        m.head = Some(tiny_head());
        assert_eq!(m.head.as_ref().map(|h| h.check(2)), Some(Ok(())));
        let k = Kernels::detect();
        let mut scores = Vec::new();
        for u in 0..2u32 {
            m.score_items(k, u, &mut scores);
            for i in 0..3u32 {
                let want = naive_head(m.head.as_ref().unwrap(), m.user(u), m.item(i));
                let base = 3.0 + m.user_bias[u as usize] + m.item_bias[i as usize];
                assert!((scores[i as usize] - base - want).abs() < 1e-5);
                assert!((m.predict(k, u, i) - (base + want).clamp(1.0, 5.0)).abs() < 1e-5);
            }
        }
        // At least one pair must go through the ReLU, or the test proves little.
        assert!(scores.iter().any(|s| (s - scores[0]).abs() > 1e-3));
    }

    #[test]
    fn parallel_scores_equal_sequential_ones() {
        let mut m = tiny();
        m.head = Some(tiny_head());
        let n = 1000;
        m.item_bias = (0..n).map(|i| (i % 7) as f32 * 0.1).collect();
        m.item_factors = (0..2 * n)
            .map(|x| ((x * 13 % 29) as f32) / 10.0 - 1.4)
            .collect();
        let kern = Kernels::detect();
        let (mut seq, mut par) = (Vec::new(), Vec::new());
        m.score_items(kern, 1, &mut seq);
        let pool = crate::parallel::build_pool(3).unwrap();
        pool.install(|| m.score_items_parallel(kern, 1, &mut par));
        assert_eq!(seq.len(), n);
        assert_eq!(seq, par);
    }

    #[test]
    fn head_shapes_are_checked() {
        let mut h = tiny_head();
        assert!(h.check(3).is_err());
        h.layers[1].n_out = 2;
        assert!(h.check(2).is_err());
    }

    #[test]
    fn head_chunks_do_not_change_scores() {
        // More items than one chunk: the scores of the later chunks equal one-by-one scores.
        let h = tiny_head();
        let items: Vec<f32> = (0..2 * 600)
            .map(|x| ((x * 37 % 101) as f32) / 50.0 - 1.0)
            .collect();
        let user = [0.3f32, -0.7];
        let mut all = vec![0.0f32; 600];
        h.score(&user, &items, 2, &mut all);
        for i in [0usize, 255, 256, 599] {
            let mut one = [0.0f32];
            h.score(&user, &items[2 * i..2 * i + 2], 2, &mut one);
            assert!((one[0] - all[i]).abs() < 1e-5, "item {i}");
        }
    }

    #[test]
    fn prediction_is_mean_plus_biases_plus_dot_clipped() {
        let m = tiny();
        let k = Kernels::detect();
        assert!((m.predict(k, 0, 0) - (3.0 + 0.5 + 0.1 + 1.0)).abs() < 1e-6);
        // 3 + 0.5 + 0.2 + 2 = 5.7 is clipped to 5.
        assert_eq!(m.predict(k, 0, 1), 5.0);
        assert!((m.predict_partial(k, None, Some(1)) - 3.2).abs() < 1e-6);
        assert!((m.predict_partial(k, None, None) - 3.0).abs() < 1e-6);
    }

    /// The dot path of `score_items` (used by recommend and evaluate) against a naive f64
    /// mean + b_u + b_i + p_u . q_i, and against `predict` where no clipping applies.
    #[test]
    fn dot_scores_match_predict_and_the_definition() {
        let mut m = tiny();
        m.rating_range = None;
        m.item_bias = vec![0.7, -0.4, 1.3];
        m.user_factors = vec![0.5, -1.5, 2.0, 0.25];
        let k = Kernels::detect();
        let (mut scores, mut par) = (Vec::new(), Vec::new());
        for u in 0..2u32 {
            m.score_items(k, u, &mut scores);
            m.score_items_parallel(k, u, &mut par);
            assert_eq!(scores.len(), 3);
            assert_eq!(scores, par);
            for (i, score) in scores.iter().enumerate() {
                let dot: f64 = (0..2)
                    .map(|d| {
                        m.user_factors[u as usize * 2 + d] as f64 * m.item_factors[i * 2 + d] as f64
                    })
                    .sum();
                let want = 3.0 + m.user_bias[u as usize] as f64 + m.item_bias[i] as f64 + dot;
                assert!((*score as f64 - want).abs() < 1e-5, "user {u} item {i}");
                assert!((m.predict(k, u, i as u32) as f64 - want).abs() < 1e-5);
            }
        }
        // score_items does not clip; predict does.
        let mut clipped = m.clone();
        clipped.rating_range = Some((1.0, 5.0));
        clipped.score_items(k, 1, &mut scores);
        // By hand: user 1 (2, 0.25) and item 1 (2, 0.1) give 3 - 0.5 - 0.4 + 4.025 = 6.125,
        // which predict clips to 5.
        assert!((scores[1] - 6.125).abs() < 1e-5);
        assert_eq!(clipped.predict(k, 1, 1), 5.0);
        // A known user with an unknown item: mean + user bias.
        assert!((m.predict_partial(k, Some(0), None) - 3.5).abs() < 1e-6);
        assert!((m.predict_partial(k, Some(1), Some(2)) - m.predict(k, 1, 2)).abs() < 1e-6);
        // Clipping at both ends.
        assert_eq!(clipped.clip(7.0), 5.0);
        assert_eq!(clipped.clip(-7.0), 1.0);
        assert_eq!(clipped.clip(2.5), 2.5);
        assert_eq!((m.n_users(), m.n_items()), (2, 3));
    }

    #[test]
    fn similar_items_are_cosine_without_self() {
        let m = tiny();
        let k = Kernels::detect();
        let norms = m.item_norms(k);
        let s = m.similar_items(k, &norms, 0, 5);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].index, 1);
        assert!((s[0].score - 2.0 / (4.01f32).sqrt()).abs() < 1e-6);
        assert_eq!(s[1].index, 2);
        assert!((s[1].score + 1.0).abs() < 1e-6);
    }
}
