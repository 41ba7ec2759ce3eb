//! The Figure 3 scenario-effect section of REPORT.md, from
//! [`crate::studies::scenarios::ScenarioFacts`].

use super::template::{render_file, Facts};
use crate::analysis::stats::BOOTSTRAP_RESAMPLES;
use crate::error::Result;
use crate::studies::scenarios::{Metric, ScenarioFacts, VariantFacts, CLAIMS};

fn medians(v: &VariantFacts, m: Metric) -> String {
    (0..4)
        .map(|s| {
            let x = v.quantiles[s][m as usize].median;
            if m == Metric::FinalUnseen {
                format!("{x:.3}")
            } else {
                format!("{x:.2}")
            }
        })
        .collect::<Vec<_>>()
        .join(" / ")
}

fn order(v: &VariantFacts, m: Metric) -> String {
    v.order(m)
        .iter()
        .map(|s| format!("s{s}"))
        .collect::<Vec<_>>()
        .join(" > ")
}

/// The REPORT.md section.
pub fn scenario_markdown(f: &ScenarioFacts) -> Result<String> {
    let mut table = String::from(
        "| variant | seeds | final avg chosen s1 / s2 / s3 / s4 | order | final avg unseen s1 / s2 / s3 / s4 | order | peak avg chosen s1 / s2 / s3 / s4 | C1 | C2 | C3 | C4 |\n|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for v in &f.variants {
        let checks: Vec<String> = v
            .checks
            .iter()
            .map(|c| format!("{}/{}", c.agree, c.disagree))
            .collect();
        table.push_str(&format!(
            "| {}{} | {} | {} | {} | {} | {} | {} | {} |\n",
            v.name,
            if v.diverged > 0 {
                format!(" ({} runs diverged)", v.diverged)
            } else {
                String::new()
            },
            format_args!("{}–{}", v.seeds[0], v.seeds[1] - 1),
            medians(v, Metric::FinalChosen),
            order(v, Metric::FinalChosen),
            medians(v, Metric::FinalUnseen),
            order(v, Metric::FinalUnseen),
            medians(v, Metric::PeakChosen),
            checks.join(" | ")
        ));
    }
    let n_comparisons: usize = CLAIMS.iter().map(|c| c.2.len()).sum();
    let agree = |v: &VariantFacts| v.checks.iter().map(|c| c.agree).sum::<usize>();
    let all: Vec<&str> = f
        .variants
        .iter()
        .filter(|v| agree(v) == n_comparisons)
        .map(|v| v.name.as_str())
        .collect();
    // Per claim: how many variants reproduce it fully, and how many contradict it.
    let claim_lines = CLAIMS
        .iter()
        .enumerate()
        .map(|(i, (text, _, pairs))| {
            let full = f
                .variants
                .iter()
                .filter(|v| v.checks[i].agree == pairs.len())
                .count();
            let against = f
                .variants
                .iter()
                .filter(|v| v.checks[i].disagree > 0)
                .count();
            format!(
                "C{} ({text}): fully reproduced by {full} of {} variants, contradicted by at least one comparison in {against}.",
                i + 1,
                f.variants.len()
            )
        })
        .collect::<Vec<_>>()
        .join(" ");
    let mut v = Facts::new();
    v.insert("n_comparisons".into(), n_comparisons.to_string());
    v.insert("claim_lines".into(), claim_lines);
    let verdict = if all.is_empty() {
        let best = f.variants.iter().map(agree).max().unwrap_or(0);
        v.insert("best_agree".into(), best.to_string());
        v.insert(
            "best_variants".into(),
            f.variants
                .iter()
                .filter(|x| agree(x) == best)
                .map(|x| x.name.clone())
                .collect::<Vec<_>>()
                .join("; "),
        );
        render_file("scenario-effect-verdict-none", &v)?
    } else {
        v.insert("variants".into(), all.join("; "));
        render_file("scenario-effect-verdict-some", &v)?
    };
    let mut facts = Facts::new();
    facts.insert(
        "claims".into(),
        CLAIMS
            .iter()
            .enumerate()
            .map(|(i, c)| format!("(C{}) {}", i + 1, c.0))
            .collect::<Vec<_>>()
            .join(", "),
    );
    facts.insert("resamples".into(), BOOTSTRAP_RESAMPLES.to_string());
    facts.insert("table".into(), table.trim_end().to_string());
    facts.insert("verdict".into(), verdict);
    render_file("scenario-effect", &facts)
}
