//! ials and bpr on data with a known answer (the checkerboard of implicit's tests): users and
//! items come in two groups, each user interacted with every item of its group but one, and that
//! item must be ranked first among the user's unseen items. Also: the same model for one and for
//! three threads.

use pgrec_core::algo::{self, TrainingData};
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
    let entry = algo::find(name).unwrap();
    let configured = (entry.configure.unwrap())(&params).unwrap();
    let pool = build_pool(threads).unwrap();
    let data = TrainingData {
        ratings: checkerboard(),
        n_users: N as usize,
        n_items: N as usize,
        explicit: false,
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
