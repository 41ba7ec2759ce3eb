//! The Figure 3 scenario-effect section of REPORT.md, from
//! [`crate::studies::scenarios::ScenarioFacts`].

use super::template::{line, render_file, render_line, Facts};
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

/// The claims' statements and the section's phrases (`key: text` lines).
const PHRASES: &str = "scenario-effect-claims";

/// The statement of the claim `id` of [`CLAIMS`].
pub fn claim_text(id: &str) -> Result<String> {
    line(PHRASES, id)
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
                let n = [("diverged".to_string(), v.diverged.to_string())].into();
                format!(" {}", render_line(PHRASES, "diverged", &n)?)
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
        .map(|(i, (id, _, pairs))| {
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
            let n: Facts = [
                ("n", (i + 1).to_string()),
                ("text", claim_text(id)?),
                ("full", full.to_string()),
                ("variants", f.variants.len().to_string()),
                ("against", against.to_string()),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
            render_line(PHRASES, "claim-line", &n)
        })
        .collect::<Result<Vec<_>>>()?
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
            .map(|(i, c)| Ok(format!("(C{}) {}", i + 1, claim_text(c.0)?)))
            .collect::<Result<Vec<_>>>()?
            .join(", "),
    );
    facts.insert("resamples".into(), BOOTSTRAP_RESAMPLES.to_string());
    facts.insert("table".into(), table.trim_end().to_string());
    facts.insert("verdict".into(), verdict);
    render_file("scenario-effect", &facts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::stats::Quantiles;
    use crate::studies::scenarios::ClaimCheck;

    fn variant(name: &str, agree: usize, disagree: usize, diverged: usize) -> VariantFacts {
        let q = |m: f64| Quantiles {
            p10: m,
            median: m,
            p90: m,
            n: 4,
        };
        VariantFacts {
            name: name.into(),
            seeds: [0, 4],
            quantiles: (0..4)
                .map(|s| (0..3).map(|k| q(0.5 - 0.1 * s as f64 + k as f64)).collect())
                .collect(),
            checks: (0..CLAIMS.len())
                .map(|claim| ClaimCheck {
                    claim,
                    diffs: Vec::new(),
                    agree,
                    disagree,
                })
                .collect(),
            diverged,
        }
    }

    /// The sentences the claims' ids and the phrases make, word for word as
    /// they read when they were written in Rust.
    #[test]
    fn claims_read_from_their_template() {
        let f = ScenarioFacts {
            variants: vec![variant("base", 3, 0, 0), variant("f32", 1, 2, 3)],
        };
        let md = scenario_markdown(&f).unwrap();
        for want in [
            "Tested here: (C1) scenario 1 ends with the highest average chosen probability, (C2) scenario 4 ends with the lowest average chosen probability, (C3) scenarios 2-4 end with more unseen mass than scenario 1, (C4) scenarios 2-4 have lower chosen peaks than scenario 1.",
            "C1 (scenario 1 ends with the highest average chosen probability): fully reproduced by 1 of 2 variants, contradicted by at least one comparison in 1. C2 (",
            "| f32 (3 runs diverged) | 0–3 |",
            "| base | 0–3 |",
        ] {
            assert!(md.contains(want), "{want}\n{md}");
        }
    }
}
