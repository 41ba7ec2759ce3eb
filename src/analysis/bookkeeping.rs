//! How float32 plotting code would average the unseen probabilities (issue
//! 11, item 3): a float32 softmax and a few candidate averages, pure
//! functions of float32 values (no training here).
//!
//! The paper's curves come from float32 PyTorch code. There a probability is
//! the output of `torch.softmax` in float32, and one below half of the
//! smallest subnormal (about 7e-46) is exactly 0. The lab's own metrics are
//! computed in f64 from log-probabilities (also in `precision = "f32"` mode,
//! see [`crate::maths::precision`]), so they cannot show what a float32 average
//! does with such zeros. An average that skips them divides by fewer entries
//! once some underflow: if 3 of a prompt's 8 unseen responses are exactly 0,
//! a mean over the nonzero ones is 8/5 of the plain mean.
//!
//! [`Candidate`] lists the averages considered, each with the line of
//! PyTorch it models; `p` there is the `(pairs, 8)` tensor of each pair's
//! unseen probabilities (the responses outside the pair, of the pair's
//! prompt), taken from `torch.softmax(logits, -1)` in float32. Log-space
//! forms reduce to these: `(logsumexp(log p) - log 8).exp()` is
//! [`Candidate::Mean`] (`log 0 = -inf` adds 0), and the same with the
//! `-inf` entries masked out and `log` of their count is
//! [`Candidate::NonzeroPooled`]; `torch.nanmean` of `p` with zeros turned
//! into NaN is [`Candidate::NonzeroPooled`] too.

use crate::maths::data::Pair;
use crate::maths::numerics::exp_vectorizable;

/// `e^x` in float32: the f64 exponential rounded once to float32, so
/// correctly rounded but in rare double-rounding ties (PyTorch's vectorised
/// `expf` is within 1 ulp). Below about -103.97 it is exactly 0, as `expf` is.
#[inline]
pub fn exp_f32(x: f32) -> f32 {
    exp_vectorizable(f64::from(x)) as f32
}

/// `ln x` in float32 (the f64 logarithm rounded to float32); `-inf` at 0.
#[inline]
pub fn ln_f32(x: f32) -> f32 {
    f64::from(x).ln() as f32
}

/// `torch.softmax` of one row in float32, as PyTorch's CPU kernel
/// (`_vec_softmax_lastdim`) computes it: `e = exp(z - max)`, `s = Σ e`,
/// `out = e * (1 / s)`, every operation in float32. Entries whose
/// `z - max` is below about -103.97, or whose product with `1/s` falls below
/// half of the smallest subnormal, are exactly 0. The sum runs left to right
/// (PyTorch sums in vector lanes: another order, which changes `s` by at
/// most a few ulp). `out` must be as long as `logits`.
pub fn softmax_f32(logits: &[f32], out: &mut [f32]) {
    let m = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut s = 0.0f32;
    for (o, &z) in out.iter_mut().zip(logits) {
        *o = exp_f32(z - m);
        s += *o;
    }
    let inv = 1.0 / s;
    for o in out.iter_mut() {
        *o *= inv;
    }
}

/// [`softmax_f32`] of every row of the row-major `logits` (`y` per row),
/// each logit first rounded to float32 (a no-op for the logits of an f32
/// run, which are float32 values already).
pub fn softmax_rows_f32(logits: &[f64], y: usize) -> Vec<f32> {
    let z: Vec<f32> = logits.iter().map(|&v| v as f32).collect();
    let mut out = vec![0.0f32; z.len()];
    if y > 0 {
        for (zr, or) in z.chunks_exact(y).zip(out.chunks_exact_mut(y)) {
            softmax_f32(zr, or);
        }
    }
    out
}

/// Each pair's unseen probabilities: `probs[x][a]` (row-major, `y` per row)
/// for every response `a` of the pair's prompt other than its chosen and
/// rejected one, in response order.
pub fn unseen_entries(probs: &[f32], y: usize, pairs: &[Pair]) -> Vec<Vec<f32>> {
    pairs
        .iter()
        .map(|p| {
            (0..y)
                .filter(|&a| a != p.chosen && a != p.rejected)
                .map(|a| probs[p.prompt * y + a])
                .collect()
        })
        .collect()
}

/// How many of the entries are exactly 0.
pub fn zeros(rows: &[Vec<f32>]) -> usize {
    rows.iter().flatten().filter(|&&v| v == 0.0).count()
}

