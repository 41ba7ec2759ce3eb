//! README.md quotes `experiments/fig2.toml`; the quote must stay the config.

use dpo_lab::io::config::Config;
use std::path::Path;

#[test]
fn readme_fig2_block_is_fig2_toml() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let at = readme
        .find("`experiments/fig2.toml`:\n\n```toml\n")
        .expect("README quotes fig2.toml");
    let body = &readme[at..];
    let start = body.find("```toml\n").unwrap() + "```toml\n".len();
    let end = start + body[start..].find("```").unwrap();
    let quoted = Config::from_toml_str(&body[start..end]).unwrap();
    let file = Config::load(&root.join("experiments/fig2.toml")).unwrap();
    assert_eq!(quoted.resolved().unwrap(), file.resolved().unwrap());
}
