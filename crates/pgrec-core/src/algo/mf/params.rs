//! The parameters of `mf`, their checks, and the defaults that depend on the data.

use serde::{Deserialize, Serialize};

use crate::algo::params::{float_in, int_in, Knob, LoopParams, Params};
use crate::data::Rating;
use crate::error::Result;

/// The parameters of `mf` (see [`crate::algo::params`]: the fields are the JSON keys, `Default`
/// holds the defaults).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MfParams {
    pub factors: i64,
    pub learning_rate: f64,
    /// L2 penalty on the factor vectors.
    pub regularization: f64,
    /// L2 penalty on the biases.
    pub bias_regularization: f64,
    /// How the factor penalty scales with a user's or item's number of ratings n: each update
    /// applies regularization * (mean n / n)^exponent. 0 is the classic per-rating penalty; 1
    /// penalises every vector by the same total per epoch, like weight decay.
    pub regularization_exponent: f64,
    pub optimizer: Optimizer,
    /// Multiplier applied to the learning rate after every epoch.
    pub learning_rate_decay: f64,
    /// Standard deviation of the initial factors.
    pub init_std: f64,
    /// Decoupled weight decay: after every epoch all factor vectors are multiplied by
    /// 1 - weight_decay * (that epoch's learning rate / learning_rate). 0 disables it.
    pub weight_decay: f64,
    /// SVD++-style implicit feedback: the user vector is p_u + |N(u)|^-1/2 * sum of y_j over the
    /// items u rated. The y_j are updated once per epoch from per-user gradient sums; the stored
    /// user factors are always the folded vector, so serving is unchanged.
    pub implicit: bool,
    /// The same for items, mirrored: item vectors become q_i + |N(i)|^-1/2 * sum of x_u over the
    /// users who rated i, with the same knobs.
    pub implicit_items: bool,
    /// Step of the per-epoch x update of `implicit_items`, as a multiple of the learning rate.
    pub implicit_items_learning_rate: f64,
    /// Step of the per-epoch y update, as a multiple of the epoch's learning rate.
    pub implicit_learning_rate: f64,
    /// The implicit sum of a user is scaled by |N(u)|^-exponent: 0.5 as in SVD++, 1 averages
    /// (bounded for very active users).
    pub implicit_size_exponent: f64,
    /// The same for the item side: an item's sum over its raters is divided by |N(i)|^exponent.
    pub implicit_items_size_exponent: f64,
    /// AdaGrad-normalised y updates (robust to dense data); otherwise plain summed gradients.
    pub implicit_adaptive: bool,
    /// L2 penalty on the y vectors (per epoch update).
    pub implicit_regularization: f64,
    /// The summed gradient of y_j is divided by |N(j)|^exponent (N(j): users who rated j).
    pub implicit_norm_exponent: f64,
    /// Share (0..1) of the factor penalty's pull on the implicit part s_u that is undone after
    /// every epoch: 1 penalises p_u only (as in SVD++), 0 penalises the folded vector p_u + s_u.
    pub implicit_decouple: f64,
    /// Users and items are dealt into this many groups; the grid has blocks x blocks cells.
    /// Fixed so that the model does not depend on the thread count.
    pub blocks: i64,
    #[serde(flatten)]
    pub run: LoopParams,
}

/// How the SGD steps of `mf` are sized.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Optimizer {
    /// Plain steps.
    Sgd,
    /// Per-vector adaptive steps, as in LIBMF.
    Adagrad,
}

impl Default for MfParams {
    /// Chosen on MovieLens-100K and checked for stability on a 20M synthetic set (see
    /// BENCHMARKS.md): biased MF with an SVD++-style implicit user term folded into the stored
    /// user vectors. The item-side mirror (`implicit_items`) is more accurate on MovieLens but
    /// diverged at 20M ratings, so it is off here; a training through the registry then sets
    /// the defaults that depend on its data ([`MfParams::adapt_to`]): the penalty, and both
    /// implicit terms on for small data, off for large.
    fn default() -> Self {
        Self {
            factors: 128,
            learning_rate: 0.02,
            regularization: 0.065,
            bias_regularization: 0.08,
            regularization_exponent: 0.0,
            optimizer: Optimizer::Sgd,
            learning_rate_decay: 0.96,
            init_std: 0.01,
            weight_decay: 0.05,
            implicit: true,
            implicit_items: false,
            implicit_items_learning_rate: 1.0,
            implicit_learning_rate: 10.0,
            implicit_size_exponent: 1.0,
            implicit_items_size_exponent: 0.5,
            implicit_adaptive: true,
            implicit_regularization: 0.0,
            implicit_norm_exponent: 0.0,
            implicit_decouple: 0.5,
            blocks: 16,
            run: LoopParams {
                epochs: 60,
                seed: 42,
                threads: None,
                validation_fraction: 0.0,
                patience: 3,
            },
        }
    }
}

/// Ratings up to which the factor penalty keeps its fixed default; above, it shrinks as
/// 1 / sqrt(ratings) (see [`MfParams::adapt_to`]).
pub const REGULARIZATION_FULL_RATINGS: usize = 2_000_000;
/// The smallest data-dependent factor penalty.
pub const REGULARIZATION_FLOOR: f64 = 0.005;
/// The implicit terms are on by default for data with at most this many ratings and at least
/// IMPLICIT_MIN_MEAN ratings per user and per item on average; off otherwise.
pub const IMPLICIT_MAX_RATINGS: usize = 1_000_000;
pub const IMPLICIT_MIN_MEAN: usize = 20;

