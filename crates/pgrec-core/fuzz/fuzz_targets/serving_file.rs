//! Any bytes given to `store::parse` are refused or give a view that serving reads in bounds
//! (issue 28, item 3). Seed the corpus with real files (see ../README.md): libFuzzer then mutates
//! them, where random bytes would almost never get past the magic.

#![no_main]

use libfuzzer_sys::fuzz_target;
use pgrec_core::data::ItemLists;
use pgrec_core::kernels::Kernels;
use pgrec_core::model::ModelView;
use pgrec_core::quant::ScanRows;
use pgrec_core::similarity::{embedding_neighbours_scan, ItemInteractions, Shrinkage};
use pgrec_core::store::{self, AlignedBytes, KeysRef, Mapped};
use pgrec_core::topk::Skip;
use pgrec_core::{ivf, serving};

/// At most this many users and items are served from (the inputs stay fast).
const SAMPLE: u32 = 32;

fn serve(m: &Mapped<'_>) {
    let kern = Kernels::detect();
    let view = ModelView {
        factors: m.factors,
        global_mean: m.global_mean,
        rating_range: m.rating_range,
        user_bias: m.user_bias,
        item_bias: m.item_bias,
        user_factors: m.user_factors,
        item_factors: m.item_factors,
        head: None,
    };
    let (nu, ni) = (m.n_users() as u32, m.n_items() as u32);
    assert_eq!(m.user_keys.len(), nu as usize);
    assert_eq!(m.item_keys.len(), ni as usize);
    assert_eq!(ItemLists::n_users(m), nu as usize);
    let sh = Shrinkage {
        support: m.item_support,
        shrinkage: 25.0,
    };
    for u in 0..nu.min(SAMPLE) {
        let seen = m.seen_of(u);
        for rows in [ScanRows::F32, m.scan_rows()] {
            serving::recommend_scan(&view, kern, u, 5, seen, false, rows);
        }
        if let Some(x) = m.ivf {
            ivf::recommend_ivf(&view, kern, x, u, 5, seen, x.n_lists());
        }
        for i in 0..ni.min(SAMPLE) {
            view.predict(kern, u, i);
        }
    }
    let co = ItemInteractions::new(m, ni as usize);
    for i in 0..ni.min(SAMPLE) {
        for rows in [ScanRows::F32, m.scan_rows()] {
            embedding_neighbours_scan(&view, kern, m.item_norms, Some(sh), i, 5, Skip::NONE, false, rows);
        }
        if let Some(x) = m.ivf {
            for shrink in [None, Some(sh)] {
                ivf::similar_ivf(&view, kern, x, m.item_norms, shrink, i, 5, Skip::NONE, x.n_lists());
            }
        }
        co.similar(m, i, 5, 0.0, Skip::NONE);
    }
    for keys in [&m.user_keys, &m.item_keys] {
        for idx in 0..(keys.len() as u32).min(SAMPLE) {
            let found = match keys {
                KeysRef::Int { .. } => keys.find_int(keys.int_key(idx).unwrap()),
                KeysRef::Text { .. } => keys.find_text(keys.text_key(idx).unwrap()),
            };
            assert!(found.is_some());
        }
    }
    if let Some(x) = m.ivf {
        for l in 0..x.n_lists() {
            let _ = &x.items[x.offsets[l] as usize..x.offsets[l + 1] as usize];
        }
    }
}

fuzz_target!(|data: &[u8]| {
    // serving verifies the checksum, then parses; parse alone must be safe on any bytes (it is
    // fuzzed whatever the checksum says, which random mutations almost never match)
    let _ = pgrec_core::checksum::verify(data);
    let buf = AlignedBytes::new(data);
    if let Ok(m) = store::parse(buf.bytes()) {
        serve(&m);
    }
});
