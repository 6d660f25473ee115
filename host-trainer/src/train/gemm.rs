//! Matrix products on `matrixmultiply`, split over the rayon pool by output rows or columns.
//!
//! Each output element is computed by the same kernel with the same k-order however the output
//! is split, so results do not depend on the thread count.

/// A strided read-only matrix view: element (i, j) is `data[i * rs + j * cs]`.
#[derive(Clone, Copy)]
pub struct Mat<'a> {
    pub data: &'a [f32],
    pub rs: usize,
    pub cs: usize,
}

impl<'a> Mat<'a> {
    /// Row-major with `cols` columns.
    pub fn rows(data: &'a [f32], cols: usize) -> Self {
        Mat {
            data,
            rs: cols,
            cs: 1,
        }
    }
    /// The transpose of a row-major matrix with `cols` columns.
    pub fn trans(data: &'a [f32], cols: usize) -> Self {
        Mat {
            data,
            rs: 1,
            cs: cols,
        }
    }
    fn check(&self, r: usize, c: usize, what: &str) {
        if r > 0 && c > 0 {
            let last = (r - 1) * self.rs + (c - 1) * self.cs;
            assert!(last < self.data.len(), "gemm: {what} view out of bounds");
        }
    }
}

/// Below this many multiply-adds a product is not worth splitting.
const SPLIT_WORK: usize = 1 << 16;

struct SendPtr(*mut f32);
// SAFETY: the pointer is only used to write disjoint blocks of one output, one per task.
unsafe impl Send for SendPtr {}
unsafe impl Sync for SendPtr {}

/// `c[m, n] (row stride ldc) = a[m, k] @ b[k, n] + beta * c`, parallel when `par`.
#[allow(clippy::too_many_arguments)]
pub fn gemm(
    m: usize,
    n: usize,
    k: usize,
    a: Mat,
    b: Mat,
    beta: f32,
    c: &mut [f32],
    ldc: usize,
    par: bool,
) {
    if m == 0 || n == 0 {
        return;
    }
    a.check(m, k, "a");
    b.check(k, n, "b");
    assert!(
        (m - 1) * ldc + n <= c.len() && n <= ldc,
        "gemm: c out of bounds"
    );
    let threads = if par { rayon::current_num_threads() } else { 1 };
    let cp = SendPtr(c.as_mut_ptr());
    let run = |i0: usize, i1: usize, j0: usize, j1: usize| {
        let cptr = &cp;
        // SAFETY: bounds checked above for the whole product; (i0..i1, j0..j1) blocks given to
        // concurrent calls are disjoint.
        unsafe {
            matrixmultiply::sgemm(
                i1 - i0,
                k,
                j1 - j0,
                1.0,
                a.data.as_ptr().add(i0 * a.rs),
                a.rs as isize,
                a.cs as isize,
                b.data.as_ptr().add(j0 * b.cs),
                b.rs as isize,
                b.cs as isize,
                beta,
                cptr.0.add(i0 * ldc + j0),
                ldc as isize,
                1,
            );
        }
    };
    if threads <= 1 || m * n * k < SPLIT_WORK {
        run(0, m, 0, n);
        return;
    }
    // Split the longer side into one block per thread, rounded to the kernel's 8/16 tiles.
    let split_rows = m >= n;
    let len = if split_rows { m } else { n };
    let chunk = len.div_ceil(threads).div_ceil(16) * 16;
    rayon::scope(|s| {
        let mut start = 0;
        while start < len {
            let end = (start + chunk).min(len);
            let run = &run;
            s.spawn(move |_| {
                if split_rows {
                    run(start, end, 0, n)
                } else {
                    run(0, m, start, end)
                }
            });
            start = end;
        }
    });
}

/// `out[m, n] = inp[m, k] @ w[n, k]^T + bias`: a linear layer in PyTorch's weight layout.
pub fn linear(out: &mut [f32], inp: &[f32], w: &[f32], bias: &[f32], m: usize, n: usize, k: usize) {
    assert_eq!(bias.len(), n);
    for row in out[..m * n].chunks_exact_mut(n) {
        row.copy_from_slice(bias);
    }
    gemm(
        m,
        n,
        k,
        Mat::rows(inp, k),
        Mat::trans(w, k),
        1.0,
        out,
        n,
        true,
    );
}

/// Backward of [`linear`]: `dinp (+)= dout @ w`, `dw += dout^T @ inp`, `db += sum_rows dout`.
#[allow(clippy::too_many_arguments)]
pub fn linear_backward(
    dinp: &mut [f32],
    accumulate: bool,
    dw: &mut [f32],
    db: &mut [f32],
    dout: &[f32],
    inp: &[f32],
    w: &[f32],
    m: usize,
    n: usize,
    k: usize,
) {
    // matrixmultiply never reads c when beta is 0, so stale values cannot leak in.
    let beta = if accumulate { 1.0 } else { 0.0 };
    gemm(
        m,
        k,
        n,
        Mat::rows(dout, n),
        Mat::rows(w, k),
        beta,
        dinp,
        k,
        true,
    );
    gemm(
        n,
        k,
        m,
        Mat::trans(dout, n),
        Mat::rows(inp, k),
        1.0,
        dw,
        k,
        true,
    );
    for row in dout[..m * n].chunks_exact(n) {
        for (b, g) in db.iter_mut().zip(row) {
            *b += g;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: &[f32], b: &[f32], m: usize, n: usize, k: usize) -> Vec<f32> {
        let mut c = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                c[i * n + j] = (0..k).map(|p| a[i * k + p] * b[p * n + j]).sum();
            }
        }
        c
    }

    #[test]
    fn split_products_match_naive() {
        let mut r = super::super::rng::Rng::new(3);
        for (m, n, k) in [(70, 300, 33), (300, 70, 33), (5, 3, 2), (129, 129, 64)] {
            let a: Vec<f32> = (0..m * k).map(|_| r.normal()).collect();
            let b: Vec<f32> = (0..k * n).map(|_| r.normal()).collect();
            let mut c = vec![0.0; m * n];
            gemm(
                m,
                n,
                k,
                Mat::rows(&a, k),
                Mat::rows(&b, n),
                0.0,
                &mut c,
                n,
                true,
            );
            let want = naive(&a, &b, m, n, k);
            for (x, y) in c.iter().zip(&want) {
                assert!((x - y).abs() < 1e-4, "{m}x{n}x{k}: {x} vs {y}");
            }
        }
    }
}
