//! How the names in configs are written in figures and sentences.

/// An optimiser's name as written (`Adam`, `SGD`, `RMSprop`): the display
/// name of its registry entry; names outside the registry as is.
pub use crate::maths::optim::display_name as optimizer_name;

/// `scenario3` as `3` (other data names unchanged).
pub fn scenario_number(s: &str) -> &str {
    s.strip_prefix("scenario").unwrap_or(s)
}

/// "seeds 16–31" for a run of consecutive seeds, else the list.
pub fn seed_set(seeds: &[u64]) -> String {
    match seeds {
        [] => "no seeds".into(),
        [s] => format!("seed {s}"),
        [first, .., last] if seeds.windows(2).all(|w| w[1] == w[0] + 1) => {
            format!("seeds {first}–{last}")
        }
        _ => format!(
            "seeds {}",
            seeds
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_read_as_written() {
        assert_eq!(optimizer_name("adam"), "Adam");
        assert_eq!(optimizer_name("lion"), "lion");
        assert_eq!(scenario_number("scenario3"), "3");
        assert_eq!(scenario_number("custom"), "custom");
        assert_eq!(seed_set(&[16, 17, 18]), "seeds 16–18");
        assert_eq!(seed_set(&[1, 5]), "seeds 1, 5");
    }
}
