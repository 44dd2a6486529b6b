//! Matrix products for the models, on `matrixmultiply`'s packed, SIMD kernels.
//!
//! Large products are split across threads along the rows or the columns of the result, never
//! along the summed dimension, so every element is computed by the same sequence of operations
//! whatever the number of threads: training is bit-identical on 1 or 16 threads.

/// A type with a matrix-multiply kernel: `f32` and `f64` (every [`crate::Scalar`] is one).
pub trait Gemm: Copy + Send + Sync + 'static {
    /// `c <- a * b + beta * c` for an `m x k` matrix `a` and a `k x n` matrix `b`, each given by
    /// a pointer and (row stride, column stride).
    ///
    /// # Safety
    /// The strides must describe memory inside the allocations behind the pointers, and `c`
    /// must not overlap `a` or `b`.
    #[allow(clippy::too_many_arguments)]
    unsafe fn gemm_raw(
        m: usize,
        k: usize,
        n: usize,
        a: *const Self,
        a_strides: (isize, isize),
        b: *const Self,
        b_strides: (isize, isize),
        beta: Self,
        c: *mut Self,
        c_strides: (isize, isize),
    );
}

macro_rules! impl_gemm {
    ($t:ty, $kernel:path) => {
        impl Gemm for $t {
            unsafe fn gemm_raw(
                m: usize,
                k: usize,
                n: usize,
                a: *const $t,
                (rsa, csa): (isize, isize),
                b: *const $t,
                (rsb, csb): (isize, isize),
                beta: $t,
                c: *mut $t,
                (rsc, csc): (isize, isize),
            ) {
                // SAFETY: forwarded from the caller.
                unsafe { $kernel(m, k, n, 1.0, a, rsa, csa, b, rsb, csb, beta, c, rsc, csc) }
            }
        }
    };
}

impl_gemm!(f32, matrixmultiply::sgemm);
impl_gemm!(f64, matrixmultiply::dgemm);

/// A read-only matrix view: a slice with its shape and whether it is read transposed.
#[derive(Clone, Copy)]
pub struct View<'a, T> {
    data: &'a [T],
    rows: usize,
    cols: usize,
    /// Row and column strides of the logical (possibly transposed) matrix.
    strides: (isize, isize),
}

impl<'a, T> View<'a, T> {
    /// A row-major `rows x cols` matrix.
    pub fn new(data: &'a [T], rows: usize, cols: usize) -> Self {
        assert_eq!(data.len(), rows * cols, "matrix data does not match its shape");
        View { data, rows, cols, strides: (cols as isize, 1) }
    }

    /// The same memory read as the transpose.
    pub fn t(self) -> Self {
        View { data: self.data, rows: self.cols, cols: self.rows, strides: (self.strides.1, self.strides.0) }
    }
}

/// Products with more multiply-adds than this run on several threads.
#[cfg(feature = "parallel")]
const PARALLEL_WORK: usize = 1 << 18;

/// `c <- a * b + beta * c`, `c` row-major `a.rows x b.cols`.
pub fn gemm<T: Gemm>(a: View<'_, T>, b: View<'_, T>, beta: T, c: &mut [T]) {
    assert_eq!(a.cols, b.rows, "inner dimensions differ");
    let (m, k, n) = (a.rows, a.cols, b.cols);
    assert_eq!(c.len(), m * n, "output does not match the product's shape");
    if m == 0 || n == 0 {
        return;
    }
    #[cfg(feature = "parallel")]
    {
        let threads = threads_for(m * k * n);
        if threads > 1 {
            split(a, b, beta, c, m, k, n, threads);
            return;
        }
    }
    // SAFETY: the views were checked against their shapes; c is a distinct &mut.
    unsafe {
        T::gemm_raw(
            m,
            k,
            n,
            a.data.as_ptr(),
            a.strides,
            b.data.as_ptr(),
            b.strides,
            beta,
            c.as_mut_ptr(),
            (n as isize, 1),
        )
    };
}

#[cfg(feature = "parallel")]
fn threads_for(work: usize) -> usize {
    if work < PARALLEL_WORK {
        1
    } else {
        rayon::current_num_threads().min(work / (PARALLEL_WORK / 2)).max(1)
    }
}

