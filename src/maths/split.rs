//! One run's large arrays split over rayon's threads. A step of a big
//! response space (the tabular policy at 4 × 100 000 logits) is a handful of
//! passes over arrays that are independent row by row (the softmax, the
//! logit gradient, the metrics' row sums) or element by element (the
//! optimiser, the finiteness check), so blocks of rows or elements can run on
//! different cores and give the same bits as one pass: nothing is summed
//! across a block boundary. The split therefore depends on nothing but speed,
//! and a run's numbers are the same on any thread count (`tests/split.rs`).
//!
//! Inside a sweep the runs already occupy every thread; rayon's work stealing
//! then runs a run's blocks on its own thread, one after the other.

/// Arrays at least this long are split: below it a pass takes well under
/// the few microseconds that handing blocks to another thread costs.
pub const SPLIT_MIN: usize = 1 << 17;

/// Whether a pass over `n` values is worth splitting on this thread pool.
#[inline]
pub fn worth_splitting(n: usize) -> bool {
    n >= SPLIT_MIN && rayon::current_num_threads() > 1
}

/// How many of `count` items (rows, or elements) go in a block: about four
/// blocks per thread, so that a thread slowed by another process is made up
/// for by the others, rounded up to a multiple of `align`.
#[inline]
pub fn block_len(count: usize, align: usize) -> usize {
    let blocks = 4 * rayon::current_num_threads();
    count.div_ceil(blocks).div_ceil(align).max(1) * align
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_cover_the_items_and_keep_the_alignment() {
        for count in [1, 7, 8, 100, 131_072, 400_001] {
            for align in [1, 8] {
                let b = block_len(count, align);
                assert_eq!(b % align, 0);
                assert!(b >= 1);
                // Never more than four blocks a thread, plus one for the rounding.
                assert!(count.div_ceil(b) <= 4 * rayon::current_num_threads() + 1);
            }
        }
    }
}