/// Mean of `xs` in float32, summed left to right; NaN when empty (as
/// `torch.mean` of an empty tensor).
fn mean_f32(xs: impl Iterator<Item = f32>) -> f32 {
    let (mut s, mut n) = (0.0f32, 0u32);
    for x in xs {
        s += x;
        n += 1;
    }
    if n == 0 {
        f32::NAN
    } else {
        s / n as f32
    }
}

/// A way float32 code might average the unseen probabilities of the pairs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum Candidate {
    /// `p.mean()`: every entry counted, zeros included (the lab's
    /// `avg_unseen`, in float32).
    Mean,
    /// `p[p > 0].mean()`: the nonzero entries of all pairs pooled; an entry
    /// that underflows to 0 leaves the denominator.
    NonzeroPooled,
    /// `torch.stack([r[r > 0].mean() for r in p]).mean()`: the mean of each
    /// pair's nonzero entries, then the mean over the pairs.
    NonzeroPerPair,
    /// `lp = p.log(); lp[lp.isfinite()].mean().exp()`: a log-space average
    /// that drops the `-inf` of the zeros (the geometric mean of the
    /// nonzero entries).
    GeoNonzero,
}

impl Candidate {
    /// Every candidate, in the order of tables and legends.
    pub const ALL: [Candidate; 4] = [
        Candidate::Mean,
        Candidate::NonzeroPooled,
        Candidate::NonzeroPerPair,
        Candidate::GeoNonzero,
    ];

