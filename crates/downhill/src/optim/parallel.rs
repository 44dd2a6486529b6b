//! Splitting element-wise optimizer steps across threads.
//!
//! Each element's arithmetic is the same whichever thread does it, so results are bit-identical
//! to the single-threaded loop. Small tensors stay on the calling thread: below [`PARALLEL_MIN`]
//! elements the cost of waking threads exceeds the work.

/// Elements below which a step runs on the calling thread.
#[cfg(feature = "parallel")]
pub const PARALLEL_MIN: usize = 1 << 17;
/// Elements per task: large enough to amortize scheduling, small enough to balance.
#[cfg(feature = "parallel")]
pub const CHUNK: usize = 1 << 15;

/// Runs `f` over matching chunks of four equally long slices, in parallel when they are large.
pub fn for_chunks4<A: Send, B: Sync, C: Send, D: Send>(
    a: &mut [A],
    b: &[B],
    c: &mut [C],
    d: &mut [D],
    f: impl Fn(&mut [A], &[B], &mut [C], &mut [D]) + Sync + Send,
) {
    #[cfg(feature = "parallel")]
    if a.len() >= PARALLEL_MIN && rayon::current_num_threads() > 1 {
        use rayon::prelude::*;
        a.par_chunks_mut(CHUNK)
            .zip(b.par_chunks(CHUNK))
            .zip(c.par_chunks_mut(CHUNK))
            .zip(d.par_chunks_mut(CHUNK))
            .for_each(|(((a, b), c), d)| f(a, b, c, d));
        return;
    }
    f(a, b, c, d)
}

/// Runs `f` over matching chunks of two slices, in parallel when they are large.
pub fn for_chunks2<A: Send, B: Sync>(a: &mut [A], b: &[B], f: impl Fn(&mut [A], &[B]) + Sync + Send) {
    #[cfg(feature = "parallel")]
    if a.len() >= PARALLEL_MIN && rayon::current_num_threads() > 1 {
        use rayon::prelude::*;
        a.par_chunks_mut(CHUNK).zip(b.par_chunks(CHUNK)).for_each(|(a, b)| f(a, b));
        return;
    }
    f(a, b)
}

/// Runs `f` over matching chunks of three slices, in parallel when they are large.
pub fn for_chunks3<A: Send, B: Sync, C: Send>(
    a: &mut [A],
    b: &[B],
    c: &mut [C],
    f: impl Fn(&mut [A], &[B], &mut [C]) + Sync + Send,
) {
    #[cfg(feature = "parallel")]
    if a.len() >= PARALLEL_MIN && rayon::current_num_threads() > 1 {
        use rayon::prelude::*;
        a.par_chunks_mut(CHUNK)
            .zip(b.par_chunks(CHUNK))
            .zip(c.par_chunks_mut(CHUNK))
            .for_each(|((a, b), c)| f(a, b, c));
        return;
    }
    f(a, b, c)
}

/// Runs `f` over matching chunks of six equally long slices (parameters, gradients and four state
/// buffers), in parallel when they are large.
#[allow(clippy::type_complexity)]
pub fn for_chunks6<A: Send, B: Sync, C: Send>(
    a: &mut [A],
    b: &[B],
    c: [&mut [C]; 4],
    f: impl Fn(&mut [A], &[B], [&mut [C]; 4]) + Sync + Send,
) {
    let [c0, c1, c2, c3] = c;
    #[cfg(feature = "parallel")]
    if a.len() >= PARALLEL_MIN && rayon::current_num_threads() > 1 {
        use rayon::prelude::*;
        a.par_chunks_mut(CHUNK)
            .zip(b.par_chunks(CHUNK))
            .zip(c0.par_chunks_mut(CHUNK))
            .zip(c1.par_chunks_mut(CHUNK))
            .zip(c2.par_chunks_mut(CHUNK))
            .zip(c3.par_chunks_mut(CHUNK))
            .for_each(|(((((a, b), c0), c1), c2), c3)| f(a, b, [c0, c1, c2, c3]));
        return;
    }
    f(a, b, [c0, c1, c2, c3])
}

/// Elements per partial sum in [`sum_chunks2`] and [`sum_chunks4`]: the partial sums of these fixed
/// chunks are added in chunk order, so a reduction gives the same bits on one thread or many. The
/// layer-wise methods (LAMB, LARS, NovoGrad) take their block norms this way, accumulated in f64
/// (optax's `jnp.linalg.norm` accumulates in the parameter type, so f32 runs can differ from
/// optax's in the last bits of a norm).
pub const SUM_CHUNK: usize = 1 << 15;

/// Adds the `[f64; K]` that `f` returns for matching [`SUM_CHUNK`]-element chunks of two slices
/// (chunk sums added in chunk order, from 0), computing the chunks in parallel when they are large.
pub fn sum_chunks2<A: Sync, B: Sync, const K: usize>(
    a: &[A],
    b: &[B],
    f: impl Fn(&[A], &[B]) -> [f64; K] + Sync + Send,
) -> [f64; K] {
    #[cfg(feature = "parallel")]
    if a.len() >= PARALLEL_MIN && rayon::current_num_threads() > 1 {
        use rayon::prelude::*;
        let parts: Vec<[f64; K]> =
            a.par_chunks(SUM_CHUNK).zip(b.par_chunks(SUM_CHUNK)).map(|(a, b)| f(a, b)).collect();
        return add_in_order(parts);
    }
    add_in_order(a.chunks(SUM_CHUNK).zip(b.chunks(SUM_CHUNK)).map(|(a, b)| f(a, b)))
}

/// [`sum_chunks2`] over four slices, three of them written by `f`.
pub fn sum_chunks4<A: Send, B: Sync, C: Send, D: Send, const K: usize>(
    a: &mut [A],
    b: &[B],
    c: &mut [C],
    d: &mut [D],
    f: impl Fn(&mut [A], &[B], &mut [C], &mut [D]) -> [f64; K] + Sync + Send,
) -> [f64; K] {
    #[cfg(feature = "parallel")]
    if a.len() >= PARALLEL_MIN && rayon::current_num_threads() > 1 {
        use rayon::prelude::*;
        let parts: Vec<[f64; K]> = a
            .par_chunks_mut(SUM_CHUNK)
            .zip(b.par_chunks(SUM_CHUNK))
            .zip(c.par_chunks_mut(SUM_CHUNK))
            .zip(d.par_chunks_mut(SUM_CHUNK))
            .map(|(((a, b), c), d)| f(a, b, c, d))
            .collect();
        return add_in_order(parts);
    }
    add_in_order(
        a.chunks_mut(SUM_CHUNK)
            .zip(b.chunks(SUM_CHUNK))
            .zip(c.chunks_mut(SUM_CHUNK))
            .zip(d.chunks_mut(SUM_CHUNK))
            .map(|(((a, b), c), d)| f(a, b, c, d)),
    )
}

fn add_in_order<const K: usize>(parts: impl IntoIterator<Item = [f64; K]>) -> [f64; K] {
    parts.into_iter().fold([0.0; K], |mut total, part| {
        total.iter_mut().zip(part).for_each(|(t, p)| *t += p);
        total
    })
}
