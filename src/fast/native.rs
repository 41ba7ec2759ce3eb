//! AVX-512 kernels of the native float32 path
//! ([`crate::maths::policy::native`]), bit-identical to its generic code,
//! which is their reference at every other level: Adam on 16 float32 lanes
//! with the path's quiet lanes, and one affine layer's back-propagation
//! fused with Adam's update of its weights, row `j - 1` updated while row
//! `j`'s gradient is computed (as [`super::layer`] does in f64), so the
//! divider's square roots and divisions run beside the multiply-adds.
//!
//! Each entry point returns `false`, having done nothing, below AVX-512;
//! the caller then runs the reference.

use super::{Level, Simd};

/// One Adam step's float32 constants, as the native path rounds them, and
/// its quiet-lane bounds (`QuietLimits` of the native path): a lane with
/// gradient ±0, `|m| = k · 2^-149` for `1 ≤ k ≤ k_max`, `|p| ≥ p_min` and
/// `v` either `+0` or `≥ v_min` keeps `m` and computes with `m = 0`.
#[derive(Debug, Clone, Copy)]
pub struct Adam32 {
    /// β1.
    pub beta1: f32,
    /// 1 - β1.
    pub one_minus_beta1: f32,
    /// β2.
    pub beta2: f32,
    /// 1 - β2.
    pub one_minus_beta2: f32,
    /// ε.
    pub eps: f32,
    /// `lr / (1 - β1^t)`.
    pub step: f32,
    /// `1 / √(1 - β2^t)`.
    pub inv_sqrt_bc2: f32,
    /// Smallest quiet `|p|`.
    pub p_min: f32,
    /// Smallest quiet nonzero `v`.
    pub v_min: f32,
    /// Largest quiet subnormal significand of `m` (0: no quiet lane).
    pub k_max: u32,
}

/// Adam over whole slices (`p`, `g`, `m`, `v` of one length) at `simd`'s
/// level; `false` (nothing done) below AVX-512.
#[inline(always)]
pub fn adam_simd(
    simd: Simd,
    a: &Adam32,
    p: &mut [f32],
    g: &[f32],
    m: &mut [f32],
    v: &mut [f32],
) -> bool {
    match simd.level() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the token proves the CPU has AVX-512F.
        Level::Avx512 => unsafe {
            adam_avx512(a, p, g, m, v);
            true
        },
        _ => false,
    }
}

/// One layer `out[r] = b + W inp[r]` of `rows` input rows: `W` (`n × k`,
/// row-major) at offset `w` of the parameters, `b` right after it.
#[derive(Debug, Clone, Copy)]
pub struct Affine {
    /// Inputs per row.
    pub k: usize,
    /// Outputs per row.
    pub n: usize,
    /// Offset of `W`.
    pub w: usize,
}

/// The native path's `dense_backward_step` with Adam at `simd`'s level:
/// `dinp[r] = Σ_i dout[r,i] W[i]` (if given, from the old weights), the
/// gradients `gw[i] = Σ_r dout[r,i] inp[r]` and `gb[i] = Σ_r dout[r,i]`
/// into `grad` (the parameters' offsets; every sum in row order, from +0),
/// and Adam's update of `W` and `b` with the state `m`, `v` at the same
/// offsets. `false` (nothing done) below AVX-512.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub fn backward_adam_simd(
    simd: Simd,
    layer: Affine,
    inp: &[f32],
    dout: &[f32],
    params: &mut [f32],
    dinp: Option<&mut [f32]>,
    grad: &mut [f32],
    state: (&mut [f32], &mut [f32]),
    a: &Adam32,
) -> bool {
    match simd.level() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the token proves the CPU has AVX-512F.
        Level::Avx512 => unsafe {
            if layer.k.checked_mul(4) == Some(inp.len()) {
                backward_adam_avx512::<4>(layer, inp, dout, params, dinp, grad, state, a);
            } else {
                backward_adam_avx512::<0>(layer, inp, dout, params, dinp, grad, state, a);
            }
            true
        },
        _ => false,
    }
}

/// `Σ extra + n·k`, or `usize::MAX` if it overflows: the bounds checks of
/// these safe entry points must not wrap around for absurd shapes.
fn size(extra: &[usize], n: usize, k: usize) -> usize {
    let mut s = n.checked_mul(k);
    for &e in extra {
        s = s.and_then(|s| s.checked_add(e));
    }
    s.unwrap_or(usize::MAX)
}

