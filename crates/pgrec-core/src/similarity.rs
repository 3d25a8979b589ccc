//! Item-item similarity for `similar_items`, two ways:
//! - `embedding`: the cosine of the items' vectors, shrunk by the neighbour's support (its
//!   number of training interactions n_j): cos(i, j) * n_j / (n_j + shrinkage). An item seen a
//!   few times has a vector that is mostly its initialisation and the penalty's pull, so its
//!   cosine with anything is noise; shrinking by evidence keeps such items from crowding out
//!   neighbours the data supports (measured in BENCHMARKS.md, "Similar items").
//! - `cooccurrence`: the cosine of the items' binary who-interacted-with-what columns,
//!   |U_i & U_j| / sqrt(|U_i| |U_j|), from the interactions stored with the version; no model
//!   vectors involved, the same for every algorithm.
//!
//! Both stay in [-1, 1] (co-occurrence in [0, 1]).

use crate::data::{ItemLists, UserItems};
use crate::kernels::Kernels;
use crate::model::{FactorModel, ModelView};
use crate::quant::{scan_top_k_i4, scan_top_k_i8, I4Rows, ScanRows};
use crate::topk::{Scored, Skip, TopK};

/// Shrinkage of `embedding` similarities when the caller gives none.
pub const DEFAULT_SHRINKAGE: f32 = 25.0;

/// The training interactions of a version seen from the items: who interacted with each item.
#[derive(Debug, Clone, Default)]
pub struct ItemInteractions {
    users_of_item: UserItems,
}

impl ItemInteractions {
    /// The transpose of the users' seen lists.
    pub fn new(seen: &dyn ItemLists, n_items: usize) -> Self {
        let mut lists = vec![Vec::new(); n_items];
        for u in 0..seen.n_users() as u32 {
            for &i in seen.of(u) {
                if let Some(l) = lists.get_mut(i as usize) {
                    l.push(u);
                }
            }
        }
        Self {
            users_of_item: UserItems::from_lists(lists),
        }
    }

    /// The k items whose users overlap most with `item`'s, by cosine of the binary columns;
    /// items that share no user are not neighbours.
    pub fn similar(
        &self,
        seen: &dyn ItemLists,
        item: u32,
        k: usize,
        shrinkage: f32,
        exclude: Skip<'_>,
    ) -> Vec<Scored> {
        let n_items = self.users_of_item.n_users();
        let users = self.users_of_item.of(item);
        if users.is_empty() {
            return Vec::new();
        }
        let mut counts = vec![0u32; n_items];
        for &u in users {
            for &j in seen.of(u) {
                counts[j as usize] += 1;
            }
        }
        let ni = users.len() as f32;
        let mut top = TopK::new(k);
        for (j, &c) in counts.iter().enumerate() {
            if c == 0 || j as u32 == item || exclude.contains(j as u32) {
                continue;
            }
            let nj = self.users_of_item.of(j as u32).len() as f32;
            top.push(j as u32, shrink(c as f32 / (ni * nj).sqrt(), nj, shrinkage));
        }
        top.into_sorted()
    }
}

/// The number of training interactions of every item (its support).
pub fn item_support(seen: &dyn ItemLists, n_items: usize) -> Vec<f32> {
    let mut n = vec![0f32; n_items];
    for u in 0..seen.n_users() as u32 {
        for &i in seen.of(u) {
            if let Some(c) = n.get_mut(i as usize) {
                *c += 1.0;
            }
        }
    }
    n
}

/// The cosine of two vectors from their dot product and norms, clamped to [-1, 1]; NaN (never
/// kept by a top-k) when the neighbour's vector has no direction. The exact scan and the IVF
/// scan score with it, so both give the same value for the same dot product.
#[inline(always)]
pub fn cosine_of(dot: f32, norm_query: f32, norm_neighbour: f32) -> f32 {
    let c = (dot / (norm_query * norm_neighbour)).clamp(-1.0, 1.0);
    if norm_neighbour == 0.0 {
        f32::NAN
    } else {
        c
    }
}

