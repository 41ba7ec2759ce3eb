//! SIMD behind one door: every `unsafe` block, every `core::arch` intrinsic
//! and the run-time choice of vector unit live here, and nowhere else in the
//! crate (`#![deny(unsafe_code)]` outside this module). The rest of the crate
//! calls safe functions.
//!
//! Two kinds of fast code:
//! - Plain Rust compiled once per [`Level`]: a [`Kernel`] whose
//!   `#[inline(always)]` body [`dispatch`] compiles into one
//!   `#[target_feature]` entry per level (the loops are written without FMA
//!   and with a fixed summation order, so every level computes the same bits;
//!   only the speed differs). `kernel!` (crate-internal) writes the
//!   `Kernel` for a function.
//! - Hand-written AVX-512 kernels ([`dense`], [`update`], [`layer`]), each
//!   beside the plain reference whose bits it must reproduce; the reference is
//!   what every other level runs.
//!
//! The level is the widest the CPU has, detected once; `DPO_LAB_SIMD=plain|avx2|avx512`
//! forces one (see [`configured`]), and [`with_level`] forces one in-process (tests).
//!
//! Why not the `multiversion` or `pulp` crates: a forced level must be selectable at
//! run time, which `multiversion` cannot do (it always takes the best target; its calls
//! are also generated, with their `unsafe`, in each caller). `pulp` can be forced, but its
//! levels are x86-64-v3/v4, not AVX2/AVX-512F, and it is a large dependency for one trait.
//!
//! This module imports nothing from the rest of the crate.

use std::fmt;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Mutex, OnceLock};

pub mod alloc;
pub mod dense;
pub mod layer;
pub mod native;
pub mod root;
pub mod update;

/// The environment variable that forces a [`Level`].
pub const ENV: &str = "DPO_LAB_SIMD";

/// A vector instruction set the fast code can be compiled for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// The baseline target (SSE2 on x86_64): the reference path.
    Plain,
    /// AVX2 (256-bit registers).
    Avx2,
    /// AVX-512F (512-bit registers, and the hand-written kernels).
    Avx512,
}

impl Level {
    /// Every level, narrowest first.
    pub const ALL: [Level; 3] = [Level::Plain, Level::Avx2, Level::Avx512];

    /// The name `DPO_LAB_SIMD` takes.
    pub fn name(self) -> &'static str {
        match self {
            Level::Plain => "plain",
            Level::Avx2 => "avx2",
            Level::Avx512 => "avx512",
        }
    }

    /// Parses a [`Level::name`].
    pub fn parse(s: &str) -> Option<Level> {
        Level::ALL.into_iter().find(|l| l.name() == s)
    }

    /// The CPU feature the level needs (`None` for plain).
    pub fn feature(self) -> Option<&'static str> {
        match self {
            Level::Plain => None,
            Level::Avx2 => Some("avx2"),
            Level::Avx512 => Some("avx512f"),
        }
    }

    /// Whether this CPU can run the level.
    pub fn supported(self) -> bool {
        match self {
            Level::Plain => true,
            #[cfg(target_arch = "x86_64")]
            Level::Avx2 => std::is_x86_feature_detected!("avx2"),
            #[cfg(target_arch = "x86_64")]
            Level::Avx512 => std::is_x86_feature_detected!("avx512f"),
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The levels this CPU can run, narrowest first (always starts with plain).
pub fn available() -> Vec<Level> {
    Level::ALL.into_iter().filter(|l| l.supported()).collect()
}

/// The widest level this CPU can run.
pub fn detected() -> Level {
    *available().last().expect("plain is always available")
}

/// Why a level cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LevelError {
    /// `DPO_LAB_SIMD` names no level.
    Unknown(String),
    /// The level needs an instruction set this CPU lacks; `from_env` when
    /// `DPO_LAB_SIMD` asked for it.
    Missing {
        /// The level asked for.
        level: Level,
        /// Whether `DPO_LAB_SIMD` asked for it.
        from_env: bool,
    },
}

impl fmt::Display for LevelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = |ls: &[Level]| ls.iter().map(|l| l.name()).collect::<Vec<_>>().join(", ");
        match self {
            LevelError::Unknown(v) => write!(
                f,
                "{ENV}=`{v}` is not a SIMD level; allowed: {} (or unset: the widest this CPU has)",
                names(&Level::ALL)
            ),
            LevelError::Missing { level, from_env } => {
                let asked = if *from_env {
                    format!("{ENV}=`{level}`")
                } else {
                    format!("SIMD level `{level}`")
                };
                write!(
                    f,
                    "{asked} needs {}, which this CPU lacks; allowed here: {}",
                    level.feature().unwrap_or("nothing"),
                    names(&available())
                )
            }
        }
    }
}

