use dpo_lab::studies::{calibrate, scenarios};
use std::path::Path;
fn main() {
    let exp = Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments");
    let which = std::env::args().nth(1).unwrap_or_default();
    if which != "scen" {
        let plan = calibrate::Plan::load(&exp.join("calibrate.toml")).unwrap();
        let facts = calibrate::calibrate(&plan, &|m| eprintln!("{m}")).unwrap();
        dpo_lab::plots::calibration::calibration_figure(Path::new("/tmp/cal/calibration"), &facts)
            .unwrap();
        println!(
            "{}",
            dpo_lab::present::calibration::calibration_markdown(&facts, "").unwrap()
        );
    }
    let plan = scenarios::Plan::load(&exp.join("scenario-effect.toml")).unwrap();
    let s = scenarios::scenario_effect(&plan).unwrap();
    println!(
        "{}",
        dpo_lab::present::scenarios::scenario_markdown(&s).unwrap()
    );
}