/// `similarity` shrunk by the support `n` of the neighbour.
#[inline(always)]
pub fn shrink(similarity: f32, n: f32, shrinkage: f32) -> f32 {
    if shrinkage <= 0.0 {
        similarity
    } else {
        similarity * n / (n + shrinkage)
    }
}

/// How embedding cosines are shrunk: by each item's support (from [`item_support`]).
#[derive(Debug, Clone, Copy)]
pub struct Shrinkage<'a> {
    pub support: &'a [f32],
    pub shrinkage: f32,
}

/// The k items most similar to `item` by cosine of their vectors (shrunk when `shrinkage` is
/// given), the item itself excluded. `norms` comes from [`ModelView::item_norms`]. Items with a
/// zero vector have no defined cosine and are skipped.
pub fn embedding_neighbours(
    view: &ModelView<'_>,
    kern: Kernels,
    norms: &[f32],
    shrinkage: Option<Shrinkage<'_>>,
    item: u32,
    k: usize,
) -> Vec<Scored> {
    embedding_neighbours_scan(
        view,
        kern,
        norms,
        shrinkage,
        item,
        k,
        Skip::NONE,
        false,
        ScanRows::F32,
    )
}

/// [`embedding_neighbours`] skipping `exclude` too, with the catalog's units spread over the
/// current rayon pool when `parallel` (see [`crate::topk::scan_top_k`]; the same answer either
/// way), and the dot products read from `rows` (see [`crate::serving::recommend_scan`]).
#[allow(clippy::too_many_arguments)]
pub fn embedding_neighbours_scan(
    view: &ModelView<'_>,
    kern: Kernels,
    norms: &[f32],
    shrinkage: Option<Shrinkage<'_>>,
    item: u32,
    k: usize,
    exclude: Skip<'_>,
    parallel: bool,
    rows: ScanRows<'_>,
) -> Vec<Scored> {
    let nq = norms[item as usize];
    if nq == 0.0 {
        return Vec::new();
    }
    let q = view.item(item);
    let f = view.factors;
    let itself = [item];
    let exclude = exclude.and(&itself);
    let finish = neighbour_finish(norms, nq, shrinkage);
    match rows {
        ScanRows::I8(codes) if f > 0 && codes.scales.len() == view.n_items() => {
            let items = view.item_factors;
            scan_top_k_i8(kern, q, items, codes, k, exclude, parallel, finish)
        }
        ScanRows::I4 { rows, shortlist } if f > 0 && rows.scales.len() == view.n_items() => {
            let items = view.item_factors;
            // approximate cosines from the unit vectors' scales
            let unit = I4Rows {
                scales: rows.unit_scales,
                ..rows
            };
            let approx = approx_neighbour_finish(nq, shrinkage);
            scan_top_k_i4(
                kern, q, items, unit, approx, k, shortlist, exclude, parallel, finish,
            )
        }
        _ => crate::topk::scan_top_k(view.n_items(), k, exclude, parallel, |lo, out| {
            let (a, b) = (lo * f, (lo + out.len()) * f);
            match rows {
                ScanRows::F16(h) => kern.dots_f16(q, &h[a..b], out),
                _ => kern.dots(q, &view.item_factors[a..b], out),
            }
            finish(lo, out);
        }),
    }
}

/// What a neighbours scan over 4-bit codes makes of a query's approximate dot products with the
/// items' unit vectors ([`I4Rows::unit_scales`]): approximate cosines (no clamp, no division per
/// item), shrunk by support when asked.
pub(crate) fn approx_neighbour_finish<'a>(
    nq: f32,
    shrinkage: Option<Shrinkage<'a>>,
) -> impl Fn(usize, &mut [f32]) + Sync + 'a {
    let inv = 1.0 / nq;
    move |lo: usize, out: &mut [f32]| {
        for s in out.iter_mut() {
            *s *= inv;
        }
        if let Some(sh) = shrinkage {
            for (s, &n) in out.iter_mut().zip(&sh.support[lo..]) {
                *s = shrink(*s, n, sh.shrinkage);
            }
        }
    }
}

