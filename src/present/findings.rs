//! Findings beyond the paper, presented: the policy-family, similarity and
//! on-policy figures and their REPORT.md sections, from the facts of
//! [`crate::studies::beyond`]. The sentences are `templates/beyond/*.md`;
//! this module formats the numbers and picks the phrases the facts call for.

use crate::error::Result;
use crate::present::names::{optimizer_name, scenario_number};
use crate::present::plots::beyond;
use crate::present::template::{list, render_file, render_line, Facts};
use crate::studies::beyond::{
    family_label, FamiliesFacts, OnPolicyFacts, SimilarityFacts, FAMILIES, ON_POLICY_MODES,
};
use crate::studies::facts::RunSetting;
use std::path::Path;

fn put(f: &mut Facts, k: &str, v: impl ToString) {
    f.insert(k.to_string(), v.to_string());
}

fn phrase(file: &str, key: &str, f: &Facts) -> Result<String> {
    render_line(&format!("beyond/{file}-phrases"), key, f)
}

/// The setting in a figure title: `DPO (β = 0.1) · Adam (lr 0.003) · 2000 epochs`.
fn title_setting(s: &RunSetting) -> String {
    format!(
        "DPO (β = {}) · {} (lr {}) · {} epochs",
        s.param("beta"),
        optimizer_name(&s.optimizer),
        s.lr,
        s.epochs
    )
}

/// The facts every section shares: the robustness study's findings and
/// the setting of its runs.
fn setting_facts(findings: &Facts, s: &RunSetting) -> Facts {
    let mut f = findings.clone();
    put(&mut f, "beta", s.param("beta"));
    put(&mut f, "n_pairs", s.n_pairs);
    put(&mut f, "epochs", s.epochs);
    put(&mut f, "reduction", &s.reduction);
    put(&mut f, "optimizer", optimizer_name(&s.optimizer));
    put(&mut f, "lr", s.lr);
    f
}

/// The policy-families section of the report; `findings` holds the
/// robustness study's finding sentences.
pub fn families_markdown(fam: &FamiliesFacts, findings: &Facts) -> Result<String> {
    let mut f = setting_facts(findings, &fam.setting);
    put(&mut f, "base_file", &fam.base_file);
    put(
        &mut f,
        "dim",
        fam.loglinear_dim.map_or("?".into(), |d| d.to_string()),
    );
    put(&mut f, "n_seeds", fam.n_seeds);
    put(&mut f, "n_runs", fam.n_runs);

    let mut table = String::from(
        "| policy | scenario | drop | degradation | dispersion | peak avg chosen | final avg chosen |\n|---|---|---|---|---|---|---|",
    );
    for r in &fam.rows {
        table.push_str(&format!(
            "\n| {} | {} | {} | {} | {} | {} | {} |",
            family_label(&r.family),
            r.scenario,
            r.drop.pm(1),
            r.degradation.pm(3),
            r.dispersion.pm(4),
            r.peak_avg_chosen.pm(3),
            r.final_avg_chosen.pm(3)
        ));
    }
    put(&mut f, "table", table);

    let mut bullets = Vec::new();
    for sh in &fam.shows {
        let mut b = Facts::new();
        let (mut yes, mut no) = (Vec::new(), Vec::new());
        for s in &sh.families {
            if s.shows {
                yes.push(family_label(&s.family).to_string());
            } else {
                let mut n = Facts::new();
                put(&mut n, "family", family_label(&s.family));
                put(&mut n, "largest", format!("{:.3}", s.largest));
                no.push(phrase("families", "not-shown", &n)?);
            }
        }
        put(&mut b, "yes", list(&yes));
        put(&mut b, "not", list(&no));
        let who = match (yes.is_empty(), no.is_empty()) {
            (_, true) => "who-all",
            (true, false) => "who-none",
            (false, false) => "who-some",
        };
        let who = phrase("families", who, &b)?;
        put(&mut b, "who", who);
        put(&mut b, "score", &sh.score);
        put(&mut b, "threshold", sh.threshold);
        put(
            &mut b,
            "unit",
            if sh.unit.is_empty() {
                String::new()
            } else {
                format!(" {}", sh.unit)
            },
        );
        let means: Vec<String> = sh
            .families
            .iter()
            .map(|s| format!("{} {:.3}", family_label(&s.family), s.mean))
            .collect();
        put(&mut b, "means", means.join(", "));
        bullets.push(phrase("families", "shows", &b)?);
    }
    put(&mut f, "shows", bullets.join("\n"));
    put(&mut f, "verdict", families_verdict(fam)?);

    let mut notes = Vec::new();
    let drop_mean = |key: &str| {
        fam.shows_of("drop")
            .and_then(|s| s.families.iter().find(|x| x.family == key))
            .map(|x| x.mean)
    };
    if let (Some(dt), Some(ds)) = (drop_mean("tabular"), drop_mean("shared-bias")) {
        let ratio = ds / dt;
        let mut n = Facts::new();
        put(&mut n, "ratio", format!("{ratio:.2}"));
        // "About doubles" is how the ratio reads within ±15 % of 2.
        let how = if (1.7..=2.3).contains(&ratio) {
            "how-doubles"
        } else {
            "how-multiplies"
        };
        let how = phrase("families", how, &n)?;
        put(&mut n, "how", how);
        notes.push(phrase("families", "shared-bias", &n)?);
    }
    let loglinear: Vec<&str> = FAMILIES
        .iter()
        .map(|(k, _)| *k)
        .filter(|k| k.starts_with("loglinear"))
        .filter(|k| {
            fam.shows_of("degradation")
                .is_some_and(|s| s.families.iter().any(|x| x.family == *k))
        })
        .collect();
    let shown = |score: &str| {
        fam.shows_of(score)
            .map(|s| s.shown_by())
            .unwrap_or_default()
    };
    let loglinear_shows = shown("degradation")
        .iter()
        .chain(shown("dispersion").iter())
        .any(|k| loglinear.contains(k));
    if !loglinear.is_empty() && !loglinear_shows {
        let largest = fam
            .shows_of("degradation")
            .map(|s| {
                s.families
                    .iter()
                    .filter(|x| loglinear.contains(&x.family.as_str()))
                    .map(|x| x.largest)
                    .fold(f64::NEG_INFINITY, f64::max)
            })
            .unwrap_or(f64::NAN);
        let mut n = Facts::new();
        put(&mut n, "largest", format!("{largest:.3}"));
        notes.push(phrase("families", "sharing-not-sufficient", &n)?);
    }
    put(&mut f, "notes", notes.join("\n"));
    render_file("beyond/families", &f)
}