/// Adam on the first `lanes` (≤ 16) values at `p`, `g`, `m`, `v`, as the
/// native path's `step_generic` computes each lane (no fused multiply-add).
///
/// # Safety
/// The CPU must support AVX-512F and each pointer must be valid for
/// `lanes` values.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn adam16_avx512(
    a: &Adam32,
    lanes: usize,
    p: *mut f32,
    g: *const f32,
    m: *mut f32,
    v: *mut f32,
) {
    use std::arch::x86_64::*;
    let full = lanes >= 16;
    let all: __mmask16 = if full {
        !0
    } else {
        ((1u32 << lanes) - 1) as __mmask16
    };
    let c = _mm512_set1_ps;
    // SAFETY: the caller's; masked lanes are not touched. Whole chunks take
    // plain loads and stores (masked ones made the fused layer slower).
    let (p0, gv, m0, v0) = unsafe {
        if full {
            (
                _mm512_loadu_ps(p),
                _mm512_loadu_ps(g),
                _mm512_loadu_ps(m),
                _mm512_loadu_ps(v),
            )
        } else {
            (
                _mm512_maskz_loadu_ps(all, p),
                _mm512_maskz_loadu_ps(all, g),
                _mm512_maskz_loadu_ps(all, m),
                _mm512_maskz_loadu_ps(all, v),
            )
        }
    };
    let mag = _mm512_set1_epi32(0x7fff_ffff);
    let g_zero = _mm512_testn_epi32_mask(_mm512_castps_si512(gv), mag) & all;
    // Live lanes (no zero gradient) skip the other tests.
    let quiet = if g_zero == 0 {
        0
    } else {
        let k = _mm512_and_si512(_mm512_castps_si512(m0), mag);
        // 1 ≤ k ≤ k_max, as k - 1 < k_max unsigned (k = 0 wraps).
        let k_in = _mm512_cmplt_epu32_mask(
            _mm512_sub_epi32(k, _mm512_set1_epi32(1)),
            _mm512_set1_epi32(a.k_max as i32),
        );
        let p_far = _mm512_cmp_ps_mask::<_CMP_GE_OQ>(_mm512_abs_ps(p0), c(a.p_min));
        let v_ok = _mm512_testn_epi32_mask(_mm512_castps_si512(v0), _mm512_castps_si512(v0))
            | _mm512_cmp_ps_mask::<_CMP_GE_OQ>(v0, c(a.v_min));
        k_in & g_zero & p_far & v_ok
    };
    let mq = _mm512_mask_mov_ps(m0, quiet, _mm512_setzero_ps());
    let mv = _mm512_add_ps(
        _mm512_mul_ps(c(a.beta1), mq),
        _mm512_mul_ps(c(a.one_minus_beta1), gv),
    );
    let vv = _mm512_add_ps(
        _mm512_mul_ps(c(a.beta2), v0),
        _mm512_mul_ps(_mm512_mul_ps(c(a.one_minus_beta2), gv), gv),
    );
    let den = _mm512_add_ps(
        _mm512_mul_ps(_mm512_sqrt_ps(vv), c(a.inv_sqrt_bc2)),
        c(a.eps),
    );
    let upd = _mm512_div_ps(_mm512_mul_ps(c(a.step), mv), den);
    // SAFETY: as above.
    unsafe {
        let pv = _mm512_sub_ps(p0, upd);
        if full {
            _mm512_storeu_ps(m, _mm512_mask_mov_ps(mv, quiet, m0));
            _mm512_storeu_ps(v, vv);
            _mm512_storeu_ps(p, pv);
        } else {
            _mm512_mask_storeu_ps(m, all & !quiet, mv);
            _mm512_mask_storeu_ps(v, all, vv);
            _mm512_mask_storeu_ps(p, all, pv);
        }
    }
}

/// [`adam_simd`] at AVX-512.
///
/// # Safety
/// The CPU must support AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn adam_avx512(a: &Adam32, p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32]) {
    let n = p.len();
    assert!(g.len() == n && m.len() == n && v.len() == n);
    for c in (0..n).step_by(16) {
        // SAFETY: c < n and at most n - c lanes are touched.
        unsafe {
            adam16_avx512(
                a,
                n - c,
                p.as_mut_ptr().add(c),
                g.as_ptr().add(c),
                m.as_mut_ptr().add(c),
                v.as_mut_ptr().add(c),
            )
        };
    }
}

