//! Runtime choice of the widest vector unit for a hot loop. The loops built
//! with [`multiversion!`](crate::multiversion) are written without FMA and with a fixed
//! summation order, so every variant computes the same bits; only the speed differs.
//! (Compiling a whole function per variant, rather than a closure inside a
//! target-feature wrapper, is what makes the compiler inline the body into it.)

/// Defines `fn NAME(args) [-> RET] { body }` compiled three times, for
/// AVX-512F, for AVX2 and for the baseline, and dispatching at run time to the
/// widest the CPU has. The body should call `#[inline(always)]` code so that
/// all of it is compiled with the chosen features.
#[macro_export]
macro_rules! multiversion {
    ($(#[$meta:meta])* $vis:vis fn $name:ident ($($arg:ident : $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$meta])*
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f")]
                unsafe fn v512($($arg: $ty),*) $(-> $ret)? $body
                #[target_feature(enable = "avx2")]
                unsafe fn v2($($arg: $ty),*) $(-> $ret)? $body
                if std::is_x86_feature_detected!("avx512f") {
                    // SAFETY: the CPU supports AVX-512F, checked just above.
                    return unsafe { v512($($arg),*) };
                }
                if std::is_x86_feature_detected!("avx2") {
                    // SAFETY: the CPU supports AVX2, checked just above.
                    return unsafe { v2($($arg),*) };
                }
            }
            $body
        }
    };
}
