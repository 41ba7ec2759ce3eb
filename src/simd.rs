//! Runtime choice of the widest vector unit for a hot loop. The loops run
//! through [`vectorized!`](crate::vectorized) are written without FMA and with a fixed
//! summation order, so every variant computes the same bits; only the speed differs.

/// Evaluates `$body` compiled for AVX-512F or AVX2 when the CPU has them,
/// else as is. Each branch gets its own closure, called once, so the
/// compiler inlines the body into the function that carries the target feature.
#[macro_export]
macro_rules! vectorized {
    ($body:expr) => {{
        #[cfg(target_arch = "x86_64")]
        let r = if std::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU supports AVX-512F, checked just above.
            unsafe { $crate::simd::avx512(|| $body) }
        } else if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2, checked just above.
            unsafe { $crate::simd::avx2(|| $body) }
        } else {
            $body
        };
        #[cfg(not(target_arch = "x86_64"))]
        let r = $body;
        r
    }};
}

/// Calls `f` in a function compiled with AVX-512F enabled.
///
/// # Safety
/// The CPU must support AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
pub unsafe fn avx512<R>(f: impl FnOnce() -> R) -> R {
    f()
}

/// Calls `f` in a function compiled with AVX2 enabled.
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
pub unsafe fn avx2<R>(f: impl FnOnce() -> R) -> R {
    f()
}
