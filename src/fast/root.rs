//! Square roots of eight f64 at a time on the multiply-add units, with
//! IEEE's bits. Adam needs a square root and a division per parameter; on
//! this kind of CPU both run on one divider, which bounds a pass of Adam on
//! its own (not the MLP step as a whole: see the `paper-sgd` rows of
//! `dpo-lab bench`). `sqrt8_avx512` computes the root from the
//! reciprocal-root estimate by Newton's method, then *proves* each lane
//! correctly rounded with one fused multiply-add (`correctly_rounded`); a
//! lane it cannot prove (none among the 400 000 ordinary inputs of its test;
//! zeros, subnormals, infinities, NaNs, negative inputs by design) takes the
//! hardware square root. So the result is `x.sqrt()`'s bits in every lane,
//! whatever Newton's accuracy: that only decides how often the divider is
//! used.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// Smallest input the proof covers (`2^-900`): below it the residual's
/// spacing would fall under the subnormal one.
#[cfg(target_arch = "x86_64")]
const X_MIN: f64 = f64::from_bits((1023 - 900) << 52);

/// Smallest candidate root the check takes (`2^-970`, exponent field 53):
/// from there up `2^(E−52)`, read off the bits, is a positive normal number.
#[cfg(target_arch = "x86_64")]
const S_MIN: f64 = f64::from_bits(53 << 52);

/// The lanes where `s` is provably `RN(√x)`, the square root rounded to
/// nearest.
///
/// With `r = RN(x − s²)` (one FMA), `2^E ≤ s < 2^(E+1)` and `B = s·2^(E−52)`
/// (exact: `B = 2sh` with `h = 2^(E−53)`, half the spacing around `s`), a
/// lane passes when `2^-900 ≤ x` and `2^-970 ≤ s` (ordered: no NaN, no
/// negative `s`), `s`'s significand field is not zero (its two neighbours
/// are both `2h` away) and `|r| < B`.
///
/// Why that proves it, for `x` normal and `s` a positive normal number.
/// `√x` is never a midpoint between two doubles (a midpoint has 54
/// significant bits, its square more than 53), so `s = RN(√x)` iff
/// `(s−h)² < x < (s+h)²`, i.e. `h² − B < t < h² + B` with `t = x − s²`
/// exactly. If `|t| ≤ 2^(2E−51)`, then `x ≥ 2^(2E−1)` and `t` is a multiple
/// of `ulp(s)² = 4h² = 2^(2E−104)` (so is `x`, its spacing being at least
/// `2^(2E−53)`, and `s²`); `|t| / 4h² ≤ 2^53` and `4h² ≥ 2^-1004` (as
/// `x ≥ 2^-900` bounds `E ≥ −451`), so `t` is a double, `r = t`, and since
/// `B` is a multiple of `4h²` too, `|t| < B` implies `h² − B < t < h² + B`
/// (the converse misses only `t = B`, i.e. `x = s·next(s)`: refused, so it
/// takes the divider). If `|t| > 2^(2E−51)`, then `|r| ≥ 2^(2E−51) > B`
/// (rounding is monotone; for `E < −511` that power is not a double, but
/// then `s² < 2^-1020` and `r ≥ RN(x − 2^-1020) > 2^-1072 > B`): the lane
/// fails. Both bounds are needed: with `s < 2^-970` the `2^(E−52)` read off
/// the bits is not a positive number (negative, or `−∞` at exponent field
/// 51), and for a negative `s` that made `B` positive (a cold review found
/// such lanes accepted). For `E > 537`, `x − s²` rounds to `−∞`; an infinite
/// `s` gives a NaN or `−∞` residual: the lane fails.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
pub(super) fn correctly_rounded(x: __m512d, s: __m512d) -> __mmask8 {
    let r = _mm512_fnmadd_pd(s, s, x);
    let bits = _mm512_castpd_si512(s);
    // 2^(E−52): the exponent field less 52.
    let scale = _mm512_sub_epi64(
        _mm512_and_si512(bits, _mm512_set1_epi64(0x7ff0_0000_0000_0000)),
        _mm512_set1_epi64(52 << 52),
    );
    let b = _mm512_mul_pd(s, _mm512_castsi512_pd(scale));
    let abs_r = _mm512_castsi512_pd(_mm512_and_si512(
        _mm512_castpd_si512(r),
        _mm512_set1_epi64(i64::MAX),
    ));
    let k = _mm512_cmp_pd_mask::<_CMP_GE_OQ>(x, _mm512_set1_pd(X_MIN));
    let k = _mm512_mask_cmp_pd_mask::<_CMP_GE_OQ>(k, s, _mm512_set1_pd(S_MIN));
    let k = _mm512_mask_test_epi64_mask(k, bits, _mm512_set1_epi64(0x000f_ffff_ffff_ffff));
    _mm512_mask_cmp_pd_mask::<_CMP_LT_OQ>(k, abs_r, b)
}

