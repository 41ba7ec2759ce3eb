//! What the studies' facts share: a run config's setting in typed form (so
//! that no sentence or figure title types a β or a learning rate in), and
//! the JSON file each study writes next to its outputs.

use crate::error::{Error, Result};
use crate::io::config::Config;
use crate::io::output::write_files;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

/// The setting of a run config, as figures and sentences name it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunSetting {
    /// `policy.kind`.
    pub policy: String,
    /// `policy.width` and `policy.activation` (MLP).
    pub width: Option<i64>,
    /// `policy.activation` (MLP).
    pub activation: Option<String>,
    /// `policy.dim` (log-linear).
    pub dim: Option<i64>,
    /// `data.scenario`, when the data is a built-in scenario.
    pub scenario: Option<String>,
    /// Preference pairs of the data.
    pub n_pairs: usize,
    /// `loss.name` and its parameters (defaults written out).
    pub loss: String,
    /// The loss's parameters by name.
    pub params: BTreeMap<String, f64>,
    /// `loss.reduction` (`sum` or `mean`).
    pub reduction: String,
    /// `optimizer.name` and `optimizer.lr`.
    pub optimizer: String,
    /// `optimizer.lr`.
    pub lr: f64,
    /// Training epochs.
    pub epochs: i64,
}

impl RunSetting {
    /// The setting of `config` (resolved first, so defaults are stated).
    pub fn of(config: &Config) -> Result<Self> {
        let c = config.resolved()?;
        Ok(RunSetting {
            policy: c.policy.kind.clone(),
            width: c.policy.width,
            activation: c.policy.activation.clone(),
            dim: c.policy.dim,
            scenario: c.data.scenario.clone(),
            n_pairs: c.data.build()?.pairs.len(),
            loss: c.loss.name.clone(),
            params: c.loss.params.clone(),
            reduction: c.loss.reduction.clone().unwrap_or_else(|| "sum".into()),
            optimizer: c.optimizer.name.clone(),
            lr: c.optimizer.lr,
            epochs: c.epochs,
        })
    }

    /// The loss parameter `name` (NaN when the loss has none: a sentence
    /// then shows `NaN` rather than a wrong number).
    pub fn param(&self, name: &str) -> f64 {
        self.params.get(name).copied().unwrap_or(f64::NAN)
    }
}

/// The file name of the `base` config a sweep file names (`fig2.toml`).
pub fn sweep_base_file(sweep_file: &Path) -> Result<String> {
    let text = std::fs::read_to_string(sweep_file).map_err(|e| Error::io(sweep_file, e))?;
    let table: toml::Table = text
        .parse()
        .map_err(|e| Error::io(sweep_file, format!("is not TOML: {e}")))?;
    table
        .get("base")
        .and_then(|b| b.as_str())
        .and_then(|b| Path::new(b).file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| Error::config("base", "is missing from the sweep file"))
}

/// Writes `facts` as `dir/facts.json` (pretty-printed; NaN and infinities
/// become `null`, as JSON has no such numbers).
pub fn write_facts<T: Serialize>(dir: &Path, facts: &T) -> Result<()> {
    let mut json = serde_json::to_vec_pretty(facts)
        .map_err(|e| Error::io(dir.join("facts.json"), format!("cannot serialise: {e}")))?;
    json.push(b'\n');
    write_files(dir, &[("facts.json", json)])
}