    /// A short name for tables and legends.
    pub fn name(self) -> &'static str {
        match self {
            Candidate::Mean => "mean",
            Candidate::NonzeroPooled => "mean of nonzero, pooled",
            Candidate::NonzeroPerPair => "mean of nonzero, per pair",
            Candidate::GeoNonzero => "geometric mean of nonzero",
        }
    }

    /// The line of PyTorch the candidate models (`p`: the unseen
    /// probabilities, one row per pair).
    pub fn torch(self) -> &'static str {
        match self {
            Candidate::Mean => "p.mean()",
            Candidate::NonzeroPooled => "p[p > 0].mean()",
            Candidate::NonzeroPerPair => "torch.stack([r[r > 0].mean() for r in p]).mean()",
            Candidate::GeoNonzero => "p.log()[p.log().isfinite()].mean().exp()",
        }
    }

    /// The candidate's average of `rows` (one row of unseen probabilities
    /// per pair), computed in float32; NaN where PyTorch's would be (a mean
    /// over no entries).
    pub fn eval(self, rows: &[Vec<f32>]) -> f64 {
        let nonzero = |r: &Vec<f32>| r.iter().copied().filter(|&v| v > 0.0).collect::<Vec<_>>();
        let v = match self {
            Candidate::Mean => mean_f32(rows.iter().flatten().copied()),
            Candidate::NonzeroPooled => mean_f32(rows.iter().flat_map(nonzero)),
            Candidate::NonzeroPerPair => {
                mean_f32(rows.iter().map(|r| mean_f32(nonzero(r).into_iter())))
            }
            Candidate::GeoNonzero => exp_f32(mean_f32(
                rows.iter()
                    .flatten()
                    .map(|&v| ln_f32(v))
                    .filter(|l| l.is_finite()),
            )),
        };
        f64::from(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_zeros_among_eight_raise_the_nonzero_mean_by_eight_fifths() {
        let row = vec![0.1f32, 0.2, 0.3, 0.0, 0.0, 0.0, 0.15, 0.25];
        let rows = vec![row];
        let mean = Candidate::Mean.eval(&rows);
        assert!((mean - 0.125).abs() < 1e-7, "{mean}");
        for c in [Candidate::NonzeroPooled, Candidate::NonzeroPerPair] {
            let v = c.eval(&rows);
            assert!((v / mean - 8.0 / 5.0).abs() < 1e-6, "{c:?}: {v}");
        }
        assert_eq!(zeros(&rows), 3);
    }

    #[test]
    fn pooled_and_per_pair_differ_when_pairs_lose_different_counts() {
        // Pair 0 keeps 8 entries of 0.1, pair 1 keeps 4 of 0.1 (4 zeros).
        let rows = vec![vec![0.1f32; 8], [vec![0.1f32; 4], vec![0.0; 4]].concat()];
        assert!((Candidate::Mean.eval(&rows) - 0.075).abs() < 1e-7);
        // Pooled: 12 nonzero entries of 0.1; per pair: (0.1 + 0.1) / 2.
        assert!((Candidate::NonzeroPooled.eval(&rows) - 0.1).abs() < 1e-7);
        assert!((Candidate::NonzeroPerPair.eval(&rows) - 0.1).abs() < 1e-7);
        // Unequal values separate them: pooled weights pair 1 by its 4 entries.
        let rows = vec![vec![0.2f32; 8], [vec![0.1f32; 4], vec![0.0; 4]].concat()];
        let pooled = Candidate::NonzeroPooled.eval(&rows);
        let per_pair = Candidate::NonzeroPerPair.eval(&rows);
        assert!(
            (pooled - (8.0 * 0.2 + 4.0 * 0.1) / 12.0).abs() < 1e-7,
            "{pooled}"
        );
        assert!((per_pair - 0.15).abs() < 1e-7, "{per_pair}");
    }

    #[test]
    fn geometric_mean_drops_zeros_and_empty_means_are_nan() {
        let rows = vec![vec![0.01f32, 1.0, 0.0]];
        let g = Candidate::GeoNonzero.eval(&rows);
        assert!((g - 0.1).abs() < 1e-6, "{g}");
        let empty = vec![vec![0.0f32; 8]];
        assert_eq!(Candidate::Mean.eval(&empty), 0.0);
        assert!(Candidate::NonzeroPooled.eval(&empty).is_nan());
        assert!(Candidate::NonzeroPerPair.eval(&empty).is_nan());
        assert!(Candidate::GeoNonzero.eval(&empty).is_nan());
    }

    #[test]
    fn float32_softmax_underflows_where_float32_does() {
        // A logit 110 below the largest: e^-110 ≈ 1.7e-48 is below half of
        // f32's smallest subnormal (7.0e-46), so exactly 0; f64 keeps it.
        let mut out = [0.0f32; 2];
        softmax_f32(&[0.0, -110.0], &mut out);
        assert_eq!(out, [1.0, 0.0]);
        assert!((-110.0f64).exp() > 0.0);
        // 100 below: e^-100 ≈ 3.7e-44, a subnormal float32, not 0.
        softmax_f32(&[0.0, -100.0], &mut out);
        assert!(out[1] > 0.0 && out[1] < f32::MIN_POSITIVE, "{}", out[1]);
        let rel = f64::from(out[1]) / (-100.0f64).exp() - 1.0;
        // A subnormal near 3.7e-44 has a spacing of 1.4e-45: 2% at most.
        assert!(rel.abs() < 0.02, "{rel}");
        // The threshold: e^(z - max) rounds to 0 below ln(2^-150) ≈ -103.97.
        let cut = (2.0f64.powi(-150)).ln();
        softmax_f32(&[0.0, (cut + 0.01) as f32], &mut out);
        assert!(out[1] > 0.0);
        softmax_f32(&[0.0, (cut - 0.01) as f32], &mut out);
        assert_eq!(out[1], 0.0);
    }

    #[test]
    fn float32_softmax_matches_f64_on_ordinary_rows_and_is_shift_invariant() {
        let z = [0.3f32, -1.2, 2.5, 0.0, -4.0];
        let mut out = [0.0f32; 5];
        softmax_f32(&z, &mut out);
        let m = 2.5f64;
        let s: f64 = z.iter().map(|&v| (f64::from(v) - m).exp()).sum();
        for (o, &v) in out.iter().zip(&z) {
            let want = (f64::from(v) - m).exp() / s;
            assert!((f64::from(*o) / want - 1.0).abs() < 1e-6, "{o} vs {want}");
        }
        let rows = softmax_rows_f32(
            &[0.3, -1.2, 2.5, 0.0, -4.0, 100.3, 98.8, 102.5, 100.0, 96.0],
            5,
        );
        assert_eq!(&rows[..5], &out[..]);
        for (a, b) in rows[..5].iter().zip(&rows[5..]) {
            assert!((a / b - 1.0).abs() < 1e-5, "{a} vs {b}");
        }
    }

    #[test]
    fn unseen_entries_skip_the_pair() {
        let y = 4;
        let probs: Vec<f32> = (0..8).map(|i| i as f32).collect();
        let pairs = [
            Pair {
                prompt: 1,
                chosen: 0,
                rejected: 2,
            },
            Pair {
                prompt: 0,
                chosen: 3,
                rejected: 1,
            },
        ];
        assert_eq!(
            unseen_entries(&probs, y, &pairs),
            vec![vec![5.0, 7.0], vec![0.0, 2.0]]
        );
    }
}
