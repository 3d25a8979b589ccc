//! ials and bpr on data with a known answer (the checkerboard of implicit's tests): users and
//! items come in two groups, each user interacted with every item of its group but one, and that
//! item must be ranked first among the user's unseen items. Also: the same model for one and for
//! three threads.

use pgrec_core::algo::contract::TrainingData;
use pgrec_core::algo::registry;
use pgrec_core::data::Rating;
use pgrec_core::features::SideFeatures;
use pgrec_core::kernels::Kernels;
use pgrec_core::parallel::{build_pool, CancelFlag};
use pgrec_core::topk::top_k;
use pgrec_core::FactorModel;

const N: u32 = 40;

fn missing(u: u32) -> u32 {
    (u * 7 % (N / 2)) * 2 + u % 2
}

fn checkerboard() -> Vec<Rating> {
    let mut r = Vec::new();
    for u in 0..N {
        for i in 0..N {
            if u % 2 == i % 2 && i != missing(u) {
                r.push(Rating {
                    user: u,
                    item: i,
                    value: 1.0,
                });
            }
        }
    }
    r
}

fn train(name: &str, params: serde_json::Value, threads: usize) -> FactorModel {
    train_on(checkerboard(), name, params, threads)
}

fn train_on(
    ratings: Vec<Rating>,
    name: &str,
    params: serde_json::Value,
    threads: usize,
) -> FactorModel {
    let entry = registry::find(name).unwrap();
    let configured = (entry.configure.unwrap())(&params).unwrap();
    let pool = build_pool(threads).unwrap();
    let data = TrainingData {
        ratings,
        n_users: N as usize,
        n_items: N as usize,
        explicit: false,
        weighted: None,
        users: SideFeatures::none(0),
        items: SideFeatures::none(0),
    };
    let mut t = configured.start(data, &pool).unwrap();
    let cancel = CancelFlag::new();
    for _ in 0..t.max_steps() {
        if t.step(&pool, &cancel).unwrap().stop {
            break;
        }
    }
    t.finish(&pool).model
}

fn missing_item_ranks_first(m: &FactorModel) {
    let kern = Kernels::detect();
    let seen = checkerboard();
    let mut scores = Vec::new();
    for u in 0..N {
        let mine: Vec<u32> = seen
            .iter()
            .filter(|r| r.user == u)
            .map(|r| r.item)
            .collect();
        m.score_items(kern, u, &mut scores);
        let top = top_k(&scores, 1, &mine);
        assert_eq!(top[0].index, missing(u), "user {u}");
    }
}

#[test]
fn ials_ranks_the_missing_item_first() {
    let p = serde_json::json!({"factors": 8, "epochs": 10, "regularization": 0.1});
    let m = train("ials", p.clone(), 1);
    missing_item_ranks_first(&m);
    let m3 = train("ials", p, 3);
    assert_eq!(m.user_factors, m3.user_factors);
    assert_eq!(m.item_factors, m3.item_factors);
}

#[test]
fn ials_exact_solver_agrees() {
    let p = serde_json::json!({"factors": 8, "epochs": 10, "regularization": 0.1, "solver": "cholesky"});
    missing_item_ranks_first(&train("ials", p, 2));
}

#[test]
fn bpr_ranks_the_missing_item_first() {
    let p = serde_json::json!({"factors": 8, "epochs": 60, "blocks": 4});
    let m = train("bpr", p.clone(), 1);
    missing_item_ranks_first(&m);
    let m3 = train("bpr", p, 3);
    assert_eq!(m.user_factors, m3.user_factors);
    assert_eq!(m.item_factors, m3.item_factors);
    assert_eq!(m.item_bias, m3.item_bias);
}

