//! Tells the tests which vector levels the building CPU has, so that a test
//! of a level it lacks is reported as ignored, with the reason, instead of
//! passing without testing anything (libtest cannot ignore at run time). A
//! test binary moved to a CPU without the level fails loudly instead.

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rustc-check-cfg=cfg(dpo_lab_cpu_avx2)");
    println!("cargo::rustc-check-cfg=cfg(dpo_lab_cpu_avx512)");
    // Only when building for the CPU this script runs on.
    #[cfg(target_arch = "x86_64")]
    if std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("x86_64") {
        if std::is_x86_feature_detected!("avx2") {
            println!("cargo::rustc-cfg=dpo_lab_cpu_avx2");
        }
        if std::is_x86_feature_detected!("avx512f") {
            println!("cargo::rustc-cfg=dpo_lab_cpu_avx512");
        }
    }
}
