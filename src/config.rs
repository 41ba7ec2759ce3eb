//! Run configuration: one TOML file determines a run completely. Parsing
//! rejects unknown fields; [`Config::build`] checks every value's range and
//! turns the config into the typed [`RunSpec`] the training loop runs.

use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::loss::{self, PairLoss};
use crate::optim::OptimizerKind;
use crate::policy::{Activation, Mlp, Policy, Tabular};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// A run config as written in TOML. Optional fields take the defaults listed
/// on each; [`Config::resolved`] fills them in, so the resolved config written
/// next to a run's outputs states every value used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Seeds the policy's initialisation (default 0).
    #[serde(default)]
    pub seed: u64,
    /// Number of training updates (full-batch epochs), >= 1.
    pub epochs: i64,
    /// Record metrics every this many epochs (default 1); the last epoch is always recorded.
    #[serde(default)]
    pub record_every: Option<i64>,
    pub policy: PolicyConfig,
    pub data: DataConfig,
    #[serde(default)]
    pub reference: ReferenceConfig,
    pub loss: LossConfig,
    pub optimizer: OptimizerConfig,
}

/// `[policy]`: which policy, and the MLP's settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// `tabular` or `mlp`.
    pub kind: String,
    /// MLP hidden width (default 64).
    pub width: Option<i64>,
    /// MLP activation, `tanh` (default) or `relu`.
    pub activation: Option<String>,
    /// MLP initialisation scale (default 1: PyTorch's `nn.Linear` default).
    pub init_scale: Option<f64>,
}

/// `[data]`: a built-in scenario, or explicit target rows and pairs.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// `scenario1`..`scenario4` (the paper's Figure 3).
    pub scenario: Option<String>,
    /// One target row per prompt for the reference (SFT) step.
    pub targets: Option<Vec<Vec<f64>>>,
    /// `[prompt, chosen, rejected]` triples, 0-based.
    pub pairs: Option<Vec<Vec<i64>>>,
    /// The optimal response of each prompt (only used by Figure 1).
    pub optimal: Option<Vec<i64>>,
    /// The paper's layout with a continuous data distribution: every chosen
    /// response (0-3) starts at this likelihood (0.12 "on-policy", 0.02 "off-policy").
    pub chosen_start: Option<f64>,
    /// Likewise for the rejected responses (4-7).
    pub rejected_start: Option<f64>,
}

/// `[reference]`: the SFT step that makes `π_0` (ignored by the tabular
/// policy, whose reference logits are exactly `ln(target)`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReferenceConfig {
    /// Stop once every probability is within this of its target (default 1e-5).
    pub tolerance: Option<f64>,
    /// Give up after this many Adam steps (default 100000).
    pub max_steps: Option<i64>,
    /// Adam learning rate of the SFT step (default 0.01).
    pub lr: Option<f64>,
}

/// `[loss]`: `name`, `reduction` and the loss's own parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LossConfig {
    /// A name from [`loss::LOSSES`].
    pub name: String,
    /// `sum` over triples (the paper, default) or `mean`.
    pub reduction: Option<String>,
    /// The loss's parameters, e.g. `beta`.
    #[serde(flatten)]
    pub params: BTreeMap<String, f64>,
}

/// `[optimizer]`: `sgd`, `adam` or `rmsprop` and its settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptimizerConfig {
    pub name: String,
    /// Learning rate, > 0.
    pub lr: f64,
    /// SGD momentum in [0, 1) (default 0).
    pub momentum: Option<f64>,
    /// Adam β1 in [0, 1) (default 0.9).
    pub beta1: Option<f64>,
    /// Adam β2 in [0, 1) (default 0.999).
    pub beta2: Option<f64>,
    /// Adam/RMSprop ε > 0 (default 1e-8).
    pub eps: Option<f64>,
    /// RMSprop smoothing α in [0, 1) (default 0.99).
    pub alpha: Option<f64>,
}

/// How per-triple losses combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reduction {
    Sum,
    Mean,
}