/// What a neighbours scan makes of a query's dot products (its norm `nq`) with items
/// lo..lo + out.len(): their cosines, shrunk by support when asked.
pub(crate) fn neighbour_finish<'a>(
    norms: &'a [f32],
    nq: f32,
    shrinkage: Option<Shrinkage<'a>>,
) -> impl Fn(usize, &mut [f32]) + Sync + 'a {
    // Written as straight loops over slices (no branch per item) so that they vectorise.
    move |lo: usize, out: &mut [f32]| {
        let norms = &norms[lo..lo + out.len()];
        for (s, &nj) in out.iter_mut().zip(norms) {
            *s = cosine_of(*s, nq, nj);
        }
        if let Some(sh) = shrinkage {
            for (s, &n) in out.iter_mut().zip(&sh.support[lo..]) {
                *s = shrink(*s, n, sh.shrinkage);
            }
        }
    }
}

impl ModelView<'_> {
    /// The k items most similar to `item` by cosine of their factors, the item itself excluded
    /// (see this module for the shrunk cosine serving uses by default).
    pub fn similar_items(&self, kern: Kernels, norms: &[f32], item: u32, k: usize) -> Vec<Scored> {
        embedding_neighbours(self, kern, norms, None, item, k)
    }
}

impl FactorModel {
    pub fn similar_items(&self, kern: Kernels, norms: &[f32], item: u32, k: usize) -> Vec<Scored> {
        self.view().similar_items(kern, norms, item, k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::FactorModel;

    fn seen() -> UserItems {
        // Items 0 and 1 share users 0-2; item 2 shares one user with item 0; item 3 is alone.
        UserItems::from_lists(vec![
            vec![0, 1],
            vec![0, 1],
            vec![0, 1, 2],
            vec![2],
            vec![3],
        ])
    }

    #[test]
    fn cooccurrence_is_the_cosine_of_binary_columns() {
        let s = seen();
        let c = ItemInteractions::new(&s, 4);
        let n = c.similar(&s, 0, 10, 0.0, Skip::NONE);
        assert_eq!(n.iter().map(|x| x.index).collect::<Vec<_>>(), [1, 2]);
        assert!((n[0].score - 1.0).abs() < 1e-6);
        assert!((n[1].score - 1.0 / (3.0f32 * 2.0).sqrt()).abs() < 1e-6);
        assert!(c.similar(&s, 3, 10, 0.0, Skip::NONE).is_empty());
        // shrinkage multiplies by n_j / (n_j + s)
        let shrunk = c.similar(&s, 0, 10, 3.0, Skip::NONE);
        assert!((shrunk[0].score - 0.5).abs() < 1e-6);
    }

    #[test]
    fn support_shrinks_rare_neighbours_below_supported_ones() {
        // Item 1 is a near copy of item 0 seen once; item 2 is a bit further but seen 100 times.
        let m = FactorModel {
            factors: 2,
            global_mean: 0.0,
            rating_range: None,
            user_bias: vec![],
            item_bias: vec![0.0; 3],
            user_factors: vec![],
            item_factors: vec![1.0, 0.0, 1.0, 0.01, 1.0, 0.3],
            head: None,
        };
        let kern = Kernels::detect();
        let norms = m.view().item_norms(kern);
        let support = [50.0, 1.0, 100.0];
        let plain = embedding_neighbours(&m.view(), kern, &norms, None, 0, 2);
        assert_eq!(plain[0].index, 1);
        let by_support = Shrinkage {
            support: &support,
            shrinkage: 25.0,
        };
        let shrunk = embedding_neighbours(&m.view(), kern, &norms, Some(by_support), 0, 2);
        assert_eq!(shrunk[0].index, 2);
        let want = (1.0 / (1.0f32 + 0.09).sqrt()) * 100.0 / 125.0;
        assert!((shrunk[0].score - want).abs() < 1e-5);
        assert_eq!(item_support(&seen(), 4), [3.0, 3.0, 2.0, 1.0]);
    }
}