/// The "In short" verdict of the families section: where each D-property
/// appears, with the tabular and shared-bias baselines singled out.
fn families_verdict(fam: &FamiliesFacts) -> Result<String> {
    let labels =
        |keys: Vec<&str>| -> Vec<&'static str> { keys.into_iter().map(family_label).collect() };
    let shown = |score: &str| {
        fam.shows_of(score)
            .map(|s| s.shown_by())
            .unwrap_or_default()
    };
    let mut verdict = Vec::new();
    if let Some(drop) = fam
        .shows_of("drop")
        .filter(|s| s.families.iter().all(|x| x.shows))
    {
        let mut d = phrase("families", "drop-everywhere", &Facts::new())?;
        let means = &drop.families;
        let increasing = means.windows(2).all(|p| p[1].mean > p[0].mean);
        if increasing && means.len() > 1 {
            let (a, b) = (&means[0], &means[means.len() - 1]);
            let mut n = Facts::new();
            put(&mut n, "first", format!("{:.1}", a.mean));
            put(&mut n, "first_family", family_label(&a.family));
            put(&mut n, "last", format!("{:.1}", b.mean));
            put(&mut n, "last_family", family_label(&b.family));
            d = format!("{d}, {}", phrase("families", "drop-deepens", &n)?);
        }
        verdict.push(d);
    }
    let (deg, disp) = (shown("degradation"), shown("dispersion"));
    let groups: Vec<(Vec<&str>, Vec<&str>)> = if deg == disp {
        vec![(vec!["degradation", "dispersion"], deg)]
    } else {
        vec![(vec!["degradation"], deg), (vec!["dispersion"], disp)]
    };
    for (scores, keys) in groups {
        let both = scores.len() > 1;
        let mut n = Facts::new();
        put(&mut n, "score", list(&scores));
        let in_base = keys.iter().any(|k| *k == "tabular" || *k == "shared-bias");
        put(&mut n, "families", list(&labels(keys.clone())));
        let key = match (keys.is_empty(), in_base, both) {
            (true, _, _) => "absent",
            // Means only: single runs of other families can cross the
            // thresholds (the robustness study's finding, quoted below).
            (false, false, false) => "beyond-base-one",
            (false, false, true) => "beyond-base-both",
            (false, true, false) => "present-one",
            (false, true, true) => "present-both",
        };
        verdict.push(phrase("families", key, &n)?);
    }
    Ok(verdict.join("; "))
}

/// A correlation coefficient, or the phrase for an undefined one.
fn coef(r: f64) -> Result<String> {
    if r.is_finite() {
        Ok(format!("{r:.2}"))
    } else {
        phrase("similarity", "undefined", &Facts::new())
    }
}

