//! Preference data: the reference model's target rows, the preference pairs,
//! and the paper's four built-in scenarios.

use crate::error::{Error, Result};

/// One preference triple `(x, a+, a-)`, 0-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pair {
    /// The prompt `x`: a row index of [`Dataset::targets`].
    pub prompt: usize,
    /// The preferred response `a+` (the paper's chosen response).
    pub chosen: usize,
    /// The dispreferred response `a-` (the paper's rejected response).
    pub rejected: usize,
}

/// One unpaired label (KTO's data): response `response` of prompt `prompt`
/// marked desirable or undesirable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Labeled {
    /// The prompt `x`.
    pub prompt: usize,
    /// The labelled response `a` of prompt `x`.
    pub response: usize,
    /// True if the label marks `a` desirable, false if undesirable.
    pub desirable: bool,
}

/// A toy data set: target rows of the SFT step (one per prompt), the pairs,
/// and optionally each prompt's optimal response (for Figure 1).
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// Number of prompts (4 in the paper's toy); prompts are one-hot inputs.
    pub n_prompts: usize,
    /// Number of responses per prompt (10 in the paper's toy): the width of a
    /// policy's output row.
    pub n_responses: usize,
    /// `targets[x][a]`: the probability the reference should give `a` at `x`.
    pub targets: Vec<Vec<f64>>,
    /// The preference triples; every epoch uses all of them (full batch).
    pub pairs: Vec<Pair>,
    /// `optimal[x]`: the optimal response for prompt `x`, when known.
    pub optimal: Option<Vec<usize>>,
}

/// Names of the built-in scenarios, in the paper's order.
pub const SCENARIOS: [&str; 4] = ["scenario1", "scenario2", "scenario3", "scenario4"];

/// The paper's four pairs, 0-based: 0 ≻ 4, 1 ≻ 6, 2 ≻ 7, 3 ≻ 5.
pub const PAPER_PAIRS: [(usize, usize, usize); 4] = [(0, 0, 4), (1, 1, 6), (2, 2, 7), (3, 3, 5)];

/// One-line description of a built-in scenario (for figure titles).
pub fn scenario_title(name: &str) -> &'static str {
    match name {
        "scenario1" => "Scenario 1: chosen on-policy, rejected on-policy",
        "scenario2" => "Scenario 2: chosen off-policy, rejected on-policy",
        "scenario3" => "Scenario 3: chosen on-policy, rejected off-policy",
        "scenario4" => "Scenario 4: chosen off-policy, rejected off-policy",
        _ => "custom data",
    }
}

/// The paper's target row, the same for every prompt: responses 0-3 get
/// `chosen`, 4-7 get `rejected`, 8 and 9 share the rest as `tail`.
fn paper_row(chosen: f64, rejected: f64, r8: f64, r9: f64) -> Vec<f64> {
    let mut row = vec![chosen; 4];
    row.extend([rejected; 4]);
    row.extend([r8, r9]);
    row
}

impl Dataset {
    /// A built-in scenario of the paper's section 3.2 (`scenario1`..`scenario4`).
    pub fn scenario(name: &str) -> Result<Self> {
        let row = match name {
            "scenario1" => paper_row(0.12, 0.12, 0.03, 0.01),
            "scenario2" => paper_row(0.02, 0.12, 0.40, 0.04),
            "scenario3" => paper_row(0.12, 0.02, 0.40, 0.04),
            "scenario4" => paper_row(0.02, 0.02, 0.80, 0.04),
            other => {
                return Err(Error::config(
                    "data.scenario",
                    format!(
                        "unknown scenario `{other}`; allowed: {}",
                        SCENARIOS.join(", ")
                    ),
                ))
            }
        };
        Ok(Self::paper_layout(row))
    }

    /// The paper's layout with every chosen response at `chosen` and every
    /// rejected one at `rejected`; the rest of the row goes to responses 8 and
    /// 9 in the ratio 10 : 1 (that of the paper's scenarios 2 and 3), so
    /// `(0.12, 0.02)` and `(0.02, 0.12)` give exactly scenarios 3 and 2.
    pub fn from_start_likelihoods(chosen: f64, rejected: f64) -> Result<Self> {
        for (f, v) in [
            ("data.chosen_start", chosen),
            ("data.rejected_start", rejected),
        ] {
            if !(v.is_finite() && v > 0.0 && v < 0.25) {
                return Err(Error::config(
                    f,
                    format!("= {v} is out of range; must be in (0, 0.25)"),
                ));
            }
        }
        let rest = 1.0 - 4.0 * (chosen + rejected);
        if rest <= 0.0 {
            return Err(Error::config(
                "data.chosen_start",
                format!(
                    "+ data.rejected_start = {} leaves no mass for responses 8-9; 4 * (chosen_start + rejected_start) must be < 1",
                    chosen + rejected
                ),
            ));
        }
        let ds = Self::paper_layout(paper_row(chosen, rejected, rest * 10.0 / 11.0, rest / 11.0));
        ds.validate()?;
        Ok(ds)
    }

