//! Dense linear algebra, in one place: the symmetric eigensolver behind [`crate::analysis`] and
//! the sharpness tools, the linear solvers that Newton's method, the critical-point search and
//! least squares use, and the small matrix product behind Muon's Newton-Schulz iteration.
//!
//! Two solvers, because the callers need two different answers: [`cholesky`] both tests a
//! symmetric matrix for positive definiteness and factors it (Newton's damping loop raises the
//! shift until it succeeds; least squares' normal equations are positive definite), while
//! [`solve`] takes any nonsingular matrix with partial pivoting (the critical-point search's
//! Hessians are indefinite at saddles, where a Cholesky factorization does not exist).
//!
//! All matrices are row-major slices of `n * n` (or `rows * cols`) values; a slice shorter than
//! its stated shape panics.
//!
//! ```
//! use downhill::linalg::{cholesky, cholesky_solve, solve};
//!
//! // [[4, 2], [2, 3]] x = [2, 1] has the solution x = [0.5, 0].
//! let a = [4.0, 2.0, 2.0, 3.0];
//! let mut factor = a;
//! assert!(cholesky(&mut factor, 2));
//! let mut x = [2.0, 1.0];
//! cholesky_solve(&factor, 2, &mut x);
//! assert!((x[0] - 0.5).abs() < 1e-15 && x[1].abs() < 1e-15);
//! // The same system by elimination.
//! let y = solve(&a, &[2.0, 1.0], 2).unwrap();
//! assert!((y[0] - 0.5).abs() < 1e-15 && y[1].abs() < 1e-15);
//! ```

use crate::real::Real;

/// Eigenvalues (ascending) and unit eigenvectors (`vectors[k]` belongs to `values[k]`) of a
/// symmetric `n x n` row-major matrix, by the cyclic Jacobi method.
pub fn symmetric_eigen(matrix: &[f64], n: usize) -> (Vec<f64>, Vec<Vec<f64>>) {
    let mut a = matrix.to_vec();
    // Symmetrize against rounding in the input.
    for i in 0..n {
        for j in 0..i {
            let m = 0.5 * (a[i * n + j] + a[j * n + i]);
            a[i * n + j] = m;
            a[j * n + i] = m;
        }
    }
    let mut v = vec![0.0; n * n];
    for i in 0..n {
        v[i * n + i] = 1.0;
    }
    let scale = a.iter().map(|x| x * x).sum::<f64>().sqrt();
    for _sweep in 0..100 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i * n + j].powi(2))
            .sum();
        if off.sqrt() <= 1e-15 * scale || off == 0.0 {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = a[p * n + q];
                if apq == 0.0 {
                    continue;
                }
                let theta = (a[q * n + q] - a[p * n + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..n {
                    let akp = a[k * n + p];
                    let akq = a[k * n + q];
                    a[k * n + p] = c * akp - s * akq;
                    a[k * n + q] = s * akp + c * akq;
                }
                for k in 0..n {
                    let apk = a[p * n + k];
                    let aqk = a[q * n + k];
                    a[p * n + k] = c * apk - s * aqk;
                    a[q * n + k] = s * apk + c * aqk;
                }
                for k in 0..n {
                    let vkp = v[k * n + p];
                    let vkq = v[k * n + q];
                    v[k * n + p] = c * vkp - s * vkq;
                    v[k * n + q] = s * vkp + c * vkq;
                }
            }
        }
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&i, &j| a[i * n + i].total_cmp(&a[j * n + j]));
    let values = order.iter().map(|&i| a[i * n + i]).collect();
    let vectors = order
        .iter()
        .map(|&i| {
            let mut col: Vec<f64> = (0..n).map(|k| v[k * n + i]).collect();
            // A sign convention so output is stable: the largest component positive.
            let big = col.iter().copied().fold(0.0f64, |m, x| if x.abs() > m.abs() { x } else { m });
            if big < 0.0 {
                col.iter_mut().for_each(|x| *x = -*x);
            }
            col
        })
        .collect();
    (values, vectors)
}