/// A row below positive_threshold says the user saw the item without liking it. With
/// "below_threshold": "ignore" (the default) the pair leaves the loss, so its score follows the
/// structure of the data (here: the user's group, where every other item is a positive); with
/// "negative" it is trained towards 0 like an unobserved pair. Either way it stays seen.
#[test]
fn ials_rows_below_the_threshold_leave_the_loss_unless_negative() {
    // Positives rated 5; for each user one item of its own group rated 1 instead.
    let disliked = |u: u32| (missing(u) + 2) % N;
    let ratings = checkerboard_with(&disliked);
    let mean_score = |m: &FactorModel, pick: &dyn Fn(u32) -> u32| {
        (0..N)
            .map(|u| {
                let (u, i) = (u as usize, pick(u) as usize);
                let x = &m.user_factors[u * m.factors..(u + 1) * m.factors];
                let y = &m.item_factors[i * m.factors..(i + 1) * m.factors];
                x.iter().zip(y).map(|(a, b)| a * b).sum::<f32>()
            })
            .sum::<f32>()
            / N as f32
    };
    let params = |below: &str| {
        serde_json::json!({"factors": 8, "epochs": 10, "regularization": 0.1,
                           "positive_threshold": 4, "below_threshold": below})
    };
    let ratings_again = ratings.clone();
    let ignored = train_on(ratings.clone(), "ials", params("ignore"), 2);
    let negative = train_on(ratings, "ials", params("negative"), 2);
    let (with_ignore, with_negative) = (
        mean_score(&ignored, &disliked),
        mean_score(&negative, &disliked),
    );
    // Ignored: scored like the user's other group items (the missing one among them).
    let missing_ignored = mean_score(&ignored, &missing);
    assert!(
        with_ignore > 0.5 * missing_ignored && with_ignore > with_negative + 0.1,
        "ignore {with_ignore}, negative {with_negative}, missing item {missing_ignored}"
    );
    // Default is ignore.
    let default = train_on(
        ratings_again,
        "ials",
        serde_json::json!({"factors": 8, "epochs": 10, "regularization": 0.1, "positive_threshold": 4}),
        2,
    );
    assert_eq!(default.user_factors, ignored.user_factors);
}

fn checkerboard_with(disliked: &dyn Fn(u32) -> u32) -> Vec<Rating> {
    checkerboard()
        .into_iter()
        .map(|r| Rating {
            value: if r.item == disliked(r.user) { 1.0 } else { 5.0 },
            ..r
        })
        .collect()
}

/// Row weights in bpr (a positive is drawn in proportion to its weight) and ials (confidence
/// 1 + alpha x weight): every user has items 0 and 1 among its positives, and whichever of the
/// two carries the larger weight ends up scored above the other for most users; swapping the
/// weights swaps the order.
#[test]
fn the_heavier_weighted_of_two_shared_items_scores_higher() {
    let mut ratings = Vec::new();
    for u in 0..N {
        for i in [0, 1, 2 + u % (N - 2), 2 + (u * 7 + 3) % (N - 2)] {
            if !ratings.iter().any(|r: &Rating| r.user == u && r.item == i) {
                ratings.push(Rating {
                    user: u,
                    item: i,
                    value: 1.0,
                });
            }
        }
    }
    ratings.sort_unstable_by_key(|r| (r.user, r.item));
    let kern = Kernels::detect();
    for (name, params) in [
        (
            "bpr",
            serde_json::json!({"factors": 4, "epochs": 30, "seed": 3}),
        ),
        (
            "ials",
            serde_json::json!({"factors": 4, "epochs": 10, "seed": 3}),
        ),
    ] {
        let mut wins = Vec::new();
        for heavy in [0u32, 1] {
            let weighted: Vec<f32> = ratings
                .iter()
                .map(|r| match r.item {
                    i if i == heavy => 8.0,
                    0 | 1 => 0.25,
                    _ => 1.0,
                })
                .collect();
            let entry = registry::find(name).unwrap();
            let configured = (entry.configure.unwrap())(&params).unwrap();
            let pool = build_pool(2).unwrap();
            let data = TrainingData {
                ratings: ratings.clone(),
                n_users: N as usize,
                n_items: N as usize,
                explicit: false,
                weighted: Some(weighted),
                users: SideFeatures::none(0),
                items: SideFeatures::none(0),
            };
            let mut t = configured.start(data, &pool).unwrap();
            let cancel = CancelFlag::new();
            for _ in 0..t.max_steps() {
                if t.step(&pool, &cancel).unwrap().stop {
                    break;
                }
            }
            let m = t.finish(&pool).model;
            let mut scores = Vec::new();
            let mut heavy_first = 0;
            for u in 0..N {
                m.score_items(kern, u, &mut scores);
                let other = 1 - heavy;
                if scores[heavy as usize] > scores[other as usize] {
                    heavy_first += 1;
                }
            }
            wins.push(heavy_first);
        }
        assert!(
            wins.iter().all(|&w| w >= N * 3 / 4),
            "{name}: the heavier item scored higher for {wins:?} of {N} users"
        );
    }
}