/// Splits the result into `threads` blocks of rows (when it is taller than wide) or columns.
#[cfg(feature = "parallel")]
#[allow(clippy::too_many_arguments)]
fn split<T: Gemm>(
    a: View<'_, T>,
    b: View<'_, T>,
    beta: T,
    c: &mut [T],
    m: usize,
    k: usize,
    n: usize,
    threads: usize,
) {
    use rayon::prelude::*;
    struct Ptr<T>(*mut T);
    // SAFETY: each task writes a disjoint block of c.
    unsafe impl<T> Sync for Ptr<T> {}
    unsafe impl<T> Send for Ptr<T> {}
    let cp = Ptr(c.as_mut_ptr());
    let by_rows = m >= n;
    let len = if by_rows { m } else { n };
    // Blocks are multiples of 16 (a whole number of the kernels' tiles) so tile edges do not move.
    let block = len.div_ceil(threads).div_ceil(16) * 16;
    (0..len.div_ceil(block)).into_par_iter().for_each(|i| {
        let cp = &cp;
        let start = i * block;
        let size = block.min(len - start);
        // A block of rows of c reads the same rows of a; a block of columns, the same columns of b.
        let (rows, cols, a_off, b_off, c_off) = if by_rows {
            (size, n, start as isize * a.strides.0, 0, start * n)
        } else {
            (m, size, 0, start as isize * b.strides.1, start)
        };
        // SAFETY: start < len and the block stays inside each matrix; blocks are disjoint in c.
        unsafe {
            T::gemm_raw(
                rows,
                k,
                cols,
                a.data.as_ptr().offset(a_off),
                a.strides,
                b.data.as_ptr().offset(b_off),
                b.strides,
                beta,
                cp.0.add(c_off),
                (n as isize, 1),
            );
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: &[f64], b: &[f64], m: usize, k: usize, n: usize) -> Vec<f64> {
        let mut c = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                c[i * n + j] = (0..k).map(|l| a[i * k + l] * b[l * n + j]).sum();
            }
        }
        c
    }

    #[test]
    fn products_and_transposes_match_the_definition() {
        let (m, k, n) = (7, 5, 3);
        let a: Vec<f64> = (0..m * k).map(|i| (i as f64 * 0.37).sin()).collect();
        let b: Vec<f64> = (0..k * n).map(|i| (i as f64 * 0.11).cos()).collect();
        let want = naive(&a, &b, m, k, n);
        let mut c = vec![1.0; m * n];
        gemm(View::new(&a, m, k), View::new(&b, k, n), 0.0, &mut c);
        for (x, y) in c.iter().zip(&want) {
            assert!((x - y).abs() < 1e-12);
        }
        // (b^T a^T)^T = a b: compute b^T a^T (n x m) from transposed views.
        let mut ct = vec![0.0; n * m];
        gemm(View::new(&b, k, n).t(), View::new(&a, m, k).t(), 0.0, &mut ct);
        for i in 0..m {
            for j in 0..n {
                assert!((ct[j * m + i] - want[i * n + j]).abs() < 1e-12);
            }
        }
        // beta = 1 accumulates.
        gemm(View::new(&a, m, k), View::new(&b, k, n), 1.0, &mut c);
        for (x, y) in c.iter().zip(&want) {
            assert!((x - 2.0 * y).abs() < 1e-12);
        }
    }

    #[cfg(feature = "parallel")]
    #[test]
    fn threaded_products_are_bit_identical_to_one_thread() {
        for &(m, k, n) in &[(300, 200, 70), (40, 300, 500)] {
            let a: Vec<f32> = (0..m * k).map(|i| ((i * 7919 % 1000) as f32 - 500.0) / 300.0).collect();
            let b: Vec<f32> = (0..k * n).map(|i| ((i * 104729 % 997) as f32 - 498.0) / 250.0).collect();
            let run = |threads: usize| {
                let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
                pool.install(|| {
                    let mut c = vec![0.5f32; m * n];
                    gemm(View::new(&a, m, k), View::new(&b, k, n), 1.0, &mut c);
                    c
                })
            };
            let one = run(1);
            assert_eq!(one, run(2));
            assert_eq!(one, run(3));
        }
    }
}