/// Solves `a x = b` (n x n, row-major) by Gaussian elimination with partial pivoting; None if singular.
pub fn solve(a: &[f64], b: &[f64], n: usize) -> Option<Vec<f64>> {
    let mut m = a.to_vec();
    let mut x = b.to_vec();
    let scale = a.iter().fold(0.0f64, |s, v| s.max(v.abs()));
    for col in 0..n {
        let piv = (col..n).max_by(|&i, &j| m[i * n + col].abs().total_cmp(&m[j * n + col].abs()))?;
        if m[piv * n + col].abs() <= 1e-14 * scale.max(1e-300) {
            return None;
        }
        for k in 0..n {
            m.swap(col * n + k, piv * n + k);
        }
        x.swap(col, piv);
        for r in col + 1..n {
            let f = m[r * n + col] / m[col * n + col];
            for k in col..n {
                m[r * n + k] -= f * m[col * n + k];
            }
            x[r] -= f * x[col];
        }
    }
    for r in (0..n).rev() {
        let mut s = x[r];
        for k in r + 1..n {
            s -= m[r * n + k] * x[k];
        }
        x[r] = s / m[r * n + r];
    }
    Some(x)
}

/// In-place Cholesky factorization of the `n x n` row-major `a` (lower triangle); false if `a` is
/// not (numerically) positive definite.
pub fn cholesky(a: &mut [f64], n: usize) -> bool {
    for j in 0..n {
        let mut d = a[j * n + j];
        for k in 0..j {
            d -= a[j * n + k] * a[j * n + k];
        }
        if d <= 0.0 || !d.is_finite() {
            return false;
        }
        let d = d.sqrt();
        a[j * n + j] = d;
        for i in j + 1..n {
            let mut s = a[i * n + j];
            for k in 0..j {
                s -= a[i * n + k] * a[j * n + k];
            }
            a[i * n + j] = s / d;
        }
    }
    true
}

/// Solves `L L^T x = b` in place given the factor from [`cholesky`].
pub fn cholesky_solve(l: &[f64], n: usize, b: &mut [f64]) {
    for i in 0..n {
        let mut s = b[i];
        for k in 0..i {
            s -= l[i * n + k] * b[k];
        }
        b[i] = s / l[i * n + i];
    }
    for i in (0..n).rev() {
        let mut s = b[i];
        for k in i + 1..n {
            s -= l[k * n + i] * b[k];
        }
        b[i] = s / l[i * n + i];
    }
}

/// Products with more multiply-adds than this split the rows of the result across threads.
#[cfg(feature = "parallel")]
const PARALLEL_WORK: usize = 1 << 18;

