//! Compressed sparse rows of interactions: the (user, item, value) triples grouped by user, and
//! the same grouped by item. Alternating least squares sweeps one orientation and then the other,
//! so both are kept (8 bytes per interaction each).

use crate::data::Rating;

/// Rows of (column, value) pairs, columns ascending within a row.
#[derive(Debug, Clone, PartialEq)]
pub struct Csr {
    /// Row r holds entries `indptr[r]..indptr[r + 1]`.
    pub indptr: Vec<usize>,
    pub indices: Vec<u32>,
    pub values: Vec<f32>,
}

impl Csr {
    /// Groups `ratings` (sorted by (user, item)) by user.
    pub fn by_user(n_users: usize, ratings: &[Rating]) -> Self {
        let mut indptr = vec![0usize; n_users + 1];
        for r in ratings {
            indptr[r.user as usize + 1] += 1;
        }
        for u in 0..n_users {
            indptr[u + 1] += indptr[u];
        }
        debug_assert!(ratings
            .windows(2)
            .all(|w| (w[0].user, w[0].item) < (w[1].user, w[1].item)));
        Self {
            indptr,
            indices: ratings.iter().map(|r| r.item).collect(),
            values: ratings.iter().map(|r| r.value).collect(),
        }
    }

    /// The same entries grouped by column (`n_cols` rows in the result), columns of the result
    /// (this matrix's rows) ascending.
    pub fn transpose(&self, n_cols: usize) -> Self {
        let mut indptr = vec![0usize; n_cols + 1];
        for &c in &self.indices {
            indptr[c as usize + 1] += 1;
        }
        for c in 0..n_cols {
            indptr[c + 1] += indptr[c];
        }
        let mut next = indptr[..n_cols].to_vec();
        let mut indices = vec![0u32; self.indices.len()];
        let mut values = vec![0f32; self.values.len()];
        for r in 0..self.n_rows() {
            let (cols, vals) = self.row(r);
            for (&c, &v) in cols.iter().zip(vals) {
                let at = &mut next[c as usize];
                indices[*at] = r as u32;
                values[*at] = v;
                *at += 1;
            }
        }
        Self {
            indptr,
            indices,
            values,
        }
    }

    pub fn n_rows(&self) -> usize {
        self.indptr.len() - 1
    }

    pub fn nnz(&self) -> usize {
        self.indices.len()
    }

    #[inline]
    pub fn row(&self, r: usize) -> (&[u32], &[f32]) {
        let span = self.indptr[r]..self.indptr[r + 1];
        (&self.indices[span.clone()], &self.values[span])
    }

    /// The entries as (row, column, value) triples, sorted by (row, column): the inverse of
    /// [`Csr::by_user`].
    pub fn to_ratings(&self) -> Vec<Rating> {
        let mut out = Vec::with_capacity(self.nnz());
        for r in 0..self.n_rows() {
            let (cols, values) = self.row(r);
            out.extend(cols.iter().zip(values).map(|(&item, &value)| Rating {
                user: r as u32,
                item,
                value,
            }));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(user: u32, item: u32, value: f32) -> Rating {
        Rating { user, item, value }
    }

    #[test]
    fn rows_and_transpose_hold_the_same_entries() {
        let ratings = [r(0, 2, 1.0), r(0, 3, 2.0), r(2, 0, 3.0), r(2, 2, 4.0)];
        let m = Csr::by_user(4, &ratings);
        assert_eq!(m.indptr, [0, 2, 2, 4, 4]);
        assert_eq!(m.row(0), (&[2u32, 3][..], &[1.0f32, 2.0][..]));
        assert_eq!(m.row(1).0.len(), 0);
        let t = m.transpose(5);
        assert_eq!(t.n_rows(), 5);
        assert_eq!(t.row(0), (&[2u32][..], &[3.0f32][..]));
        assert_eq!(t.row(2), (&[0u32, 2][..], &[1.0f32, 4.0][..]));
        assert_eq!(t.row(3), (&[0u32][..], &[2.0f32][..]));
        assert_eq!(t.row(4).0.len(), 0);
        assert_eq!(t.transpose(4), m);
    }
}