impl std::error::Error for LevelError {}

/// The level a value of `DPO_LAB_SIMD` asks for: unset or empty means
/// `detected`, a level the CPU lacks (`supported` says no) is an error.
pub fn choose(
    env: Option<&str>,
    detected: Level,
    supported: impl Fn(Level) -> bool,
) -> Result<Level, LevelError> {
    match env.filter(|v| !v.is_empty()) {
        None => Ok(detected),
        Some(v) => {
            let level = Level::parse(v).ok_or_else(|| LevelError::Unknown(v.to_string()))?;
            if supported(level) {
                Ok(level)
            } else {
                Err(LevelError::Missing {
                    level,
                    from_env: true,
                })
            }
        }
    }
}

/// The level `DPO_LAB_SIMD` sets, or the widest the CPU has when it is
/// unset; read once. The binaries call this first and exit with its error;
/// the library panics with the same message at its first vector kernel.
pub fn configured() -> Result<Level, LevelError> {
    static CONFIGURED: OnceLock<Result<Level, LevelError>> = OnceLock::new();
    CONFIGURED
        .get_or_init(|| {
            let env = std::env::var(ENV).ok();
            choose(env.as_deref(), detected(), Level::supported)
        })
        .clone()
}

/// The level in force, encoded `level as u8 + 1`; 0 until first resolved.
/// A global, not a thread-local, so that rayon's workers see a forced level.
static ACTIVE: AtomicU8 = AtomicU8::new(0);

fn encode(l: Level) -> u8 {
    l as u8 + 1
}

fn decode(x: u8) -> Option<Level> {
    Level::ALL.get(usize::from(x).checked_sub(1)?).copied()
}

/// The level the fast code runs at now: forced by [`with_level`], else [`configured`].
#[inline]
pub fn level() -> Level {
    match decode(ACTIVE.load(Ordering::Relaxed)) {
        Some(l) => l,
        None => resolve(),
    }
}

#[cold]
fn resolve() -> Level {
    let l = configured().unwrap_or_else(|e| panic!("{e}"));
    // A concurrent `with_level` may have stored its level first; it wins.
    let _ = ACTIVE.compare_exchange(0, encode(l), Ordering::Relaxed, Ordering::Relaxed);
    decode(ACTIVE.load(Ordering::Relaxed)).unwrap_or(l)
}

/// Runs `f` with every kernel, on every thread, at `level`, then restores
/// the previous level. Calls are serialised by a lock (two tests forcing
/// different levels cannot interleave); not reentrant. Code running
/// meanwhile outside `f` also sees the level, which changes no result, only
/// speed: every level computes the same bits.
pub fn with_level<R>(level: Level, f: impl FnOnce() -> R) -> Result<R, LevelError> {
    static LOCK: Mutex<()> = Mutex::new(());
    if !level.supported() {
        return Err(LevelError::Missing {
            level,
            from_env: false,
        });
    }
    // A panic in an earlier `f` poisons nothing that matters here.
    let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    struct Restore(u8);
    impl Drop for Restore {
        fn drop(&mut self) {
            ACTIVE.store(self.0, Ordering::Relaxed);
        }
    }
    let _restore = Restore(ACTIVE.swap(encode(level), Ordering::Relaxed));
    Ok(f())
}

/// Proof that the CPU runs a level: only this module makes one, after
/// checking, so a hand-written kernel given a `Simd` of its level is safe to
/// call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Simd {
    level: Level,
}

impl Simd {
    /// The baseline, which every CPU runs.
    pub const PLAIN: Simd = Simd {
        level: Level::Plain,
    };

    /// The level in force ([`level`]).
    #[inline]
    pub fn current() -> Simd {
        Simd { level: level() }
    }

    /// `level`, if this CPU runs it.
    pub fn new(level: Level) -> Option<Simd> {
        level.supported().then_some(Simd { level })
    }