/// Settings of the SFT step that builds the reference.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReferenceSettings {
    pub tolerance: f64,
    pub max_steps: usize,
    pub lr: f64,
}

/// A validated, typed run: everything the training loop needs.
#[derive(Debug)]
pub struct RunSpec {
    pub seed: u64,
    pub epochs: usize,
    pub record_every: usize,
    pub policy: Box<dyn Policy>,
    pub data: Dataset,
    pub loss: Box<dyn PairLoss>,
    pub reduction: Reduction,
    pub optimizer: OptimizerKind,
    pub lr: f64,
    pub reference: ReferenceSettings,
}

/// Policy kinds accepted in `policy.kind`.
pub const POLICIES: [&str; 2] = ["tabular", "mlp"];
/// Optimisers accepted in `optimizer.name`.
pub const OPTIMIZERS: [&str; 3] = ["sgd", "adam", "rmsprop"];

fn check_int(field: &str, v: i64, min: i64) -> Result<usize> {
    if v < min {
        return Err(Error::config(
            field,
            format!("= {v} is out of range; must be an integer >= {min}"),
        ));
    }
    Ok(v as usize)
}

fn check_f64(field: &str, v: f64, ok: bool, allowed: &str) -> Result<f64> {
    if !(v.is_finite() && ok) {
        return Err(Error::config(
            field,
            format!("= {v} is out of range; must be {allowed}"),
        ));
    }
    Ok(v)
}

fn positive(field: &str, v: f64) -> Result<f64> {
    check_f64(field, v, v > 0.0, "a finite number > 0")
}

fn unit(field: &str, v: f64) -> Result<f64> {
    check_f64(field, v, (0.0..1.0).contains(&v), "a number in [0, 1)")
}

fn not_for(field: &str, set: bool, only: &str) -> Result<()> {
    if set {
        return Err(Error::config(field, format!("only applies to {only}")));
    }
    Ok(())
}

impl Config {
    /// Parses a config from TOML text; unknown fields are errors.
    pub fn from_toml_str(text: &str) -> Result<Self> {
        toml::from_str(text).map_err(|e| {
            Error::config(
                "<config>",
                format!("is not a valid run config: {}", e.to_string().trim_end()),
            )
        })
    }

    /// Reads and parses a config file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::io(path, format!("cannot read config: {e}")))?;
        Self::from_toml_str(&text).map_err(|e| match e {
            Error::Config { msg, .. } => Error::config(path.display().to_string(), msg),
            other => other,
        })
    }

    /// The config as TOML text.
    pub fn to_toml_string(&self) -> String {
        toml::to_string(self).expect("a Config always serialises")
    }

    /// The same config with every default written out (after validation).
    pub fn resolved(&self) -> Result<Self> {
        let spec = self.build()?;
        let mut c = self.clone();
        c.record_every = Some(spec.record_every as i64);
        if c.policy.kind == "mlp" {
            c.policy.width.get_or_insert(64);
            c.policy.activation.get_or_insert_with(|| "tanh".into());
            c.policy.init_scale.get_or_insert(1.0);
        }
        c.reference = ReferenceConfig {
            tolerance: Some(spec.reference.tolerance),
            max_steps: Some(spec.reference.max_steps as i64),
            lr: Some(spec.reference.lr),
        };
        let ls = loss::spec(&c.loss.name)?;
        let values = loss::resolve_params(ls, &c.loss.params)?;
        c.loss.params = ls
            .params
            .iter()
            .zip(values)
            .map(|(p, v)| (p.name.to_string(), v))
            .collect();
        c.loss.reduction.get_or_insert_with(|| "sum".into());
        let o = &mut c.optimizer;
        match spec.optimizer {
            OptimizerKind::Sgd { momentum } => o.momentum = Some(momentum),
            OptimizerKind::Adam { beta1, beta2, eps } => {
                o.beta1 = Some(beta1);
                o.beta2 = Some(beta2);
                o.eps = Some(eps);
            }
            OptimizerKind::RmsProp { alpha, eps } => {
                o.alpha = Some(alpha);
                o.eps = Some(eps);
            }
        }
        Ok(c)
    }

    /// Validates every field and builds the typed run.
    pub fn build(&self) -> Result<RunSpec> {
        let epochs = check_int("epochs", self.epochs, 1)?;
        let record_every = check_int("record_every", self.record_every.unwrap_or(1), 1)?;
        let data = self.data.build()?;
        let policy = self.policy.build(data.n_prompts, data.n_responses)?;
        let ls = loss::spec(&self.loss.name)?;
        let loss = (ls.build)(&loss::resolve_params(ls, &self.loss.params)?);
        let reduction = match self.loss.reduction.as_deref().unwrap_or("sum") {
            "sum" => Reduction::Sum,
            "mean" => Reduction::Mean,
            other => {
                return Err(Error::config(
                    "loss.reduction",
                    format!("unknown reduction `{other}`; allowed: sum, mean"),
                ))
            }
        };
        let (optimizer, lr) = self.optimizer.build()?;
        let r = &self.reference;
        let reference = ReferenceSettings {
            tolerance: positive("reference.tolerance", r.tolerance.unwrap_or(1e-5))?,
            max_steps: check_int("reference.max_steps", r.max_steps.unwrap_or(100_000), 1)?,
            lr: positive("reference.lr", r.lr.unwrap_or(0.01))?,
        };
        Ok(RunSpec {
            seed: self.seed,
            epochs,
            record_every,
            policy,
            data,
            loss,
            reduction,
            optimizer,
            lr,
            reference,
        })
    }
}