/// The similarity section of the report; its finding is quoted from the
/// robustness study's `findings`.
pub fn similarity_markdown(sim: &SimilarityFacts, findings: &Facts) -> Result<String> {
    let s = &sim.setting;
    let mut f = setting_facts(findings, s);
    put(&mut f, "dim", s.dim.map_or("?".into(), |d| d.to_string()));
    put(
        &mut f,
        "scenario",
        s.scenario
            .as_deref()
            .map_or("custom data".to_string(), |sc| {
                format!("scenario {}", scenario_number(sc))
            }),
    );
    let cosines: Vec<String> = sim.cosines.iter().map(|c| c.to_string()).collect();
    put(&mut f, "cosines", cosines.join(", "));
    put(&mut f, "n_seeds", sim.n_seeds);
    put(&mut f, "n_runs", sim.n_runs);
    put(
        &mut f,
        "start_avg_chosen",
        format!("{:.4}", sim.start_avg_chosen),
    );
    let (lo, hi) = (sim.cosines[0], sim.cosines[sim.cosines.len() - 1]);
    let mut arms = Vec::new();
    for a in &sim.arms {
        let mut n = Facts::new();
        put(&mut n, "state", if a.frozen { "frozen" } else { "trained" });
        put(&mut n, "lowest", lo);
        put(&mut n, "highest", hi);
        put(&mut n, "degradation_lowest", a.degradation_lowest.pm(3));
        put(&mut n, "degradation_highest", a.degradation_highest.pm(3));
        put(
            &mut n,
            "peak_degradation",
            format!("{:.3}", a.peak_degradation),
        );
        put(&mut n, "peak_cosine", a.peak_cosine);
        put(&mut n, "r_cosine", coef(a.r_cosine)?);
        put(&mut n, "rho_cosine", coef(a.rho_cosine)?);
        put(&mut n, "r_ches", coef(a.r_ches)?);
        put(&mut n, "rho_ches", coef(a.rho_ches)?);
        put(&mut n, "final_lowest", a.final_chosen_lowest.pm(3));
        put(&mut n, "final_highest", a.final_chosen_highest.pm(3));
        put(&mut n, "n_high", a.n_high);
        put(&mut n, "high_cosine", sim.high_cosine);
        put(&mut n, "displaced", a.displaced);
        put(&mut n, "cosine_moved", format!("{:.3}", a.cosine_moved));
        arms.push(phrase("similarity", "arm", &n)?);
    }
    put(&mut f, "arms", arms.join("\n"));
    // The finding itself (its trend, threshold and spread, with their
    // tests) comes from the robustness study; the sweep's correlations only
    // decide which mechanism is worth explaining.
    let mut verdict = vec![crate::present::template::render(
        "{finding.similarity}",
        findings,
    )?];
    if sim.frozen_follows_cosine {
        verdict.push(phrase("similarity", "geometry-frozen", &f)?);
    }
    if sim.trained_ignores_cosine {
        verdict.push(phrase("similarity", "geometry-trained", &f)?);
    }
    put(&mut f, "verdict", verdict.join(" "));
    render_file("beyond/similarity", &f)
}

/// Draws `plots_dir/families` and `plots_dir/similarity` (PNG + SVG) and
/// returns their two REPORT.md sections.
pub fn beyond_figures(
    plots_dir: &Path,
    fam: &FamiliesFacts,
    sim: &SimilarityFacts,
    findings: &Facts,
) -> Result<String> {
    beyond::families(
        &plots_dir.join("families"),
        &fam.runs,
        &format!(
            "D-scores by policy family · {} · median and p10–p90 over seeds (dots: seeds)",
            title_setting(&fam.setting)
        ),
    )?;
    beyond::similarity(
        &plots_dir.join("similarity"),
        &sim.points,
        &format!(
            "Log-linear policy (d = {}) · {} · {} · chosen/rejected embedding similarity",
            sim.setting.dim.map_or("?".into(), |d| d.to_string()),
            sim.setting
                .scenario
                .as_deref()
                .map_or("custom data".to_string(), |sc| format!(
                    "scenario {}",
                    scenario_number(sc)
                )),
            title_setting(&sim.setting)
        ),
    )?;
    Ok(format!(
        "{}\n\n{}",
        families_markdown(fam, findings)?,
        similarity_markdown(sim, findings)?
    ))
}