/// `din[r] = Σ_j dout[r,j] W[j]` (`W` is `n × k` at `w`, summed over `j` in
/// order from +0), 64 columns of four rows in registers at a time (`W`
/// read once), then 16, then one.
///
/// # Safety
/// The CPU must support AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn input_grad_avx512<const R: usize>(
    layer: Affine,
    params: &[f32],
    dout: &[f32],
    din: &mut [f32],
) {
    use std::arch::x86_64::*;
    let Affine { k, n, w } = layer;
    let rows = if R > 0 { R } else { din.len() / k };
    assert!(size(&[w], n, k) <= params.len() && Some(dout.len()) == rows.checked_mul(n));
    assert!(Some(din.len()) == rows.checked_mul(k));
    let (wp, dp, op) = (
        params.as_ptr().wrapping_add(w),
        dout.as_ptr(),
        din.as_mut_ptr(),
    );
    // Four rows at a time (R = 4), or one.
    let group = if R == 4 { 4 } else { 1 };
    for r0 in (0..rows).step_by(group) {
        let mut c = 0;
        while c + 64 <= k {
            let mut acc = [[_mm512_setzero_ps(); 4]; 4];
            for j in 0..n {
                // SAFETY: j < n, c + 64 <= k, r0 + group <= rows: within the asserted lengths.
                unsafe {
                    let wv: [__m512; 4] =
                        std::array::from_fn(|q| _mm512_loadu_ps(wp.add(j * k + c + 16 * q)));
                    for (r, acc_r) in acc.iter_mut().enumerate().take(group) {
                        let s = _mm512_set1_ps(*dp.add((r0 + r) * n + j));
                        for q in 0..4 {
                            acc_r[q] = _mm512_add_ps(acc_r[q], _mm512_mul_ps(s, wv[q]));
                        }
                    }
                }
            }
            for (r, acc_r) in acc.iter().enumerate().take(group) {
                for (q, &a) in acc_r.iter().enumerate() {
                    // SAFETY: as above.
                    unsafe { _mm512_storeu_ps(op.add((r0 + r) * k + c + 16 * q), a) };
                }
            }
            c += 64;
        }
        while c + 16 <= k {
            let mut acc = [_mm512_setzero_ps(); 4];
            for j in 0..n {
                // SAFETY: as above, c + 16 <= k.
                unsafe {
                    let wv = _mm512_loadu_ps(wp.add(j * k + c));
                    for (r, a) in acc.iter_mut().enumerate().take(group) {
                        let s = _mm512_set1_ps(*dp.add((r0 + r) * n + j));
                        *a = _mm512_add_ps(*a, _mm512_mul_ps(s, wv));
                    }
                }
            }
            for (r, &a) in acc.iter().enumerate().take(group) {
                // SAFETY: as above.
                unsafe { _mm512_storeu_ps(op.add((r0 + r) * k + c), a) };
            }
            c += 16;
        }
        for r in r0..r0 + group {
            for i in c..k {
                let mut acc = 0.0;
                for j in 0..n {
                    acc += dout[r * n + j] * params[w + j * k + i];
                }
                din[r * k + i] = acc;
            }
        }
    }
}