impl PolicyConfig {
    fn build(&self, n_prompts: usize, n_responses: usize) -> Result<Box<dyn Policy>> {
        match self.kind.as_str() {
            "tabular" => {
                not_for(
                    "policy.width",
                    self.width.is_some(),
                    "policy.kind = \"mlp\"",
                )?;
                not_for(
                    "policy.activation",
                    self.activation.is_some(),
                    "policy.kind = \"mlp\"",
                )?;
                not_for(
                    "policy.init_scale",
                    self.init_scale.is_some(),
                    "policy.kind = \"mlp\"",
                )?;
                Ok(Box::new(Tabular {
                    n_prompts,
                    n_responses,
                }))
            }
            "mlp" => {
                let width = check_int("policy.width", self.width.unwrap_or(64), 1)?;
                let name = self.activation.as_deref().unwrap_or("tanh");
                let activation = Activation::parse(name).ok_or_else(|| {
                    Error::config(
                        "policy.activation",
                        format!(
                            "unknown activation `{name}`; allowed: {}",
                            Activation::NAMES.join(", ")
                        ),
                    )
                })?;
                let init_scale = positive("policy.init_scale", self.init_scale.unwrap_or(1.0))?;
                Ok(Box::new(Mlp {
                    n_prompts,
                    n_responses,
                    width,
                    activation,
                    init_scale,
                }))
            }
            other => Err(Error::config(
                "policy.kind",
                format!("unknown policy `{other}`; allowed: {}", POLICIES.join(", ")),
            )),
        }
    }
}

fn index(field: String, v: i64) -> Result<usize> {
    if v < 0 {
        return Err(Error::config(
            field,
            format!("= {v} is out of range; indices are >= 0"),
        ));
    }
    Ok(v as usize)
}