    /// The paper's layout (4 prompts, 10 responses, its 4 pairs) with one
    /// target row shared by every prompt.
    pub fn paper_layout(row: Vec<f64>) -> Self {
        let pairs = PAPER_PAIRS
            .iter()
            .map(|&(prompt, chosen, rejected)| Pair {
                prompt,
                chosen,
                rejected,
            })
            .collect();
        Dataset {
            n_prompts: 4,
            n_responses: row.len(),
            targets: vec![row; 4],
            pairs,
            optimal: Some(vec![0, 1, 2, 3]),
        }
    }

    /// Builds and validates a data set from explicit rows and pairs.
    pub fn custom(
        targets: Vec<Vec<f64>>,
        pairs: Vec<[usize; 3]>,
        optimal: Option<Vec<usize>>,
    ) -> Result<Self> {
        let n_prompts = targets.len();
        let n_responses = targets.first().map_or(0, |r| r.len());
        let ds = Dataset {
            n_prompts,
            n_responses,
            targets,
            pairs: pairs
                .into_iter()
                .map(|[prompt, chosen, rejected]| Pair {
                    prompt,
                    chosen,
                    rejected,
                })
                .collect(),
            optimal,
        };
        ds.validate()?;
        Ok(ds)
    }

    /// Checks shapes, that each target row is a distribution with positive
    /// entries (the reference's log-probabilities must be finite), and that
    /// every pair names real, distinct responses.
    pub fn validate(&self) -> Result<()> {
        if self.n_prompts == 0 {
            return Err(Error::config(
                "data.targets",
                "needs at least one row (one per prompt)",
            ));
        }
        if self.n_responses < 2 {
            return Err(Error::config(
                "data.targets",
                "rows need at least 2 responses",
            ));
        }
        for (x, row) in self.targets.iter().enumerate() {
            if row.len() != self.n_responses {
                return Err(Error::config(
                    format!("data.targets[{x}]"),
                    format!(
                        "has {} entries; every row must have {}",
                        row.len(),
                        self.n_responses
                    ),
                ));
            }
            for (a, &p) in row.iter().enumerate() {
                if !(p.is_finite() && p > 0.0) {
                    return Err(Error::config(
                        format!("data.targets[{x}][{a}]"),
                        format!("is {p}; entries must be finite and > 0 (the reference log-probability must be finite)"),
                    ));
                }
            }
            let s: f64 = row.iter().sum();
            if (s - 1.0).abs() > 1e-9 {
                return Err(Error::config(
                    format!("data.targets[{x}]"),
                    format!("sums to {s}; a row must sum to 1 within 1e-9"),
                ));
            }
        }
        if self.pairs.is_empty() {
            return Err(Error::config(
                "data.pairs",
                "needs at least one [prompt, chosen, rejected] triple",
            ));
        }
        for (i, p) in self.pairs.iter().enumerate() {
            let f = format!("data.pairs[{i}]");
            if p.prompt >= self.n_prompts {
                return Err(Error::config(
                    f,
                    format!(
                        "prompt {} is out of range 0..={}",
                        p.prompt,
                        self.n_prompts - 1
                    ),
                ));
            }
            for (what, a) in [("chosen", p.chosen), ("rejected", p.rejected)] {
                if a >= self.n_responses {
                    return Err(Error::config(
                        f,
                        format!(
                            "{what} response {a} is out of range 0..={}",
                            self.n_responses - 1
                        ),
                    ));
                }
            }
            if p.chosen == p.rejected {
                return Err(Error::config(
                    f,
                    format!(
                        "chosen and rejected are both {}; they must differ",
                        p.chosen
                    ),
                ));
            }
        }
        if let Some(opt) = &self.optimal {
            if opt.len() != self.n_prompts {
                return Err(Error::config(
                    "data.optimal",
                    format!("needs one entry per prompt ({})", self.n_prompts),
                ));
            }
            if let Some(&a) = opt.iter().find(|&&a| a >= self.n_responses) {
                return Err(Error::config(
                    "data.optimal",
                    format!("response {a} is out of range 0..={}", self.n_responses - 1),
                ));
            }
        }
        Ok(())
    }

    /// The pairs split into unpaired labels: pair `i` gives entry `2i`,
    /// `(x, a+, desirable)`, and entry `2i + 1`, `(x, a-, undesirable)`.
    /// A response that is chosen in one pair and rejected in another gets
    /// both labels; nothing is merged or deduplicated.
    pub fn unpaired_labels(&self) -> Vec<Labeled> {
        self.pairs
            .iter()
            .flat_map(|p| {
                [
                    Labeled {
                        prompt: p.prompt,
                        response: p.chosen,
                        desirable: true,
                    },
                    Labeled {
                        prompt: p.prompt,
                        response: p.rejected,
                        desirable: false,
                    },
                ]
            })
            .collect()
    }

    /// `in_pair[a]` is true when response `a` appears in some pair (of any prompt).
    pub fn seen_anywhere(&self) -> Vec<bool> {
        let mut seen = vec![false; self.n_responses];
        for p in &self.pairs {
            seen[p.chosen] = true;
            seen[p.rejected] = true;
        }
        seen
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenario_rows_are_distributions() {
        for s in SCENARIOS {
            let d = Dataset::scenario(s).unwrap();
            d.validate().unwrap();
            assert_eq!(d.pairs.len(), 4);
        }
    }
}