    /// The level this token proves.
    #[inline(always)]
    pub fn level(self) -> Level {
        self.level
    }
}

/// A computation compiled once per [`Level`] (plain Rust; the compiler
/// vectorises it for each), normally written with `kernel!` (crate-internal).
/// `run` must be `#[inline(always)]`, and call `#[inline(always)]` code, so
/// that the whole body is compiled into each level's `#[target_feature]`
/// entry; the `Simd` it receives is a constant there, so a `match` on its
/// level selects a hand-written kernel at no cost.
///
/// The arguments (`A` to `F`, `()` where unused) reach each entry as separate
/// parameters, not packed in a struct: Rust tells LLVM that `&mut` slices do
/// not alias only for function parameters, and without that the vectoriser
/// adds run-time overlap checks or gives up (a few per cent on the softmax).
pub trait Kernel {
    /// First argument.
    type A;
    /// Second argument.
    type B;
    /// Third argument.
    type C;
    /// Fourth argument.
    type D;
    /// Fifth argument.
    type E;
    /// Sixth argument.
    type F;
    /// What the computation returns.
    type Output;
    /// The computation.
    #[allow(clippy::too_many_arguments)]
    fn run(
        simd: Simd,
        a: Self::A,
        b: Self::B,
        c: Self::C,
        d: Self::D,
        e: Self::E,
        f: Self::F,
    ) -> Self::Output;
}

/// Runs `K` at the level in force.
#[inline(always)]
pub fn dispatch<K: Kernel>(a: K::A, b: K::B, c: K::C, d: K::D, e: K::E, f: K::F) -> K::Output {
    dispatch_at::<K>(Simd::current(), a, b, c, d, e, f)
}

