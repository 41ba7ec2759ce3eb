//! Run configuration: one TOML file determines a run completely. Parsing
//! rejects unknown fields; [`Config::build`] checks every value's range and
//! turns the config into the typed [`RunSpec`] the training loop runs.

use crate::engine::reference::ReferenceSettings;
use crate::engine::train::RunSpec;
use crate::error::{Error, Result};
use crate::maths::data::Dataset;
use crate::maths::loss;
use crate::maths::objective;
use crate::maths::optim::{self, OptimizerKind};
use crate::maths::policy::{
    self, Activation, Loglinear, Mlp, MlpInit, Policy, SharedBias, Tabular,
};
use crate::maths::precision::Precision;
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
    /// The float type of the training loop: `f64` (default) or `f32`, an
    /// emulation of float32 storage (see [`crate::maths::precision`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub precision: Option<String>,
    /// `[policy]`: the policy family and its settings.
    pub policy: PolicyConfig,
    /// `[data]`: the scenario, or target rows and pairs.
    pub data: DataConfig,
    /// `[reference]`: the SFT fit that makes `π_0` (all defaults if absent).
    #[serde(default)]
    pub reference: ReferenceConfig,
    /// `[loss]`: the loss or objective and its parameters.
    pub loss: LossConfig,
    /// `[optimizer]`: the optimiser, its learning rate and knobs.
    pub optimizer: OptimizerConfig,
    /// `[on_policy]`: resample the pairs from the current policy (default: off,
    /// the fixed pairs of `[data]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_policy: Option<OnPolicyConfig>,
}

/// `[on_policy]`: true on-policy data (see [`crate::engine::onpolicy`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OnPolicyConfig {
    /// Resample every this many epochs, starting at epoch 0; 0 turns sampling
    /// off (so that a sweep can have on and off as values of one axis).
    pub every: i64,
    /// The oracle's Bradley-Terry temperature, > 0 (default 1).
    pub temperature: Option<f64>,
}

/// `[policy]`: which policy, and its settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// One of [`POLICIES`]: `tabular`, `shared-bias` (tabular logits plus a
    /// per-response bias shared across prompts), `loglinear` (`U Vᵀ + b`) or `mlp`.
    pub kind: String,
    /// MLP hidden width (default 64).
    pub width: Option<i64>,
    /// MLP activation, `tanh` (default) or `relu`.
    pub activation: Option<String>,
    /// MLP initialisation scale (default 1: PyTorch's `nn.Linear` default);
    /// log-linear: the expected norm of each initial embedding row (default 1).
    pub init_scale: Option<f64>,
    /// MLP initialisation family: `uniform` (default; PyTorch's `nn.Linear`
    /// default scaled by `init_scale`) or `xavier` (Glorot uniform, biases 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init: Option<String>,
    /// Log-linear embedding dimension `d` (default 8).
    pub dim: Option<i64>,
    /// Log-linear: keep the response embeddings `V` at their initial value
    /// (default false: `V` trains).
    pub freeze_responses: Option<bool>,
    /// Log-linear: the cosine similarity in [-1, 1] between each pair's
    /// chosen and rejected response embeddings at initialisation (default:
    /// unset, both random). Needs pairs that share no response.
    pub pair_similarity: Option<f64>,
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
    /// A name from [`loss::LOSSES`] (pairwise losses) or
    /// [`objective::OBJECTIVES`] (KTO, `rm-kl`).
    pub name: String,
    /// `sum` over triples (the paper, default) or `mean`.
    pub reduction: Option<String>,
    /// The loss's parameters, e.g. `beta`.
    #[serde(flatten, deserialize_with = "numeric_params")]
    pub params: BTreeMap<String, f64>,
}

/// Reads the loss's parameters, naming any that is not a number.
fn numeric_params<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<BTreeMap<String, f64>, D::Error> {
    use serde::de::Error as _;
    BTreeMap::<String, toml::Value>::deserialize(d)?
        .into_iter()
        .map(|(k, v)| match v {
            toml::Value::Float(f) => Ok((k, f)),
            toml::Value::Integer(i) => Ok((k, i as f64)),
            other => Err(D::Error::custom(format!(
                "`loss.{k}` = {other} is not allowed: besides `name` and `reduction`, every field of [loss] is a numeric parameter of the loss"
            ))),
        })
        .collect()
}

