//! Principal components of a set of embeddings (the rows of one side of a model), for maps of
//! the item space and for diagnostics: the centred covariance (factors x factors, f64), its
//! eigendecomposition (faer, sequential), and each row's coordinates on the top components.
//! Signs are fixed (each component's largest loading is positive), so the same embeddings give
//! the same coordinates.

use faer::{Mat, Side};

use crate::error::{CoreError, Result};

/// Largest embedding dimension pca accepts: the covariance is factors^2 f64 values.
pub const MAX_FACTORS: usize = 4096;

/// The top principal components of a set of rows.
#[derive(Debug, Clone, PartialEq)]
pub struct Pca {
    pub factors: usize,
    /// Column means that were subtracted.
    pub mean: Vec<f64>,
    /// One unit vector of `factors` values per component, the largest variance first.
    pub components: Vec<Vec<f64>>,
    /// The share of the total variance along each component.
    pub explained: Vec<f64>,
}

impl Pca {
    /// Fits `count` components to the `rows.len() / factors` rows of `rows`.
    pub fn fit(rows: &[f32], factors: usize, count: usize) -> Result<Pca> {
        if factors == 0 || factors > MAX_FACTORS {
            return Err(CoreError::param_hint(
                "factors",
                format!("pca needs between 1 and {MAX_FACTORS} factors, the model has {factors}"),
                "Models with one value per item on each side (ease) are too wide for pca.",
            ));
        }
        if count == 0 || count > factors {
            return Err(CoreError::param(
                "components",
                format!(
                    "components must be between 1 and the model's {factors} factors, got {count}"
                ),
            ));
        }
        let n = rows.len() / factors;
        let mut mean = vec![0f64; factors];
        for row in rows.chunks_exact(factors) {
            for (m, &x) in mean.iter_mut().zip(row) {
                *m += x as f64;
            }
        }
        for m in &mut mean {
            *m /= n.max(1) as f64;
        }
        // Lower triangle of the centred second moment, row by row.
        let mut cov = vec![0f64; factors * factors];
        let mut centred = vec![0f64; factors];
        for row in rows.chunks_exact(factors) {
            for ((c, &x), m) in centred.iter_mut().zip(row).zip(&mean) {
                *c = x as f64 - m;
            }
            for a in 0..factors {
                let ca = centred[a];
                let line = &mut cov[a * factors..a * factors + a + 1];
                for (v, &cb) in line.iter_mut().zip(&centred[..=a]) {
                    *v += ca * cb;
                }
            }
        }
        let c = Mat::from_fn(factors, factors, |i, j| {
            let (a, b) = if i >= j { (i, j) } else { (j, i) };
            cov[a * factors + b]
        });
        let eig = c.self_adjoint_eigen(Side::Lower).map_err(|e| {
            CoreError::data(
                format!("the covariance's eigendecomposition failed: {e:?}"),
                None,
            )
        })?;
        let values = eig.S().column_vector();
        let vectors = eig.U();
        let total: f64 = (0..factors).map(|i| values[i].max(0.0)).sum();
        let mut components = Vec::with_capacity(count);
        let mut explained = Vec::with_capacity(count);
        // Eigenvalues come in nondecreasing order: the largest last.
        for r in 0..count {
            let col = factors - 1 - r;
            let mut v: Vec<f64> = (0..factors).map(|i| vectors[(i, col)]).collect();
            let largest = v
                .iter()
                .copied()
                .fold(0f64, |best, x| if x.abs() > best.abs() { x } else { best });
            if largest < 0.0 {
                for x in &mut v {
                    *x = -*x;
                }
            }
            components.push(v);
            explained.push(if total > 0.0 {
                values[col].max(0.0) / total
            } else {
                0.0
            });
        }
        Ok(Pca {
            factors,
            mean,
            components,
            explained,
        })
    }

