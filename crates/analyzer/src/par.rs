//! Work split over the run's worker pool (`--threads`), or done on the
//! calling thread without one; results always come back in input order, so
//! the output does not depend on the thread count.

use rayon::ThreadPool;

/// `f` over consecutive chunks of `items` (`chunk` items each, the last
/// shorter), on `pool` when there is one; the results in order.
pub fn map_chunks<T, R, F>(pool: Option<&ThreadPool>, items: &[T], chunk: usize, f: F) -> Vec<R>
where
    T: Sync,
    R: Send,
    F: Fn(&[T]) -> R + Sync + Send,
{
    let chunk = chunk.max(1);
    match pool {
        Some(pool) => {
            use rayon::prelude::*;
            pool.install(|| items.par_chunks(chunk).map(f).collect())
        }
        None => items.chunks(chunk).map(f).collect(),
    }
}

/// A chunk length that keeps every worker of `pool` busy over `len`
/// items (a few chunks each); all of them on one thread.
pub fn chunk_for(pool: Option<&ThreadPool>, len: usize) -> usize {
    pool.map_or(len, |p| len.div_ceil(p.current_num_threads() * 4))
        .max(1)
}