/// [`backward_adam_simd`] at AVX-512 for `R` input rows (`0`: as many as
/// `inp` has; 4, the paper's prompts, gets loops of known length): the
/// input gradient first ([`input_grad_avx512`], from the old weights),
/// then the weight rows, row `j - 1` updated while row `j`'s gradient is
/// computed.
///
/// # Safety
/// The CPU must support AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
unsafe fn backward_adam_avx512<const R: usize>(
    layer: Affine,
    inp: &[f32],
    dout: &[f32],
    params: &mut [f32],
    dinp: Option<&mut [f32]>,
    grad: &mut [f32],
    (m, v): (&mut [f32], &mut [f32]),
    a: &Adam32,
) {
    use std::arch::x86_64::*;
    let Affine { k, n, w } = layer;
    let rows = if R > 0 { R } else { inp.len() / k };
    let k16 = k / 16 * 16;
    let end = size(&[w, n], n, k);
    assert!(end <= params.len() && end <= grad.len() && end <= m.len() && end <= v.len());
    assert!(Some(inp.len()) == rows.checked_mul(k) && Some(dout.len()) == rows.checked_mul(n));
    if let Some(d) = dinp {
        // SAFETY: the CPU has AVX-512F (this function's contract).
        unsafe { input_grad_avx512::<R>(layer, params, dout, d) };
    }
    let (ip, dp) = (inp.as_ptr(), dout.as_ptr());
    let (pp, gp, mp, vp) = (
        params.as_mut_ptr(),
        grad.as_mut_ptr(),
        m.as_mut_ptr(),
        v.as_mut_ptr(),
    );
    let mut s = [_mm512_setzero_ps(); 4];
    for j in 0..=n {
        let at = w + j * k;
        let prev = at.wrapping_sub(k);
        if R == 4 && j < n {
            // SAFETY: j < n and dout holds rows × n values.
            s = std::array::from_fn(|r| unsafe { _mm512_set1_ps(*dp.add(r * n + j)) });
        }
        for c in (0..k16).step_by(16) {
            if j < n {
                // SAFETY: j < n, c + 16 <= k and the lengths asserted above.
                unsafe {
                    let mut acc = _mm512_setzero_ps();
                    #[allow(clippy::needless_range_loop)] // `s` only when R = 4
                    for r in 0..rows {
                        let sr = if R == 4 {
                            s[r]
                        } else {
                            _mm512_set1_ps(*dp.add(r * n + j))
                        };
                        acc = _mm512_add_ps(
                            acc,
                            _mm512_mul_ps(sr, _mm512_loadu_ps(ip.add(r * k + c))),
                        );
                    }
                    _mm512_storeu_ps(gp.add(at + c), acc);
                }
            }
            if j > 0 {
                // SAFETY: row j - 1 < n, 16 values from its column c < k16.
                unsafe {
                    let o = prev + c;
                    adam16_avx512(a, 16, pp.add(o), gp.add(o), mp.add(o), vp.add(o));
                }
            }
        }
        if k16 < k {
            if j < n {
                // SAFETY: columns k16..k of row j < n.
                unsafe {
                    for i in k16..k {
                        let mut acc = 0.0;
                        for r in 0..rows {
                            acc += *dp.add(r * n + j) * *ip.add(r * k + i);
                        }
                        *gp.add(at + i) = acc;
                    }
                }
            }
            if j > 0 {
                // SAFETY: the last k - k16 < 16 values of row j - 1.
                unsafe {
                    let o = prev + k16;
                    adam16_avx512(a, k - k16, pp.add(o), gp.add(o), mp.add(o), vp.add(o));
                }
            }
        }
    }
    let b = w + n * k;
    // SAFETY: the biases end at `end`, asserted above.
    unsafe {
        for i in 0..n {
            let mut sb = 0.0;
            for r in 0..rows {
                sb += *dp.add(r * n + i);
            }
            *gp.add(b + i) = sb;
        }
        adam_avx512(
            a,
            std::slice::from_raw_parts_mut(pp.add(b), n),
            std::slice::from_raw_parts(gp.add(b), n),
            std::slice::from_raw_parts_mut(mp.add(b), n),
            std::slice::from_raw_parts_mut(vp.add(b), n),
        )
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A shape whose sizes overflow (`4·k` and `n·k` wrap to small numbers)
    /// is refused by the bounds checks, at every level, before any access
    /// (a cold review's reproducer: the unchecked products let the kernel
    /// read past an empty input).
    #[test]
    fn wrapping_shapes_are_refused() {
        let a = Adam32 {
            beta1: 0.9,
            one_minus_beta1: 0.1,
            beta2: 0.999,
            one_minus_beta2: 0.001,
            eps: 1e-8,
            step: 1e-3,
            inv_sqrt_bc2: 1.0,
            p_min: f32::INFINITY,
            v_min: f32::INFINITY,
            k_max: 0,
        };
        let layer = Affine {
            k: 1 << (usize::BITS - 2),
            n: 4,
            w: 0,
        };
        for level in super::super::available() {
            let simd = Simd::new(level).expect("an available level");
            let refused = std::panic::catch_unwind(|| {
                let (mut p, mut g, mut m, mut v) = ([0f32; 4], [0f32; 4], [0f32; 4], [0f32; 4]);
                backward_adam_simd(
                    simd,
                    layer,
                    &[],
                    &[1.0; 16],
                    &mut p,
                    None,
                    &mut g,
                    (&mut m, &mut v),
                    &a,
                )
            });
            // Below AVX-512 nothing runs (`false`); at AVX-512 the checks panic.
            assert!(
                matches!(refused, Err(_) | Ok(false)),
                "{level}: ran on a wrapping shape"
            );
        }
    }
}