/// `[optimizer]`: `sgd`, `adam` or `rmsprop` and its settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptimizerConfig {
    /// One of [`OPTIMIZERS`]: `sgd`, `adam` or `rmsprop`.
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

/// Policy kinds accepted in `policy.kind`, from least to most parameter sharing.
pub const POLICIES: [&str; 4] = [
    policy::POLICIES[0].name,
    policy::POLICIES[1].name,
    policy::POLICIES[2].name,
    policy::POLICIES[3].name,
];
/// Optimisers accepted in `optimizer.name`.
pub const OPTIMIZERS: [&str; 3] = [
    optim::OPTIMIZERS[0].name,
    optim::OPTIMIZERS[1].name,
    optim::OPTIMIZERS[2].name,
];

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

fn not_for(field: &str, set: bool, only: &str) -> Result<()> {
    if set {
        return Err(Error::config(field, format!("only applies to {only}")));
    }
    Ok(())
}

impl Config {
    /// Parses a config from TOML text; unknown fields are errors.
    pub fn from_toml_str(text: &str) -> Result<Self> {
        toml::from_str(text).map_err(|e| Error::toml("<config>", "is not a valid run config", e))
    }

    /// Reads and parses a config file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::file(path, "cannot read config", e))?;
        Self::from_toml_str(&text).map_err(|e| e.map_field(|_| path.display().to_string()))
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
        c.precision = Some(spec.precision.name().into());
        c.policy = c.policy.with_defaults();
        c.reference = ReferenceConfig {
            tolerance: Some(spec.reference.tolerance),
            max_steps: Some(spec.reference.max_steps as i64),
            lr: Some(spec.reference.lr),
        };
        let (owner, params) = objective::param_specs(&c.loss.name)?;
        let values = loss::resolve_param_list(owner, params, &c.loss.params)?;
        c.loss.params = params
            .iter()
            .zip(values)
            .map(|(p, v)| (p.name.to_string(), v))
            .collect();
        c.loss.reduction.get_or_insert_with(|| "sum".into());
        if let Some(o) = c.on_policy.as_mut() {
            o.temperature.get_or_insert(1.0);
        }
        let o = &mut c.optimizer;
        let kind = spec.optimizer;
        for (k, v) in kind.spec().knobs.iter().zip(kind.knob_values()) {
            *o.knob(k.name) = Some(v);
        }
        Ok(c)
    }

    /// Validates every field and builds the typed run.
    pub fn build(&self) -> Result<RunSpec> {
        let epochs = check_int("epochs", self.epochs, 1)?;
        let record_every = check_int("record_every", self.record_every.unwrap_or(1), 1)?;
        let name = self.precision.as_deref().unwrap_or("f64");
        let precision = Precision::parse(name).ok_or_else(|| {
            Error::config(
                "precision",
                format!(
                    "unknown precision `{name}`; allowed: {}",
                    Precision::NAMES.join(", ")
                ),
            )
        })?;
        let data = self.data.build()?;
        let policy = self.policy.build(&data)?;
        if precision == Precision::F32Native && policy.native().is_none() {
            let kinds: Vec<_> = crate::maths::policy::POLICIES
                .iter()
                .filter(|p| p.native)
                .map(|p| format!("\"{}\"", p.name))
                .collect();
            return Err(Error::config(
                "precision",
                format!(
                    "`f32-native` only applies to policy.kind = {}; use \"f32\" (storage emulation) for this policy",
                    kinds.join(" or ")
                ),
            ));
        }
        let scale = match self.loss.reduction.as_deref().unwrap_or("sum") {
            "sum" => 1.0,
            "mean" => 1.0 / data.pairs.len() as f64,
            other => {
                return Err(Error::config(
                    "loss.reduction",
                    format!("unknown reduction `{other}`; allowed: sum, mean"),
                ))
            }
        };
        let objective = objective::build(&self.loss.name, &self.loss.params, &data, scale)?;
        let on_policy = match &self.on_policy {
            None => None,
            Some(o) if o.every == 0 => {
                positive("on_policy.temperature", o.temperature.unwrap_or(1.0))?;
                None
            }
            Some(o) => {
                if data.optimal.is_none() {
                    return Err(Error::config(
                        "on_policy",
                        "needs each prompt's optimal response (a built-in scenario, or data.optimal)",
                    ));
                }
                Some(crate::engine::onpolicy::OnPolicy {
                    every: check_int("on_policy.every", o.every, 0)?,
                    temperature: positive("on_policy.temperature", o.temperature.unwrap_or(1.0))?,
                })
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
            objective,
            optimizer,
            lr,
            reference,
            on_policy,
            precision,
        })
    }
}