/// What the data-dependent defaults of `mf` look at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataShape {
    pub ratings: usize,
    /// Users and items with at least one rating.
    pub users: usize,
    pub items: usize,
}

impl DataShape {
    pub fn of(ratings: &[Rating], n_users: usize, n_items: usize) -> Self {
        let (mut users, mut items) = (vec![false; n_users], vec![false; n_items]);
        for r in ratings {
            users[r.user as usize] = true;
            items[r.item as usize] = true;
        }
        DataShape {
            ratings: ratings.len(),
            users: users.iter().filter(|&&x| x).count(),
            items: items.iter().filter(|&&x| x).count(),
        }
    }
}

impl MfParams {
    /// Sets the defaults that depend on the data, leaving alone every key for which `given`
    /// is true, and returns the values it set (key -> value).
    ///
    /// - `regularization`: a per-rating penalty adds up over an entity's ratings, so one that
    ///   suits small data erases every factor of a large set: 0.065 (tuned on MovieLens-100K,
    ///   near the best on a noisy 1M-rating synthetic set) left a bias-only model on the 20M
    ///   synthetic set (test RMSE 0.5641 with 8 or 64 factors), where 0.02 reached 0.5393.
    ///   Above REGULARIZATION_FULL_RATINGS ratings the default shrinks as 1 / sqrt(ratings)
    ///   (0.0208 at 19.6M), down to REGULARIZATION_FLOOR. A penalty scaled by the rating
    ///   spread and sqrt((users + items) / ratings), as in matrix completion, was tried first:
    ///   right on MovieLens and the 20M set, it halved the penalty on the noisy 1M set and
    ///   lost accuracy there (0.8645 against 0.8427).
    /// - `implicit` and `implicit_items`: the implicit terms cost about twice the epoch time
    ///   and pay on small data with enough ratings per user and item only. MovieLens-100K (85
    ///   per user, 48 per item): random-split RMSE 0.8974 -> 0.8845 with the item term; a
    ///   synthetic 100k set with 13 per user: 0.9265 without either, 0.9465 with the user
    ///   term, 0.9673 with both; a 1M set: the same with or without the item term; the 20M
    ///   set: 0.5393 without the user term, 0.5395 with it (the item term diverged there).
    pub fn adapt_to(
        &mut self,
        shape: &DataShape,
        given: impl Fn(&str) -> bool,
    ) -> serde_json::Map<String, serde_json::Value> {
        let mut set = serde_json::Map::new();
        let n = shape.ratings;
        if !given("regularization") && n > REGULARIZATION_FULL_RATINGS {
            let scale = (REGULARIZATION_FULL_RATINGS as f64 / n as f64).sqrt();
            let reg = (self.regularization * scale).max(REGULARIZATION_FLOOR);
            // Three significant digits: what the version records is what was used.
            let reg = format!("{reg:.2e}").parse::<f64>().unwrap_or(reg);
            self.regularization = reg;
            set.insert("regularization".into(), reg.into());
        }
        let pays = n <= IMPLICIT_MAX_RATINGS
            && n >= IMPLICIT_MIN_MEAN * shape.users
            && n >= IMPLICIT_MIN_MEAN * shape.items;
        if !given("implicit") && self.implicit != pays {
            self.implicit = pays;
            set.insert("implicit".into(), pays.into());
        }
        if !given("implicit_items") && self.implicit_items != pays {
            self.implicit_items = pays;
            set.insert("implicit_items".into(), pays.into());
        }
        set
    }
}

impl Params for MfParams {
    /// What `"tune": true` searches.
    const KNOBS: &'static [Knob] = &[
        Knob::Choice("factors", &[32, 64, 128, 256]),
        Knob::Log("regularization", 0.01, 0.2),
        Knob::Log("learning_rate", 0.005, 0.04),
    ];

    const CHOICES: &'static [(&'static str, &'static str)] =
        &[("optimizer", "Use \"sgd\" or \"adagrad\".")];

    fn check(&mut self) -> Result<()> {
        self.run.check()?;
        int_in("factors", self.factors, 1, 1024)?;
        float_in("learning_rate", self.learning_rate, 0.0, 10.0, true)?;
        float_in("regularization", self.regularization, 0.0, 100.0, false)?;
        float_in(
            "bias_regularization",
            self.bias_regularization,
            0.0,
            100.0,
            false,
        )?;
        float_in(
            "regularization_exponent",
            self.regularization_exponent,
            0.0,
            2.0,
            false,
        )?;
        float_in(
            "learning_rate_decay",
            self.learning_rate_decay,
            0.0,
            1.0,
            true,
        )?;
        float_in("init_std", self.init_std, 0.0, 10.0, false)?;
        float_in("weight_decay", self.weight_decay, 0.0, 0.5, false)?;
        for (name, v, hi) in [
            (
                "implicit_items_learning_rate",
                self.implicit_items_learning_rate,
                1000.0,
            ),
            (
                "implicit_learning_rate",
                self.implicit_learning_rate,
                1000.0,
            ),
            ("implicit_size_exponent", self.implicit_size_exponent, 2.0),
            (
                "implicit_items_size_exponent",
                self.implicit_items_size_exponent,
                2.0,
            ),
            (
                "implicit_regularization",
                self.implicit_regularization,
                1000.0,
            ),
            ("implicit_norm_exponent", self.implicit_norm_exponent, 2.0),
            ("implicit_decouple", self.implicit_decouple, 1.0),
        ] {
            float_in(name, v, 0.0, hi, false)?;
        }
        int_in("blocks", self.blocks, 1, 256)?;
        Ok(())
    }

    fn run(&self) -> &LoopParams {
        &self.run
    }
}
