//! One side's tower: where its id embedding, id bias and feature embeddings sit in the
//! embedding store, how they make the tower's input, and the layers over that input (which the
//! [`Head`] lays out).

use std::ops::{Index, IndexMut};

use super::nn::{Block, Layout, Mlp, SparseGrads};
use super::params::NeuralParams;
use super::trainer::Head;
use super::Loss;
use crate::error::{CoreError, Result};
use crate::features::{FeatureKind, SideFeatures};

/// The two sides of an interaction, each with its own tower.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    User,
    Item,
}

impl Side {
    pub const BOTH: [Side; 2] = [Side::User, Side::Item];

    /// The side's name in tensor names ("user.id_embedding") and messages.
    pub fn name(self) -> &'static str {
        match self {
            Side::User => "user",
            Side::Item => "item",
        }
    }

    /// The side's coordinate in random streams.
    pub(super) fn index(self) -> u64 {
        match self {
            Side::User => 0,
            Side::Item => 1,
        }
    }
}

/// One value per side.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BySide<T> {
    pub user: T,
    pub item: T,
}

impl<T> BySide<T> {
    /// The user's value first, then the item's.
    pub fn from_fn(mut f: impl FnMut(Side) -> T) -> Self {
        let user = f(Side::User);
        let item = f(Side::Item);
        Self { user, item }
    }
}

/// (side, value), the user first.
impl<T> IntoIterator for BySide<T> {
    type Item = (Side, T);
    type IntoIter = std::array::IntoIter<(Side, T), 2>;

    fn into_iter(self) -> Self::IntoIter {
        [(Side::User, self.user), (Side::Item, self.item)].into_iter()
    }
}

impl<T> Index<Side> for BySide<T> {
    type Output = T;

    fn index(&self, side: Side) -> &T {
        match side {
            Side::User => &self.user,
            Side::Item => &self.item,
        }
    }
}

impl<T> IndexMut<Side> for BySide<T> {
    fn index_mut(&mut self, side: Side) -> &mut T {
        match side {
            Side::User => &mut self.user,
            Side::Item => &mut self.item,
        }
    }
}

/// One tower's parameters: where its embeddings sit in the embedding store and its MLP.
#[derive(Debug, Clone)]
pub(super) struct Tower {
    pub(super) id: Option<Block>,
    /// Per-id bias (mse and bce), a `n x 1` block of the embedding store.
    pub(super) bias: Option<Block>,
    /// One table per feature column; None for numeric columns.
    pub(super) feats: Vec<Option<Block>>,
    pub(super) mlp: Mlp,
    pub(super) in_dim: usize,
}

impl Tower {
    /// The tower input into `x` of the entity with id row `id` (None: a zero id embedding, as
    /// id dropout and entities without a trained id have) and feature row `e`.
    pub(super) fn input(
        &self,
        emb: &[f32],
        f: &SideFeatures,
        id: Option<usize>,
        e: usize,
        x: &mut [f32],
    ) {
        let mut o = 0;
        if let Some(b) = self.id {
            let d = b.cols;
            match id {
                None => x[..d].fill(0.0),
                Some(id) => x[..d].copy_from_slice(&emb[b.row_offset(id)..b.row_offset(id) + d]),
            }
            o = d;
        }
        for (c, table) in self.feats.iter().enumerate() {
            match table {
                Some(b) => {
                    let d = b.cols;
                    let ids = f.ids(c, e);
                    let s = 1.0 / ids.len() as f32;
                    let out = &mut x[o..o + d];
                    out.fill(0.0);
                    for &id in ids {
                        let row = &emb[b.row_offset(id as usize)..b.row_offset(id as usize) + d];
                        for (a, v) in out.iter_mut().zip(row) {
                            *a += v * s;
                        }
                    }
                    o += d;
                }
                None => {
                    x[o] = f.number(c, e);
                    o += 1;
                }
            }
        }
    }

    /// Sends the gradient of entity `e`'s input back to the embedding rows it came from, plus
    /// the gradient of the L2 penalty `reg * |row|^2` (weighted like the row's input share).
    /// Returns that penalty.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn scatter(
        &self,
        emb: &[f32],
        f: &SideFeatures,
        e: usize,
        hide_id: bool,
        dx: &[f32],
        reg: f32,
        g: &mut SparseGrads,
    ) -> f64 {
        let mut penalty = 0.0f64;
        let mut push = |off: usize, d: &[f32], s: f32, g: &mut SparseGrads| {
            let row = &emb[off..off + d.len()];
            let grad: Vec<f32> = d
                .iter()
                .zip(row)
                .map(|(dv, w)| dv * s + 2.0 * reg * s * w)
                .collect();
            penalty += (reg * s) as f64 * row.iter().map(|w| (w * w) as f64).sum::<f64>();
            g.push(off, &grad, 1.0);
        };
        let mut o = 0;
        if let Some(b) = self.id {
            if !hide_id {
                push(b.row_offset(e), &dx[..b.cols], 1.0, g);
            }
            o = b.cols;
        }
        for (c, table) in self.feats.iter().enumerate() {
            match table {
                Some(b) => {
                    let ids = f.ids(c, e);
                    let s = 1.0 / ids.len() as f32;
                    for &id in ids {
                        push(b.row_offset(id as usize), &dx[o..o + b.cols], s, g);
                    }
                    o += b.cols;
                }
                None => o += 1,
            }
        }
        penalty
    }

    /// Inputs of `entities` as one row-major matrix; `hidden[j]` hides entity j's id.
    pub(super) fn inputs(
        &self,
        emb: &[f32],
        f: &SideFeatures,
        entities: &[u32],
        hidden: &[bool],
    ) -> Vec<f32> {
        let mut x = vec![0.0f32; entities.len() * self.in_dim];
        for (j, (row, &e)) in x.chunks_exact_mut(self.in_dim).zip(entities).enumerate() {
            let hide = hidden.get(j).copied().unwrap_or(false);
            self.input(emb, f, (!hide).then_some(e as usize), e as usize, row);
        }
        x
    }
}