impl PolicyConfig {
    /// The optional fields in declaration order, and whether each is set.
    fn fields_set(&self) -> [(&'static str, bool); 7] {
        [
            ("width", self.width.is_some()),
            ("activation", self.activation.is_some()),
            ("init", self.init.is_some()),
            ("init_scale", self.init_scale.is_some()),
            ("dim", self.dim.is_some()),
            ("freeze_responses", self.freeze_responses.is_some()),
            ("pair_similarity", self.pair_similarity.is_some()),
        ]
    }

    /// Rejects every field that is set but does not apply to this kind
    /// (which fields apply is the registry's [`policy::POLICIES`]).
    fn reject_foreign(&self) -> Result<()> {
        let applies = |kind: &str, field: &str| {
            policy::policy_spec(kind).is_some_and(|p| p.fields.contains(&field))
        };
        for (field, set) in self.fields_set() {
            if set && !applies(&self.kind, field) {
                let owners: Vec<String> = policy::POLICIES
                    .iter()
                    .filter(|p| p.fields.contains(&field))
                    .map(|p| format!("\"{}\"", p.name))
                    .collect();
                not_for(
                    &format!("policy.{field}"),
                    true,
                    &format!("policy.kind = {}", owners.join(" or ")),
                )?;
            }
        }
        Ok(())
    }

    /// This config with every default of its kind written out: the one place
    /// the policies' defaults are applied, for building and for the resolved
    /// config alike.
    pub fn with_defaults(&self) -> PolicyConfig {
        let mut c = self.clone();
        match c.kind.as_str() {
            "mlp" => {
                c.width.get_or_insert(Mlp::DEFAULT_WIDTH as i64);
                c.activation
                    .get_or_insert_with(|| Activation::default().name().into());
                c.init_scale.get_or_insert(Mlp::DEFAULT_INIT_SCALE);
                c.init
                    .get_or_insert_with(|| MlpInit::default().name().into());
            }
            "loglinear" => {
                c.dim.get_or_insert(Loglinear::DEFAULT_DIM as i64);
                c.freeze_responses.get_or_insert(false);
                c.init_scale.get_or_insert(Loglinear::DEFAULT_INIT_SCALE);
            }
            _ => {}
        }
        c
    }

    /// The log-linear policy this config describes for `data` (its pairs
    /// set the embeddings whose similarity `pair_similarity` controls).
    pub fn build_loglinear(&self, data: &Dataset) -> Result<Loglinear> {
        if self.kind != "loglinear" {
            return Err(Error::config(
                "policy.kind",
                format!("= \"{}\" is not \"loglinear\"", self.kind),
            ));
        }
        self.reject_foreign()?;
        let full = self.with_defaults();
        let dim = check_int("policy.dim", full.dim.unwrap_or_default(), 1)?;
        let init_scale = positive("policy.init_scale", full.init_scale.unwrap_or_default())?;
        let pairs: Vec<(usize, usize)> =
            data.pairs.iter().map(|p| (p.chosen, p.rejected)).collect();
        if let Some(s) = self.pair_similarity {
            check_f64(
                "policy.pair_similarity",
                s,
                (-1.0..=1.0).contains(&s),
                "a cosine similarity in [-1, 1]",
            )?;
            if dim < 2 && s.abs() < 1.0 {
                return Err(Error::config(
                    "policy.pair_similarity",
                    format!("= {s} needs policy.dim >= 2 (a second direction); policy.dim = {dim}"),
                ));
            }
            // Each response's embedding can be set from one partner only.
            let mut distinct = pairs.clone();
            distinct.sort_unstable();
            distinct.dedup();
            let mut owner: Vec<Option<usize>> = vec![None; data.n_responses];
            for (i, &(c, r)) in distinct.iter().enumerate() {
                for a in [c, r] {
                    if let Some(j) = owner[a] {
                        return Err(Error::config(
                            "policy.pair_similarity",
                            format!(
                                "needs pairs that share no response, but response {a} is in the pairs {:?} and {:?} (chosen, rejected)",
                                distinct[j], distinct[i]
                            ),
                        ));
                    }
                    owner[a] = Some(i);
                }
            }
        }
        Ok(Loglinear {
            n_prompts: data.n_prompts,
            n_responses: data.n_responses,
            dim,
            freeze_responses: full.freeze_responses.unwrap_or_default(),
            pair_similarity: self.pair_similarity,
            init_scale,
            pairs,
        })
    }

    fn build(&self, data: &Dataset) -> Result<Box<dyn Policy>> {
        let (n_prompts, n_responses) = (data.n_prompts, data.n_responses);
        match self.kind.as_str() {
            "tabular" => {
                self.reject_foreign()?;
                Ok(Box::new(Tabular {
                    n_prompts,
                    n_responses,
                }))
            }
            "shared-bias" => {
                self.reject_foreign()?;
                Ok(Box::new(SharedBias {
                    n_prompts,
                    n_responses,
                }))
            }
            "loglinear" => Ok(Box::new(self.build_loglinear(data)?)),
            "mlp" => {
                self.reject_foreign()?;
                let full = self.with_defaults();
                let width = check_int("policy.width", full.width.unwrap_or_default(), 1)?;
                let name = full.activation.as_deref().unwrap_or_default();
                let activation = Activation::parse(name).ok_or_else(|| {
                    Error::config(
                        "policy.activation",
                        format!(
                            "unknown activation `{name}`; allowed: {}",
                            Activation::NAMES.join(", ")
                        ),
                    )
                })?;
                let init_scale =
                    positive("policy.init_scale", full.init_scale.unwrap_or_default())?;
                let name = full.init.as_deref().unwrap_or_default();
                let init = MlpInit::parse(name).ok_or_else(|| {
                    Error::config(
                        "policy.init",
                        format!(
                            "unknown initialisation `{name}`; allowed: {}",
                            MlpInit::NAMES.join(", ")
                        ),
                    )
                })?;
                Ok(Box::new(Mlp {
                    n_prompts,
                    n_responses,
                    width,
                    activation,
                    init_scale,
                    init,
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
                    crate::maths::data::SCENARIOS.join(", ")
                ),
            )),
        }
    }
}

impl OptimizerConfig {
    /// The `[optimizer]` field of knob `name` (every knob of every registered
    /// optimiser has one).
    fn knob(&mut self, name: &str) -> &mut Option<f64> {
        match name {
            "momentum" => &mut self.momentum,
            "beta1" => &mut self.beta1,
            "beta2" => &mut self.beta2,
            "eps" => &mut self.eps,
            "alpha" => &mut self.alpha,
            other => unreachable!("optimizer knob `{other}` has no config field"),
        }
    }

    /// The knob fields in declaration order, with their values.
    fn knobs(&self) -> [(&'static str, Option<f64>); 5] {
        [
            ("momentum", self.momentum),
            ("beta1", self.beta1),
            ("beta2", self.beta2),
            ("eps", self.eps),
            ("alpha", self.alpha),
        ]
    }

    fn build(&self) -> Result<(OptimizerKind, f64)> {
        let lr = positive("optimizer.lr", self.lr)?;
        let Some(spec) = optim::optimizer_spec(&self.name) else {
            return Err(Error::config(
                "optimizer.name",
                format!(
                    "unknown optimizer `{}`; allowed: {}",
                    self.name,
                    OPTIMIZERS.join(", ")
                ),
            ));
        };
        for (field, value) in self.knobs() {
            if value.is_some() && !spec.knobs.iter().any(|k| k.name == field) {
                let owners: Vec<&str> = optim::OPTIMIZERS
                    .iter()
                    .filter(|o| o.knobs.iter().any(|k| k.name == field))
                    .map(|o| o.name)
                    .collect();
                let only = match owners.as_slice() {
                    [one] => format!("optimizer.name = \"{one}\""),
                    many => many.join(" and "),
                };
                not_for(&format!("optimizer.{field}"), true, &only)?;
            }
        }
        let given = self.knobs();
        let values = spec
            .knobs
            .iter()
            .map(|k| {
                let v = given
                    .iter()
                    .find(|(f, _)| *f == k.name)
                    .and_then(|(_, v)| *v)
                    .or(k.default)
                    .expect("every optimizer knob has a default");
                check_f64(
                    &format!("optimizer.{}", k.name),
                    v,
                    k.domain.contains(v),
                    &k.domain.describe(),
                )
            })
            .collect::<Result<Vec<f64>>>()?;
        Ok(((spec.build)(&values), lr))
    }
}