/// `√x` in each lane with `x.sqrt()`'s bits (see the module's text).
///
/// The estimate: `y ≈ 1/√x` to 2^-14 (`vrsqrt14pd`), two coupled Newton
/// steps on `g ≈ √x`, `h ≈ 1/(2√x)` (relative error about 2^-56), and a
/// last correction `g + h (x − g²)`. Zeros are their own roots.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
pub(super) fn sqrt8_avx512(x: __m512d) -> __m512d {
    let s = estimate(x);
    let ok = correctly_rounded(x, s);
    if ok == 0xff {
        return s;
    }
    // Zeros are their own roots; what is left takes the divider.
    let zero = _mm512_cmp_pd_mask::<_CMP_EQ_OQ>(x, _mm512_setzero_pd());
    let s = _mm512_mask_mov_pd(s, zero, x);
    let rest = !(ok | zero);
    if rest == 0 {
        s
    } else {
        _mm512_mask_sqrt_pd(s, rest, x)
    }
}

/// [`sqrt8_avx512`]'s Newton estimate of `√x`, before the check.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
fn estimate(x: __m512d) -> __m512d {
    let half = _mm512_set1_pd(0.5);
    let y = _mm512_rsqrt14_pd(x);
    let mut g = _mm512_mul_pd(x, y);
    let mut h = _mm512_mul_pd(half, y);
    for _ in 0..2 {
        let e = _mm512_fnmadd_pd(g, h, half);
        g = _mm512_fmadd_pd(g, e, g);
        h = _mm512_fmadd_pd(h, e, h);
    }
    _mm512_fmadd_pd(_mm512_fnmadd_pd(g, g, x), h, g)
}