impl DataConfig {
    /// The data set this config names, validated.
    pub fn build(&self) -> Result<Dataset> {
        let knobs = self.chosen_start.is_some() || self.rejected_start.is_some();
        match (&self.scenario, &self.targets, &self.pairs) {
            (None, None, None) if knobs => {
                if self.optimal.is_some() {
                    return Err(Error::config("data.optimal", "only applies to explicit targets and pairs"));
                }
                let (Some(c), Some(r)) = (self.chosen_start, self.rejected_start) else {
                    return Err(Error::config(
                        if self.chosen_start.is_none() { "data.chosen_start" } else { "data.rejected_start" },
                        "is needed too: `chosen_start` and `rejected_start` go together",
                    ));
                };
                Dataset::from_start_likelihoods(c, r)
            }
            (Some(name), None, None) if !knobs => {
                if self.optimal.is_some() {
                    return Err(Error::config(
                        "data.optimal",
                        "only applies to explicit targets and pairs",
                    ));
                }
                Dataset::scenario(name)
            }
            (None, Some(targets), Some(pairs)) if !knobs => {
                let mut triples = Vec::with_capacity(pairs.len());
                for (i, p) in pairs.iter().enumerate() {
                    if p.len() != 3 {
                        return Err(Error::config(
                            format!("data.pairs[{i}]"),
                            "must be [prompt, chosen, rejected] (3 integers)",
                        ));
                    }
                    let f = || format!("data.pairs[{i}]");
                    triples.push([index(f(), p[0])?, index(f(), p[1])?, index(f(), p[2])?]);
                }
                let optimal = match &self.optimal {
                    None => None,
                    Some(o) => Some(
                        o.iter()
                            .enumerate()
                            .map(|(i, &a)| index(format!("data.optimal[{i}]"), a))
                            .collect::<Result<Vec<_>>>()?,
                    ),
                };
                Dataset::custom(targets.clone(), triples, optimal)
            }
            _ => Err(Error::config(
                "data",
                format!(
                    "needs exactly one of: `scenario` (one of {}); `chosen_start` and `rejected_start`; `targets` and `pairs`",
                    crate::data::SCENARIOS.join(", ")
                ),
            )),
        }
    }
}

impl OptimizerConfig {
    fn build(&self) -> Result<(OptimizerKind, f64)> {
        let lr = positive("optimizer.lr", self.lr)?;
        let eps = |d| positive("optimizer.eps", self.eps.unwrap_or(d));
        let kind = match self.name.as_str() {
            "sgd" => {
                not_for(
                    "optimizer.beta1",
                    self.beta1.is_some(),
                    "optimizer.name = \"adam\"",
                )?;
                not_for(
                    "optimizer.beta2",
                    self.beta2.is_some(),
                    "optimizer.name = \"adam\"",
                )?;
                not_for("optimizer.eps", self.eps.is_some(), "adam and rmsprop")?;
                not_for(
                    "optimizer.alpha",
                    self.alpha.is_some(),
                    "optimizer.name = \"rmsprop\"",
                )?;
                OptimizerKind::Sgd {
                    momentum: unit("optimizer.momentum", self.momentum.unwrap_or(0.0))?,
                }
            }
            "adam" => {
                not_for(
                    "optimizer.momentum",
                    self.momentum.is_some(),
                    "optimizer.name = \"sgd\"",
                )?;
                not_for(
                    "optimizer.alpha",
                    self.alpha.is_some(),
                    "optimizer.name = \"rmsprop\"",
                )?;
                OptimizerKind::Adam {
                    beta1: unit("optimizer.beta1", self.beta1.unwrap_or(0.9))?,
                    beta2: unit("optimizer.beta2", self.beta2.unwrap_or(0.999))?,
                    eps: eps(1e-8)?,
                }
            }
            "rmsprop" => {
                not_for(
                    "optimizer.momentum",
                    self.momentum.is_some(),
                    "optimizer.name = \"sgd\"",
                )?;
                not_for(
                    "optimizer.beta1",
                    self.beta1.is_some(),
                    "optimizer.name = \"adam\"",
                )?;
                not_for(
                    "optimizer.beta2",
                    self.beta2.is_some(),
                    "optimizer.name = \"adam\"",
                )?;
                OptimizerKind::RmsProp {
                    alpha: unit("optimizer.alpha", self.alpha.unwrap_or(0.99))?,
                    eps: eps(1e-8)?,
                }
            }
            other => {
                return Err(Error::config(
                    "optimizer.name",
                    format!(
                        "unknown optimizer `{other}`; allowed: {}",
                        OPTIMIZERS.join(", ")
                    ),
                ))
            }
        };
        Ok((kind, lr))
    }
}