impl Tower {
    /// Lays out the tower of `side` for its `n` entities and features `f`: the id embedding
    /// (`head.id_dim()` wide, none at 0), the id bias (except for softmax), one embedding table
    /// per categorical feature column, and the layers the head puts over them.
    pub(super) fn build(
        dense: &mut Layout,
        emb: &mut Layout,
        side: Side,
        n: usize,
        f: &SideFeatures,
        net: &NeuralParams,
        head: &impl Head,
    ) -> Result<Tower> {
        let name = side.name();
        let id_dim = head.id_dim();
        let feature_dim = net.feature_dim as usize;
        let id = (id_dim > 0).then(|| emb.add(format!("{name}.id_embedding"), n, id_dim));
        let bias = (net.loss != Loss::Softmax).then(|| emb.add(format!("{name}.id_bias"), n, 1));
        let mut in_dim = id_dim;
        let mut feats = Vec::with_capacity(f.specs.len());
        for spec in &f.specs {
            match spec.kind {
                FeatureKind::Numeric => {
                    feats.push(None);
                    in_dim += 1;
                }
                _ => {
                    feats.push(Some(emb.add(
                        format!("{name}.feature.{}", spec.name),
                        spec.table_rows(),
                        feature_dim,
                    )));
                    in_dim += feature_dim;
                }
            }
        }
        if in_dim == 0 {
            return Err(CoreError::param_hint(
                "id_dim",
                format!(
                    "the {name} tower has no input: id_dim is 0 and there are no {name} features"
                ),
                format!("Give {name}_features, or an id_dim greater than 0."),
            ));
        }
        let layers = head.tower_layers(dense, side, in_dim, !f.specs.is_empty());
        Ok(Tower {
            id,
            bias,
            feats,
            mlp: Mlp {
                layers,
                dropout: net.dropout as f32,
            },
            in_dim,
        })
    }

    /// Width of the tower's output.
    pub(super) fn out_dim(&self) -> usize {
        self.mlp.n_out(self.in_dim)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An entity's input is its id embedding, then each feature column in order: a numeric
    /// column's value, a categorical or multi-valued column's mean embedding row.
    #[test]
    fn the_input_lays_the_id_and_every_column_side_by_side() {
        use crate::features::FeatureColumn;
        // store: 2 ids x 2, then a table of 3 values x 2
        let emb = [1.0, 2.0, 3.0, 4.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0];
        let table = Block {
            offset: 4,
            rows: 3,
            cols: 2,
        };
        let tower = Tower {
            id: Some(Block {
                offset: 0,
                rows: 2,
                cols: 2,
            }),
            bias: None,
            feats: vec![None, Some(table), None, Some(table)],
            mlp: Mlp {
                layers: Vec::new(),
                dropout: 0.0,
            },
            in_dim: 8,
        };
        let f = SideFeatures {
            specs: Vec::new(),
            columns: vec![
                FeatureColumn::Numeric(vec![0.5, -1.5]),
                FeatureColumn::Multi {
                    offsets: vec![0, 1, 3],
                    ids: vec![0, 1, 2],
                },
                FeatureColumn::Numeric(vec![7.0, 8.0]),
                FeatureColumn::Categorical(vec![2, 0]),
            ],
            n: 2,
        };
        let x = tower.inputs(&emb, &f, &[1, 0], &[false, true]);
        assert_eq!(
            x,
            [
                [3.0, 4.0, -1.5, 40.0, 50.0, 8.0, 10.0, 20.0],
                // entity 0 with its id hidden: a zero id embedding
                [0.0, 0.0, 0.5, 10.0, 20.0, 7.0, 50.0, 60.0],
            ]
            .concat()
        );
        // The gradient of that input goes back to the rows it came from, each with its share
        // (1 / values of the column) and the penalty's gradient 2 * reg * share * row.
        let mut g = SparseGrads::default();
        let dx = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0];
        let penalty = tower.scatter(&emb, &f, 1, false, &dx, 0.5, &mut g);
        assert_eq!(g.rows, [(2, 2), (6, 2), (8, 2), (4, 2)]);
        assert_eq!(g.values, [4.0, 6.0, 17.0, 22.5, 27.0, 32.5, 17.0, 28.0]);
        assert_eq!(penalty, 12.5 + 625.0 + 1525.0 + 250.0);
        // a hidden id gets no gradient
        let mut g = SparseGrads::default();
        tower.scatter(&emb, &f, 0, true, &dx, 0.0, &mut g);
        assert_eq!(g.rows, [(4, 2), (8, 2)]);
        assert_eq!(g.values, [4.0, 5.0, 7.0, 8.0]);
    }

    #[test]
    fn sides_name_their_tensors_and_index_their_values() {
        assert_eq!(Side::BOTH.map(Side::name), ["user", "item"]);
        let mut v = BySide::from_fn(|s| s.index());
        assert_eq!((v[Side::User], v[Side::Item]), (0, 1));
        v[Side::Item] = 7;
        assert_eq!(
            v.into_iter().collect::<Vec<_>>(),
            [(Side::User, 0), (Side::Item, 7)]
        );
    }
}