/// `xs[i] ← √xs[i]` by `sqrt8_avx512` (a tail shorter than eight by the
/// scalar root): the bits of `f64::sqrt`. `None` (nothing done) on a CPU
/// without AVX-512F.
pub fn sqrt_in_place_avx512(xs: &mut [f64]) -> Option<()> {
    #[cfg(target_arch = "x86_64")]
    if super::Level::Avx512.supported() {
        // SAFETY: the CPU has AVX-512F (checked just above).
        unsafe { sqrt_slice(xs) };
        return Some(());
    }
    let _ = xs;
    None
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn sqrt_slice(xs: &mut [f64]) {
    let mut chunks = xs.chunks_exact_mut(8);
    for c in &mut chunks {
        // SAFETY: `c` holds eight values.
        unsafe { _mm512_storeu_pd(c.as_mut_ptr(), sqrt8_avx512(_mm512_loadu_pd(c.as_ptr()))) };
    }
    for x in chunks.into_remainder() {
        *x = x.sqrt();
    }
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::*;
    use crate::fast::testing::Values;

    fn proven(x: [f64; 8], s: [f64; 8]) -> u8 {
        // SAFETY: the tests calling this are built only where the CPU has AVX-512F.
        unsafe { correctly_rounded(_mm512_loadu_pd(x.as_ptr()), _mm512_loadu_pd(s.as_ptr())) }
    }

    fn next_up(x: f64) -> f64 {
        f64::from_bits(x.to_bits() + 1)
    }

    fn next_down(x: f64) -> f64 {
        f64::from_bits(x.to_bits() - 1)
    }

    /// Random bit patterns over the whole range (zeros, subnormals, both
    /// signs, infinities, NaNs among them) and every exponent: the same
    /// bits as `f64::sqrt`.
    #[test]
    #[cfg_attr(
        not(dpo_lab_cpu_avx512),
        ignore = "needs avx512f, which the CPU that built the tests lacks"
    )]
    fn sqrt8_gives_the_hardware_bits() {
        let mut bits = Values::new(1);
        let specials = [
            0.0,
            -0.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
            f64::MIN_POSITIVE,
            f64::MAX,
            5e-324,
            1.0,
            4.0,
            X_MIN,
            next_down(X_MIN),
        ];
        let mut xs: Vec<f64> = specials.to_vec();
        for i in 0..400_000u64 {
            let b = bits.bits();
            xs.push(match i % 4 {
                // Any bits at all.
                0 => f64::from_bits(b),
                // Positive, any exponent.
                1 => f64::from_bits(b >> 1),
                // Positive, the exponents Adam's second moments have.
                2 => f64::from_bits((b & 0x000f_ffff_ffff_ffff) | ((900 + (b >> 52) % 140) << 52)),
                // Squares and their neighbours: roots that are exact or nearly.
                _ => {
                    let s = f64::from_bits((b >> 12) | (1000u64 << 52));
                    let sq = s * s;
                    [sq, next_up(sq), next_down(sq)][(b % 3) as usize]
                }
            });
        }
        let mut got = xs.clone();
        sqrt_in_place_avx512(&mut got).expect("AVX-512F");
        for (x, s) in xs.iter().zip(&got) {
            assert_eq!(s.to_bits(), x.sqrt().to_bits(), "√{x:e}");
        }
    }

    /// The check accepts the correctly rounded root and rejects both of its
    /// neighbours, near the hardest inputs (`x` closest to the square of a
    /// midpoint, where √x sits next to the rounding boundary) and at random:
    /// its correctness does not rest on Newton's accuracy.
    #[test]
    #[cfg_attr(
        not(dpo_lab_cpu_avx512),
        ignore = "needs avx512f, which the CPU that built the tests lacks"
    )]
    fn the_check_accepts_the_root_and_rejects_its_neighbours() {
        let mut bits = Values::new(2);
        let (mut accepted, mut hard) = (0, 0);
        for i in 0..200_000u64 {
            let b = bits.bits();
            let x = if i % 2 == 0 {
                // The square of a midpoint `s + ulp/2`, rounded, and nudged.
                let s = f64::from_bits((b >> 12) | ((1023 + (b % 200) - 100) << 52));
                let mid = s + (next_up(s) - s) / 2.0;
                let sq = mid * mid;
                hard += 1;
                f64::from_bits((sq.to_bits() as i64 + (b >> 60) as i64 - 8) as u64)
            } else {
                f64::from_bits((b & 0x000f_ffff_ffff_ffff) | ((200 + (b >> 52) % 1600) << 52))
            };
            let root = x.sqrt();
            let xs = [x; 8];
            let cands = [
                root,
                next_up(root),
                next_down(root),
                -root,
                root,
                next_up(next_up(root)),
                next_down(next_down(root)),
                root,
            ];
            let k = proven(xs, cands);
            // Only the true root may pass; it passes unless it is a power of
            // two or `x` is below the proof's range.
            assert_eq!(k & 0b0110_1110, 0, "a neighbour of √{x:e} passed");
            let exact_power = root.to_bits() & 0x000f_ffff_ffff_ffff == 0;
            if x >= X_MIN && !exact_power {
                assert_eq!(k, 0b1001_0001, "√{x:e} = {root:e} not proven");
                accepted += 1;
            }
        }
        assert!(accepted > 190_000 && hard == 100_000, "{accepted} {hard}");
        // The two products of neighbours that are doubles, where `t = ±B`
        // exactly: `s·next(s)` for an all-ones significand (√ of it rounds
        // to `s`, but the strict check refuses it: the divider answers) and
        // `s·prev(s)` for a significand of 1 (√ rounds to the power of two
        // below: `s` must be rejected).
        for e in [-400i64, -1, 0, 7, 300] {
            let all_ones =
                f64::from_bits((((1u64 << 53) - 1) & !(1u64 << 52)) | (((1023 + e) as u64) << 52));
            let x = all_ones * next_up(all_ones);
            assert_eq!(x.sqrt(), all_ones);
            assert_eq!(proven([x; 8], [all_ones; 8]), 0, "√{x:e}");
            let mut got = [x; 8];
            sqrt_in_place_avx512(&mut got).expect("AVX-512F");
            assert_eq!(got, [all_ones; 8]);
            let one = f64::from_bits(1 | (((1023 + e) as u64) << 52));
            let x = one * next_down(one);
            assert_eq!(x.sqrt(), next_down(one));
            assert_eq!(proven([x; 8], [one; 8]), 0, "√{x:e}");
        }
    }

    /// Newton's estimate is proven in every lane over the range Adam's
    /// second moments take (so the divider is left to the division).
    #[test]
    #[cfg_attr(
        not(dpo_lab_cpu_avx512),
        ignore = "needs avx512f, which the CPU that built the tests lacks"
    )]
    fn the_estimate_is_proven_on_ordinary_inputs() {
        let mut bits = Values::new(3);
        for _ in 0..50_000 {
            let xs: [f64; 8] = std::array::from_fn(|_| {
                let b = bits.bits();
                f64::from_bits((b & 0x000f_ffff_ffff_ffff) | ((700 + (b >> 52) % 600) << 52))
            });
            // SAFETY: built only where the CPU has AVX-512F.
            let s = unsafe { estimate(_mm512_loadu_pd(xs.as_ptr())) };
            let mut out = [0.0; 8];
            // SAFETY: as above; `out` holds eight values.
            unsafe { _mm512_storeu_pd(out.as_mut_ptr(), s) };
            let exact_power = out.iter().any(|s| s.to_bits() & 0x000f_ffff_ffff_ffff == 0);
            if !exact_power {
                assert_eq!(proven(xs, out), 0xff, "{xs:?}");
            }
        }
    }

    /// The boundary cases of the proof: lanes outside its range are not
    /// passed, whatever the candidate.
    #[test]
    #[cfg_attr(
        not(dpo_lab_cpu_avx512),
        ignore = "needs avx512f, which the CPU that built the tests lacks"
    )]
    fn the_check_refuses_what_it_cannot_prove() {
        let tiny = next_down(X_MIN);
        let xs = [tiny, 0.0, -4.0, f64::NAN, f64::INFINITY, 4.0, 1e-310, 2.0];
        let ss = [
            tiny.sqrt(),
            0.0,
            2.0,
            f64::NAN,
            f64::INFINITY,
            2.0,
            1e-310f64.sqrt(),
            f64::INFINITY,
        ];
        assert_eq!(proven(xs, ss), 0);
        // Negative candidates with an exponent field below 52, where the
        // scale read off the bits is negative too (a cold review's finding).
        let tiny_neg = -f64::from_bits(0x033f_0000_0000_0001);
        let xs = [4.0, 1e300, 1.0, 2.0, 1e-200, 4.0, 4.0, 4.0];
        let ss = [
            -1e-300,
            tiny_neg,
            -1e-300,
            -1e-300,
            -1e-300,
            -f64::from_bits(51 << 52 | 1),
            -f64::from_bits(52 << 52 | 1),
            -2.0,
        ];
        assert_eq!(proven(xs, ss), 0);
        // In range and a significand not zero: proven.
        assert_eq!(proven([2.0; 8], [2f64.sqrt(); 8]), 0xff);
        assert_eq!(X_MIN, 2f64.powi(-900));
    }
}