/// The on-policy section of the report, with the robustness study's
/// finding on the resampling interval.
pub fn on_policy_markdown(op: &OnPolicyFacts, findings: &Facts) -> Result<String> {
    let mut f = setting_facts(findings, &op.setting);
    put(&mut f, "reward", op.oracle_reward);
    put(&mut f, "temperature", op.temperature);
    put(&mut f, "n_runs", op.n_runs);
    // Scenarios grouped by their starting probability, as it is printed.
    let mut groups: Vec<(String, Vec<&str>)> = Vec::new();
    for (sc, v) in &op.start_optimal {
        let v = format!("{v:.2}");
        match groups.iter_mut().find(|g| g.0 == v) {
            Some(g) => g.1.push(scenario_number(sc)),
            None => groups.push((v, vec![scenario_number(sc)])),
        }
    }
    let starts = groups
        .iter()
        .enumerate()
        .map(|(i, (v, scs))| {
            let mut n = Facts::new();
            put(&mut n, "value", v);
            put(&mut n, "scenarios", list(scs));
            phrase(
                "onpolicy",
                if i == 0 { "start-first" } else { "start-next" },
                &n,
            )
        })
        .collect::<Result<Vec<_>>>()?;
    put(&mut f, "start_optimal", starts.join(", "));
    let mut table = String::from(
        "| data | drop | degradation | dispersion | final optimal prob |\n|---|---|---|---|---|",
    );
    for r in &op.modes {
        let label = ON_POLICY_MODES
            .iter()
            .find(|m| m.0 == r.mode)
            .map_or(r.mode.as_str(), |m| m.1);
        table.push_str(&format!(
            "\n| {label} | {} | {} | {} | {} |",
            r.drop.pm(1),
            r.degradation.pm(2),
            r.dispersion.pm(3),
            r.final_avg_optimal.pm(2)
        ));
    }
    put(&mut f, "table", table);
    let mut paragraphs = Vec::new();
    if let Some(p) = &op.pooled {
        let mut n = Facts::new();
        put(
            &mut n,
            "fixed_degradation",
            format!("{:.2}", p.fixed.degradation),
        );
        put(
            &mut n,
            "every_degradation",
            format!("{:.3}", p.every_epoch.degradation),
        );
        put(
            &mut n,
            "fixed_dispersion",
            format!("{:.3}", p.fixed.dispersion),
        );
        put(
            &mut n,
            "every_dispersion",
            format!("{:.4}", p.every_epoch.dispersion),
        );
        put(
            &mut n,
            "fixed_optimal",
            format!("{:.2}", p.fixed.final_avg_optimal),
        );
        put(
            &mut n,
            "every_optimal",
            format!("{:.2}", p.every_epoch.final_avg_optimal),
        );
        let by: Vec<String> = p
            .optimal_by_scenario
            .iter()
            .map(|(sc, a, b)| format!("{sc} {a:.2} → {b:.2}"))
            .collect();
        put(&mut n, "by_scenario", by.join(", "));
        put(
            &mut n,
            "degradation_lo",
            format!("{:.2}", p.fixed_degradation_span.0),
        );
        put(
            &mut n,
            "degradation_hi",
            format!("{:.2}", p.fixed_degradation_span.1),
        );
        put(
            &mut n,
            "optimal_lo",
            format!("{:.2}", p.fixed_optimal_span.0),
        );
        put(
            &mut n,
            "optimal_hi",
            format!("{:.2}", p.fixed_optimal_span.1),
        );
        put(
            &mut n,
            "degradation_shift",
            format!("{:.2}", p.every_epoch.degradation - p.fixed.degradation),
        );
        put(
            &mut n,
            "optimal_shift",
            format!(
                "{:.2}",
                p.every_epoch.final_avg_optimal - p.fixed.final_avg_optimal
            ),
        );
        paragraphs.push(phrase("onpolicy", "pooled", &n)?);
    }
    paragraphs.push(crate::present::template::render(
        "{finding.onpolicy}",
        findings,
    )?);
    put(&mut f, "paragraphs", paragraphs.join("\n\n"));
    render_file("beyond/onpolicy", &f)
}

/// Draws `plots_dir/on-policy` (PNG + SVG) and returns the on-policy
/// section of REPORT.md.
pub fn on_policy_figures(plots_dir: &Path, op: &OnPolicyFacts, findings: &Facts) -> Result<String> {
    beyond::categories(
        &plots_dir.join("on-policy"),
        &op.runs,
        "on_policy",
        "how the pairs are made",
        &ON_POLICY_MODES,
        &[
            ("drop", "drop (orders of magnitude)"),
            ("degradation", "degradation (relative fall from peak)"),
            ("dispersion", "dispersion (rise of avg unseen)"),
            ("final_avg_optimal", "final probability of the optimal response"),
        ],
        &format!(
            "Fixed pairs (the paper) vs pairs sampled from the current policy · MLP of Figure 2 · DPO (β = {}) · median and p10–p90 over seeds (dots: seeds)",
            op.setting.param("beta")
        ),
    )?;
    on_policy_markdown(op, findings)
}
