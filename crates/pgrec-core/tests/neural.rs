//! two_tower and ncf on a synthetic task with a known answer: an item's category alone decides
//! its ratings, so a cold item (features, no ratings) must land next to the items of its
//! category and get the right predictions.

use pgrec_core::algo::contract::{Configured, TrainingData};
use pgrec_core::algo::neural::{NcfParams, NetworkParams, TwoTowerParams};
use pgrec_core::algo::params::Checked;
use pgrec_core::data::Rating;
use pgrec_core::features::{FeatureBuilder, FeatureKind, RawValue, SideFeatures};
use pgrec_core::kernels::Kernels;
use pgrec_core::parallel::{build_pool, CancelFlag};
use pgrec_core::rng::unit_hash;

const USERS: u32 = 80;
const ITEMS: u32 = 60;
/// Items from here on have no ratings.
const FIRST_COLD: u32 = 56;
const CATEGORIES: u32 = 4;

fn category(item: u32) -> u32 {
    (item * 7 + 3) % CATEGORIES
}

#[test]
fn two_tower_item_features_place_cold_items_among_their_category() {
    let params = Checked::<TwoTowerParams>::from_json(&serde_json::json!({
        "epochs": 40, "factors": 8, "batch_size": 64, "learning_rate": 0.01, "dropout": 0.1
    }))
    .unwrap();
    cold_items_follow_their_category(&params);
}

#[test]
fn ncf_item_features_place_cold_items_among_their_category() {
    let params = Checked::<NcfParams>::from_json(&serde_json::json!({
        "epochs": 40, "factors": 8, "layers": [16, 8], "batch_size": 64, "learning_rate": 0.01,
        "dropout": 0.1
    }))
    .unwrap();
    cold_items_follow_their_category(&params);
}

fn cold_items_follow_their_category<P: NetworkParams + Clone + Send + 'static>(params: &Checked<P>)
where
    P::Head: 'static,
{
    let mut ratings = Vec::new();
    for u in 0..USERS {
        for i in 0..FIRST_COLD {
            if unit_hash(9, u as u64, i as u64) < 0.5 {
                let liked = category(i) == u % CATEGORIES;
                ratings.push(Rating {
                    user: u,
                    item: i,
                    value: if liked { 5.0 } else { 1.0 },
                });
            }
        }
    }
    let mut items = FeatureBuilder::new(vec![("category".into(), FeatureKind::Categorical)]);
    for i in 0..ITEMS {
        items
            .set(i, vec![RawValue::Text(format!("c{}", category(i)))])
            .unwrap();
    }
    let items = items.build(ITEMS as usize, 1).unwrap();
    let users = SideFeatures::none(USERS as usize);
    let pool = build_pool(2).unwrap();
    let data = TrainingData {
        ratings,
        n_users: USERS as usize,
        n_items: ITEMS as usize,
        explicit: true,
        weighted: None,
        users,
        items,
    };
    let mut t = Box::new(params.clone()).start(data, &pool).unwrap();
    let cancel = CancelFlag::new();
    for _ in 0..t.max_steps() {
        t.step(&pool, &cancel).unwrap();
    }
    let m = pool.install(|| t.finish(&pool)).model;
    let kern = Kernels::detect();
    let norms = m.item_norms(kern);
    let mut wrong = Vec::new();
    for cold in FIRST_COLD..ITEMS {
        let near = m.similar_items(kern, &norms, cold, 5);
        assert_eq!(near.len(), 5);
        for s in &near {
            assert_eq!(
                category(s.index),
                category(cold),
                "cold item {cold} (category {}) has neighbour {} of category {}",
                category(cold),
                s.index,
                category(s.index)
            );
        }
        for u in 0..USERS {
            let p = m.predict(kern, u, cold);
            let liked = category(cold) == u % CATEGORIES;
            if (liked && p <= 4.0) || (!liked && p >= 2.0) {
                wrong.push(format!("user {u}, cold item {cold}, liked {liked}: {p}"));
            }
        }
    }
    // Ratings are 5 for the liked category and 1 otherwise: nearly every prediction for a
    // cold item lands near the right one (all of them for most seeds; one of 320 was
    // off for ncf at the default seed when written).
    let total = (USERS * (ITEMS - FIRST_COLD)) as usize;
    assert!(
        wrong.len() * 100 <= total,
        "{} of {total} wrong: {wrong:?}",
        wrong.len()
    );
}
