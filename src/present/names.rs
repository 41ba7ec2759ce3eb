//! How the names in configs are written in figures and sentences.

/// An optimiser's name as written (`Adam`, `SGD`, `RMSprop`): the display
/// name of its registry entry; names outside the registry as is.
pub use crate::maths::optim::display_name as optimizer_name;

/// `scenario3` as `3` (other data names unchanged).
pub fn scenario_number(s: &str) -> &str {
    s.strip_prefix("scenario").unwrap_or(s)
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
    }
}