    /// The coordinates of `row` on the components.
    pub fn project(&self, row: &[f32]) -> Vec<f32> {
        self.components
            .iter()
            .map(|c| {
                c.iter()
                    .zip(row)
                    .zip(&self.mean)
                    .map(|((w, &x), m)| w * (x as f64 - m))
                    .sum::<f64>() as f32
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_distr::{Distribution, Normal};

    /// Rows spread with standard deviations 5, 2 and 0.5 along three orthonormal directions of
    /// a 6-dimensional space, around a non-zero mean.
    fn planted(n: usize) -> (Vec<f32>, [[f64; 6]; 3]) {
        let s = 1.0 / 2f64.sqrt();
        let dirs = [
            [s, s, 0.0, 0.0, 0.0, 0.0],
            [0.0, 0.0, 1.0, 0.0, 0.0, 0.0],
            [s, -s, 0.0, 0.0, 0.0, 0.0],
        ];
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(11);
        let normal = Normal::new(0.0, 1.0).unwrap();
        let mut rows = Vec::with_capacity(n * 6);
        for _ in 0..n {
            let z: Vec<f64> = [5.0, 2.0, 0.5]
                .iter()
                .map(|sd| sd * normal.sample(&mut rng))
                .collect();
            for d in 0..6 {
                let x = 3.0
                    + z.iter()
                        .zip(&dirs)
                        .map(|(zc, dir)| zc * dir[d])
                        .sum::<f64>()
                    + 0.01 * rng.gen_range(-1.0..1.0);
                rows.push(x as f32);
            }
        }
        (rows, dirs)
    }

    #[test]
    fn finds_the_planted_directions_in_order() {
        let (rows, dirs) = planted(4000);
        let p = Pca::fit(&rows, 6, 3).unwrap();
        for (c, d) in p.components.iter().zip(&dirs) {
            let cos: f64 = c.iter().zip(d).map(|(a, b)| a * b).sum();
            assert!(
                cos.abs() > 0.999,
                "component {c:?} vs direction {d:?}: {cos}"
            );
        }
        // variance shares 25 : 4 : 0.25 of 29.25 (plus the tiny noise)
        assert!(
            (p.explained[0] - 25.0 / 29.25).abs() < 0.02,
            "{:?}",
            p.explained
        );
        assert!(
            (p.explained[1] - 4.0 / 29.25).abs() < 0.02,
            "{:?}",
            p.explained
        );
        assert!(p.explained[0] > p.explained[1] && p.explained[1] > p.explained[2]);
        // the mean is removed: coordinates average to zero
        let first: f64 = rows
            .chunks_exact(6)
            .map(|r| p.project(r)[0] as f64)
            .sum::<f64>()
            / 4000.0;
        assert!(first.abs() < 1e-3, "mean coordinate {first}");
    }

    #[test]
    fn coordinates_are_the_projection_and_signs_are_fixed() {
        let (rows, _) = planted(500);
        let p = Pca::fit(&rows, 6, 2).unwrap();
        for c in &p.components {
            let largest = c
                .iter()
                .copied()
                .fold(0f64, |b, x| if x.abs() > b.abs() { x } else { b });
            assert!(largest > 0.0);
        }
        let row = &rows[6..12];
        let want: f64 = p.components[1]
            .iter()
            .zip(row)
            .zip(&p.mean)
            .map(|((w, &x), m)| w * (x as f64 - m))
            .sum();
        assert!((p.project(row)[1] as f64 - want).abs() < 1e-5);
        // Negating every row negates the centred data; the fixed signs keep the components.
        let neg: Vec<f32> = rows.iter().map(|x| -x).collect();
        let q = Pca::fit(&neg, 6, 2).unwrap();
        for (a, b) in p.components.iter().zip(&q.components) {
            for (x, y) in a.iter().zip(b) {
                assert!((x - y).abs() < 1e-6);
            }
        }
    }

    #[test]
    fn refuses_bad_component_counts() {
        let rows = vec![1.0f32; 12];
        assert!(Pca::fit(&rows, 4, 0).is_err());
        assert!(Pca::fit(&rows, 4, 5).is_err());
        assert!(Pca::fit(&rows, 0, 1).is_err());
        assert!(Pca::fit(&rows, 4, 4).is_ok());
    }
}
