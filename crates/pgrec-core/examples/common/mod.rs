//! MovieLens-100K read from the recbole files (its ratings, and the features of the SQL demo),
//! shared by the examples.

#![allow(dead_code)] // each example reads a different part

use pgrec_core::data::KeyIndex;
use pgrec_core::features::{FeatureBuilder, FeatureKind, RawValue, SideFeatures};

pub fn read(path: &str) -> Vec<Vec<String>> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .lines()
        .skip(1)
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect()
}

/// The (user, rating, item) rows of a recbole .inter file (user, item, rating, time), in file
/// order.
pub fn ratings(path: &str) -> Vec<(i64, i64, f32)> {
    read(path)
        .iter()
        .map(|f| {
            (
                f[0].parse().unwrap(),
                f[1].parse().unwrap(),
                f[2].parse().unwrap(),
            )
        })
        .collect()
}

pub fn text(s: &str) -> RawValue {
    if s.is_empty() {
        RawValue::Null
    } else {
        RawValue::Text(s.to_string())
    }
}

pub struct Ml100k {
    /// (user index, item index, rating) in file order.
    pub ratings: Vec<(u32, u32, f32)>,
    pub users: KeyIndex<i64>,
    pub items: KeyIndex<i64>,
    pub user_features: SideFeatures,
    pub item_features: SideFeatures,
    pub genres_of: Vec<Vec<String>>,
}

/// Users (age, gender, occupation) and items (genres, release_year) as categorical features,
/// as the SQL types make them; every user and item of the feature files gets an index.
pub fn load(dir: &str, min_count: usize) -> Ml100k {
    let inter = read(&format!("{dir}/ml-100k.inter"));
    let user_rows = read(&format!("{dir}/ml-100k.user"));
    let item_rows = read(&format!("{dir}/ml-100k.item"));
    let rows: Vec<(i64, i64, f32)> = inter
        .iter()
        .map(|f| {
            (
                f[0].parse().unwrap(),
                f[1].parse().unwrap(),
                f[2].parse().unwrap(),
            )
        })
        .collect();
    // Every user and item of the feature files gets an index (cold ones included).
    let mut users = KeyIndex::new();
    let mut items = KeyIndex::new();
    let mut ub = FeatureBuilder::new(vec![
        ("age".into(), FeatureKind::Categorical),
        ("gender".into(), FeatureKind::Categorical),
        ("occupation".into(), FeatureKind::Categorical),
    ]);
    for f in &user_rows {
        let u = users.intern(f[0].parse::<i64>().unwrap()).unwrap();
        ub.set(u, vec![text(&f[1]), text(&f[2]), text(&f[3])])
            .unwrap();
    }
    let mut ib = FeatureBuilder::new(vec![
        ("genres".into(), FeatureKind::Multi),
        ("release_year".into(), FeatureKind::Categorical),
    ]);
    let mut genres_of = Vec::new();
    for f in &item_rows {
        let i = items.intern(f[0].parse::<i64>().unwrap()).unwrap();
        let g: Vec<Option<String>> = f
            .get(3)
            .map(|s| {
                s.split(' ')
                    .filter(|x| !x.is_empty())
                    .map(|x| Some(x.to_string()))
                    .collect()
            })
            .unwrap_or_default();
        genres_of.push(g.iter().flatten().cloned().collect::<Vec<String>>());
        ib.set(i, vec![RawValue::List(g), text(&f[2])]).unwrap();
    }
    let uf = ub.build(users.len(), min_count).unwrap();
    let itf = ib.build(items.len(), min_count).unwrap();
    let ratings = rows
        .iter()
        .map(|r| (users.get(&r.0).unwrap(), items.get(&r.1).unwrap(), r.2))
        .collect();
    Ml100k {
        ratings,
        users,
        items,
        user_features: uf,
        item_features: itf,
        genres_of,
    }
}