/// Runs `K` compiled for `simd`'s level.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub fn dispatch_at<K: Kernel>(
    simd: Simd,
    a: K::A,
    b: K::B,
    c: K::C,
    d: K::D,
    e: K::E,
    f: K::F,
) -> K::Output {
    match simd.level {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: a `Simd` of this level exists only if the CPU runs it.
        Level::Avx512 => unsafe { entry_avx512::<K>(a, b, c, d, e, f) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above.
        Level::Avx2 => unsafe { entry_avx2::<K>(a, b, c, d, e, f) },
        _ => K::run(Simd::PLAIN, a, b, c, d, e, f),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn entry_avx512<K: Kernel>(
    a: K::A,
    b: K::B,
    c: K::C,
    d: K::D,
    e: K::E,
    f: K::F,
) -> K::Output {
    let simd = Simd {
        level: Level::Avx512,
    };
    K::run(simd, a, b, c, d, e, f)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn entry_avx2<K: Kernel>(a: K::A, b: K::B, c: K::C, d: K::D, e: K::E, f: K::F) -> K::Output {
    K::run(Simd { level: Level::Avx2 }, a, b, c, d, e, f)
}

/// Defines `fn NAME<'a, ...>(args) [-> RET] { body }` (at most six
/// arguments) whose body is a [`Kernel`]: compiled for each [`Level`] and run
/// at the one in force. The body should call `#[inline(always)]` code, so
/// that all of it is compiled per level. A leading `[simd]` names the level's
/// [`Simd`] token in the body; `[simd at lvl]` also makes the function take
/// the token to run at as a first parameter `lvl: Simd` (tests).
macro_rules! kernel {
    ([$simd:ident at $at:ident] $(#[$meta:meta])* $vis:vis fn $name:ident $(<$($lt:lifetime),+>)? ($($arg:ident : $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$meta])*
        $vis fn $name $(<$($lt),+>)? ($at: $crate::fast::Simd, $($arg: $ty),*) $(-> $ret)? {
            $crate::fast::kernel!(@impl [$simd] [$($($lt),+)?] [$($arg: $ty),*] [$($ret)?] $body);
            $crate::fast::kernel!(@call [$crate::fast::dispatch_at::<K $(<$($lt),+>)?>] [$at] $($arg),*)
        }
    };
    ([$simd:ident] $($rest:tt)*) => {
        $crate::fast::kernel!(@plain [$simd] $($rest)*);
    };
    (@plain [$($simd:ident)?] $(#[$meta:meta])* $vis:vis fn $name:ident $(<$($lt:lifetime),+>)? ($($arg:ident : $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$meta])*
        $vis fn $name $(<$($lt),+>)? ($($arg: $ty),*) $(-> $ret)? {
            $crate::fast::kernel!(@impl [$($simd)?] [$($($lt),+)?] [$($arg: $ty),*] [$($ret)?] $body);
            $crate::fast::kernel!(@call [$crate::fast::dispatch::<K $(<$($lt),+>)?>] [] $($arg),*)
        }
    };
    (@plain $($rest:tt)*) => {
        compile_error!("kernel!: expected `fn name<'a, ...>(arg: Type, ...) [-> Ret] { body }` with at most six arguments");
    };
    (@impl [$($simd:ident)?] [$($lt:lifetime),*] [$($arg:ident : $ty:ty),*] [$($ret:ty)?] $body:block) => {
        // The argument types as the marker's phantom, so that the bounds they
        // imply between lifetimes (`&'u mut Update<'a>`: `'a: 'u`) hold in the impl.
        struct K<$($lt),*>(::core::marker::PhantomData<($($ty,)*)>);
        impl<$($lt),*> $crate::fast::Kernel for K<$($lt),*> {
            $crate::fast::kernel!(@types $($ty),*);
            type Output = $crate::fast::kernel!(@ret $($ret)?);
            #[inline(always)]
            #[allow(unused_variables, clippy::too_many_arguments, clippy::unused_unit)]
            fn run(
                simd: $crate::fast::Simd,
                a: Self::A,
                b: Self::B,
                c: Self::C,
                d: Self::D,
                e: Self::E,
                f: Self::F,
            ) -> Self::Output {
                $(let $simd = simd;)?
                $crate::fast::kernel!(@bind [a b c d e f] $($arg)*);
                $body
            }
        }
    };
    (@bind [$($p:ident)*]) => {};
    (@bind [$p:ident $($ps:ident)*] $arg:ident $($args:ident)*) => {
        let $arg = $p;
        $crate::fast::kernel!(@bind [$($ps)*] $($args)*);
    };
    (@types) => { $crate::fast::kernel!(@types (), (), (), (), (), ()); };
    (@types $a:ty) => { $crate::fast::kernel!(@types $a, (), (), (), (), ()); };
    (@types $a:ty, $b:ty) => { $crate::fast::kernel!(@types $a, $b, (), (), (), ()); };
    (@types $a:ty, $b:ty, $c:ty) => { $crate::fast::kernel!(@types $a, $b, $c, (), (), ()); };
    (@types $a:ty, $b:ty, $c:ty, $d:ty) => { $crate::fast::kernel!(@types $a, $b, $c, $d, (), ()); };
    (@types $a:ty, $b:ty, $c:ty, $d:ty, $e:ty) => { $crate::fast::kernel!(@types $a, $b, $c, $d, $e, ()); };
    (@types $a:ty, $b:ty, $c:ty, $d:ty, $e:ty, $f:ty) => {
        type A = $a;
        type B = $b;
        type C = $c;
        type D = $d;
        type E = $e;
        type F = $f;
    };
    (@call [$($f:tt)*] [$($at:ident)?]) => { $($f)*($($at,)? (), (), (), (), (), ()) };
    (@call [$($f:tt)*] [$($at:ident)?] $a:ident) => { $($f)*($($at,)? $a, (), (), (), (), ()) };
    (@call [$($f:tt)*] [$($at:ident)?] $a:ident, $b:ident) => { $($f)*($($at,)? $a, $b, (), (), (), ()) };
    (@call [$($f:tt)*] [$($at:ident)?] $a:ident, $b:ident, $c:ident) => { $($f)*($($at,)? $a, $b, $c, (), (), ()) };
    (@call [$($f:tt)*] [$($at:ident)?] $a:ident, $b:ident, $c:ident, $d:ident) => { $($f)*($($at,)? $a, $b, $c, $d, (), ()) };
    (@call [$($f:tt)*] [$($at:ident)?] $a:ident, $b:ident, $c:ident, $d:ident, $e:ident) => { $($f)*($($at,)? $a, $b, $c, $d, $e, ()) };
    (@call [$($f:tt)*] [$($at:ident)?] $a:ident, $b:ident, $c:ident, $d:ident, $e:ident, $g:ident) => { $($f)*($($at,)? $a, $b, $c, $d, $e, $g) };
    (@ret) => { () };
    (@ret $ret:ty) => { $ret };
    ($($rest:tt)*) => {
        $crate::fast::kernel!(@plain [] $($rest)*);
    };
}
pub(crate) use kernel;

#[cfg(test)]
pub(crate) mod testing {
    //! Helpers for the kernels' tests.
    use super::{Level, Simd};

    /// A deterministic stream of values in `[-1, 1)` (SplitMix64), with
    /// signed zeros now and then.
    pub struct Values(u64);

    impl Values {
        pub fn new(seed: u64) -> Self {
            Values(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x1234_5678)
        }

        /// The next 64 raw bits.
        pub fn bits(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }

        pub fn next_f64(&mut self) -> f64 {
            let z = self.bits();
            match z % 23 {
                0 => 0.0,
                1 => -0.0,
                _ => (z >> 11) as f64 / (1u64 << 52) as f64 - 1.0,
            }
        }

        pub fn vec(&mut self, n: usize) -> Vec<f64> {
            (0..n).map(|_| self.next_f64()).collect()
        }

        /// [`Values::vec`] rounded to float32 (signed zeros kept).
        pub fn vec32(&mut self, n: usize) -> Vec<f32> {
            self.vec(n).iter().map(|&x| x as f32).collect()
        }
    }

    /// The token of `level`; panics (the test fails, loudly) if this CPU
    /// lacks it: the tests that call this are ignored at build time on CPUs
    /// without it (see build.rs), so reaching it means the binary moved.
    pub fn token(level: Level) -> Simd {
        Simd::new(level).unwrap_or_else(|| {
            panic!(
                "this CPU lacks {}; the test was built on one that has it",
                level.feature().unwrap_or("?")
            )
        })
    }

    /// Bitwise equality of two slices, naming the first difference.
    pub fn assert_same_bits(a: &[f64], b: &[f64], what: &str) {
        assert_eq!(a.len(), b.len(), "{what}: lengths");
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert_eq!(x.to_bits(), y.to_bits(), "{what}[{i}]: {x} vs {y}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_names_round_trip() {
        for l in Level::ALL {
            assert_eq!(Level::parse(l.name()), Some(l));
        }
        assert_eq!(Level::parse("AVX2"), None);
    }

    #[test]
    fn env_value_is_checked() {
        let all = |_| true;
        assert_eq!(choose(None, Level::Avx2, all), Ok(Level::Avx2));
        assert_eq!(choose(Some(""), Level::Avx2, all), Ok(Level::Avx2));
        assert_eq!(choose(Some("plain"), Level::Avx512, all), Ok(Level::Plain));
        let e = choose(Some("sse9"), Level::Avx2, all).unwrap_err();
        assert_eq!(e, LevelError::Unknown("sse9".into()));
        let msg = e.to_string();
        assert!(
            msg.contains(ENV) && msg.contains("plain, avx2, avx512"),
            "{msg}"
        );
        let e = choose(Some("avx512"), Level::Avx2, |l| l != Level::Avx512).unwrap_err();
        assert_eq!(
            e,
            LevelError::Missing {
                level: Level::Avx512,
                from_env: true
            }
        );
        let msg = e.to_string();
        assert!(msg.contains(ENV) && msg.contains("avx512f"), "{msg}");
    }

    #[test]
    fn plain_is_always_available_and_detection_is_the_widest() {
        let a = available();
        assert_eq!(a[0], Level::Plain);
        assert_eq!(detected(), *a.last().unwrap());
        assert!(Simd::new(Level::Plain).is_some());
    }

    #[test]
    fn with_level_forces_and_restores() {
        let before = level();
        for l in available() {
            assert_eq!(with_level(l, level), Ok(l));
            assert_eq!(with_level(l, || Simd::current().level()), Ok(l));
        }
        assert_eq!(level(), before);
        for l in Level::ALL.into_iter().filter(|l| !l.supported()) {
            assert!(with_level(l, || ()).is_err());
        }
    }

    kernel! {
        [simd at at]
        fn which() -> Level {
            simd.level()
        }
    }

    /// A kernel sees the level it was dispatched at.
    #[test]
    fn dispatch_runs_at_the_token_level() {
        for l in available() {
            assert_eq!(which(Simd::new(l).unwrap()), l);
        }
    }
}