/// `out = a * b` for a row-major `m x k` matrix `a` and a `k x n` matrix `b` (`out` is `m x n`).
///
/// Each entry is summed over `k` in order from zero, `out[i][j] = (((0 + a[i][0] b[0][j]) +
/// a[i][1] b[1][j]) + ...)`, the textbook loop; with the `parallel` feature large products split
/// whole rows of `out` across threads, so the result is bit-identical on any number of threads.
/// Safe code, no kernel: it serves Muon's Newton-Schulz iteration on one layer's matrices. The
/// training crate (`downhill-train`) has the packed SIMD kernel for models.
///
/// # Panics
/// When a slice's length is not its shape's product.
///
/// ```
/// use downhill::linalg::matmul;
///
/// let a = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]; // 2 x 3
/// let b = [1.0, 0.0, 0.0, 1.0, 1.0, 1.0]; // 3 x 2
/// let mut c = [0.0; 4];
/// matmul(&a, &b, 2, 3, 2, &mut c);
/// assert_eq!(c, [4.0, 5.0, 10.0, 11.0]);
/// ```
pub fn matmul<T: Real>(a: &[T], b: &[T], m: usize, k: usize, n: usize, out: &mut [T]) {
    assert_eq!(a.len(), m * k, "matmul: a is not {m} x {k}");
    assert_eq!(b.len(), k * n, "matmul: b is not {k} x {n}");
    assert_eq!(out.len(), m * n, "matmul: out is not {m} x {n}");
    if n == 0 {
        return;
    }
    let row = |(i, out): (usize, &mut [T])| {
        out.fill(T::ZERO);
        for (p, &aip) in a[i * k..(i + 1) * k].iter().enumerate() {
            for (o, &bpj) in out.iter_mut().zip(&b[p * n..(p + 1) * n]) {
                *o += aip * bpj;
            }
        }
    };
    #[cfg(feature = "parallel")]
    if m * k * n >= PARALLEL_WORK && m > 1 {
        use rayon::prelude::*;
        out.par_chunks_mut(n).enumerate().for_each(row);
        return;
    }
    out.chunks_mut(n).enumerate().for_each(row);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jacobi_on_known_matrices() {
        let (v, vecs) = symmetric_eigen(&[2.0, 1.0, 1.0, 2.0], 2);
        assert!((v[0] - 1.0).abs() < 1e-14 && (v[1] - 3.0).abs() < 1e-14);
        let s = 0.5f64.sqrt();
        assert!((vecs[1][0] - s).abs() < 1e-14 && (vecs[1][1] - s).abs() < 1e-14);
        // A 3x3 with eigenvalues 2 - sqrt 2, 2, 2 + sqrt 2.
        let (v, _) = symmetric_eigen(&[2.0, -1.0, 0.0, -1.0, 2.0, -1.0, 0.0, -1.0, 2.0], 3);
        let r = 2.0f64.sqrt();
        for (a, b) in v.iter().zip([2.0 - r, 2.0, 2.0 + r]) {
            assert!((a - b).abs() < 1e-13, "{v:?}");
        }
    }

    #[test]
    fn solve_with_pivoting() {
        let x = solve(&[0.0, 1.0, 1.0, 0.0], &[2.0, 3.0], 2).unwrap();
        assert_eq!(x, vec![3.0, 2.0]);
        assert!(solve(&[1.0, 2.0, 2.0, 4.0], &[1.0, 1.0], 2).is_none());
    }

    #[test]
    fn cholesky_solves_a_known_system() {
        // A = [[4, 2], [2, 3]], b = [2, 1] -> x = [0.5, 0].
        let mut a = vec![4.0, 2.0, 2.0, 3.0];
        assert!(cholesky(&mut a, 2));
        let mut b = vec![2.0, 1.0];
        cholesky_solve(&a, 2, &mut b);
        assert!((b[0] - 0.5).abs() < 1e-15 && b[1].abs() < 1e-15);
        let mut indefinite = vec![1.0, 0.0, 0.0, -1.0];
        assert!(!cholesky(&mut indefinite, 2));
    }

    /// The definition, written out: each entry a sum in order from zero.
    fn naive<T: Real>(a: &[T], b: &[T], m: usize, k: usize, n: usize) -> Vec<T> {
        let mut c = vec![T::ZERO; m * n];
        for i in 0..m {
            for j in 0..n {
                let mut s = T::ZERO;
                for p in 0..k {
                    s += a[i * k + p] * b[p * n + j];
                }
                c[i * n + j] = s;
            }
        }
        c
    }

    #[test]
    fn matmul_is_the_definition_bit_for_bit() {
        for &(m, k, n) in &[(1, 1, 1), (7, 5, 3), (3, 5, 7), (1, 9, 4), (4, 9, 1), (0, 3, 2), (2, 0, 3)] {
            let a: Vec<f64> = (0..m * k).map(|i| (i as f64 * 0.37).sin()).collect();
            let b: Vec<f64> = (0..k * n).map(|i| (i as f64 * 0.11).cos()).collect();
            let mut c = vec![f64::NAN; m * n];
            matmul(&a, &b, m, k, n, &mut c);
            assert_eq!(c, naive(&a, &b, m, k, n), "{m} x {k} x {n}");
            let a32: Vec<f32> = a.iter().map(|&x| x as f32).collect();
            let b32: Vec<f32> = b.iter().map(|&x| x as f32).collect();
            let mut c32 = vec![f32::NAN; m * n];
            matmul(&a32, &b32, m, k, n, &mut c32);
            assert_eq!(c32, naive(&a32, &b32, m, k, n), "f32 {m} x {k} x {n}");
        }
    }

    #[cfg(feature = "parallel")]
    #[test]
    fn threaded_products_are_bit_identical_to_one_thread() {
        let (m, k, n) = (96, 80, 70); // above the threshold for threads
        assert!(m * k * n >= PARALLEL_WORK);
        let a: Vec<f32> = (0..m * k).map(|i| ((i * 7919 % 1000) as f32 - 500.0) / 300.0).collect();
        let b: Vec<f32> = (0..k * n).map(|i| ((i * 104729 % 997) as f32 - 498.0) / 250.0).collect();
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            pool.install(|| {
                let mut c = vec![0.0f32; m * n];
                matmul(&a, &b, m, k, n, &mut c);
                c
            })
        };
        let one = run(1);
        assert_eq!(one, naive(&a, &b, m, k, n));
        assert_eq!(one, run(3));
    }
}
