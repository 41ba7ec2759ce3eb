//! The library's layers, checked from its source: each module may use only
//! modules of its own layer or of the layers below it, and the modules
//! (`layer::module`, e.g. `maths::loss`) import one another without cycles.
//!
//! The graph is read from `crate::a::b` paths in `src/` (comments removed),
//! the same way `../shared/tools/modgraph.py`-style tools read it, but one
//! level finer: inside a layer, a cycle between two modules fails too.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers from the bottom up; a module may import its own layer or lower.
const LAYERS: [(&str, usize); 7] = [
    ("error", 0),
    ("fast", 0),
    ("maths", 1),
    ("engine", 2),
    ("io", 3),
    ("analysis", 4),
    ("studies", 5),
];
/// The layers that are folders of modules (the others are single modules).
const FOLDERS: [&str; 6] = ["maths", "engine", "io", "analysis", "studies", "present"];
/// The top library layer (figures, report templates); the binaries sit above it.
const PRESENT: (&str, usize) = ("present", 6);

fn layer_of(module: &str) -> Option<usize> {
    let top = module.split("::").next()?;
    LAYERS
        .iter()
        .chain(std::iter::once(&PRESENT))
        .find(|(name, _)| *name == top)
        .map(|&(_, l)| l)
}

/// Removes `//` comments (line, doc and inner-doc), which may name modules
/// in prose without importing them.
fn strip_comments(text: &str) -> String {
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The `layer::module` a source file belongs to (`src/maths/loss/dpo.rs` →
/// `maths::loss`), or `None` for the crate root and the binaries.
fn node_of(rel: &Path) -> Option<String> {
    let parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let stem = |s: &str| s.trim_end_matches(".rs").to_string();
    match parts.as_slice() {
        [f] if f == "lib.rs" || f == "main.rs" => None,
        [f] => Some(stem(f)),
        [layer, f] if f == "mod.rs" => Some(layer.clone()),
        [layer, m, ..] => Some(format!("{layer}::{}", stem(m))),
        [] => None,
    }
}

/// The modules a source text imports through `crate::` paths.
fn imports(text: &str) -> BTreeSet<String> {
    let text = strip_comments(text);
    let mut out = BTreeSet::new();
    let mut rest = text.as_str();
    while let Some(i) = rest.find("crate::") {
        let before = rest[..i].chars().last();
        rest = &rest[i + "crate::".len()..];
        // `$crate::` (macros) and `dpo_crate::` are not paths into this crate.
        if matches!(before, Some(c) if c.is_alphanumeric() || c == '_' || c == '$') {
            continue;
        }
        let path: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
            .collect();
        let parts: Vec<&str> = path.split("::").filter(|p| !p.is_empty()).collect();
        match parts.as_slice() {
            [] => {}
            [top] => {
                out.insert(top.to_string());
            }
            [top, m, ..] if FOLDERS.contains(top) => {
                out.insert(format!("{top}::{m}"));
            }
            [top, ..] => {
                out.insert(top.to_string());
            }
        }
    }
    out
}

fn rs_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("src/ is readable") {
        let p = e.expect("a directory entry").path();
        if p.is_dir() {
            rs_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The module graph of a source tree: `layer::module` → the modules it imports.
fn graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    rs_files(src, &mut files);
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in files {
        let rel = f.strip_prefix(src).expect("under src/");
        let Some(node) = node_of(rel) else { continue };
        let text = std::fs::read_to_string(&f).expect("source is UTF-8");
        let entry = g.entry(node.clone()).or_default();
        for t in imports(&text) {
            // A layer's own mod.rs (`present`) may re-export its modules.
            if t != node && !(node.split("::").count() == 1 && t.starts_with(&format!("{node}::")))
            {
                entry.insert(t);
            }
        }
    }
    g
}

/// Every import that points to a higher layer, as `from -> to` lines.
fn upward(g: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    let mut bad = Vec::new();
    for (from, tos) in g {
        let Some(lf) = layer_of(from) else {
            bad.push(format!("{from}: not in any layer"));
            continue;
        };
        for to in tos {
            match layer_of(to) {
                Some(lt) if lt <= lf => {}
                Some(lt) => bad.push(format!("{from} (layer {lf}) -> {to} (layer {lt})")),
                None => bad.push(format!("{from} -> {to}: not in any layer")),
            }
        }
    }
    bad
}

/// The strongly connected components with more than one module (Tarjan).
fn cycles(g: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct T<'a> {
        g: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on: BTreeSet<&'a str>,
        out: Vec<Vec<String>>,
    }
    fn visit<'a>(t: &mut T<'a>, v: &'a str) {
        let i = t.index.len();
        t.index.insert(v, i);
        t.low.insert(v, i);
        t.stack.push(v);
        t.on.insert(v);
        let g = t.g;
        for w in g.get(v).into_iter().flatten() {
            let w = w.as_str();
            if !g.contains_key(w) {
                continue;
            }
            if !t.index.contains_key(w) {
                visit(t, w);
                let m = t.low[v].min(t.low[w]);
                t.low.insert(v, m);
            } else if t.on.contains(w) {
                let m = t.low[v].min(t.index[w]);
                t.low.insert(v, m);
            }
        }
        if t.low[v] == t.index[v] {
            let mut comp = Vec::new();
            while let Some(w) = t.stack.pop() {
                t.on.remove(w);
                comp.push(w.to_string());
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                comp.sort();
                t.out.push(comp);
            }
        }
    }
    let mut t = T {
        g,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in g.keys() {
        if !t.index.contains_key(v.as_str()) {
            visit(&mut t, v);
        }
    }
    t.out
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

#[test]
fn no_module_imports_a_higher_layer() {
    let g = graph(&src());
    assert!(
        g.len() > 30,
        "only {} modules found: the reader is broken",
        g.len()
    );
    let bad = upward(&g);
    assert!(bad.is_empty(), "upward imports:\n{}", bad.join("\n"));
}

#[test]
fn modules_import_one_another_without_cycles() {
    let c = cycles(&graph(&src()));
    assert!(c.is_empty(), "import cycles: {c:?}");
}

/// The checks themselves fail on a tree that breaks the rules.
#[test]
fn the_checks_catch_an_upward_import_and_a_cycle() {
    let dir = std::env::temp_dir().join(format!("dpo-lab-layers-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for (path, text) in [
        (
            "maths/loss.rs",
            "use crate::maths::data::Dataset; // crate::present::x in a comment\n",
        ),
        ("maths/data.rs", "use crate::maths::loss::State;\n"),
        ("engine/train.rs", "use crate::io::config::Config;\n"),
        (
            "io/config.rs",
            "use crate::engine::train::RunSpec;\nmacro_rules! m { () => { $crate::studies::x } }\n",
        ),
    ] {
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
    }
    let g = graph(&dir);
    assert_eq!(
        upward(&g),
        vec!["engine::train (layer 2) -> io::config (layer 3)"]
    );
    assert_eq!(
        cycles(&g),
        vec![
            vec!["engine::train".to_string(), "io::config".to_string()],
            vec!["maths::data".to_string(), "maths::loss".to_string()],
        ]
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Figures and report text draw facts; they never train. Outside its unit
/// tests, no file of `present/` calls the training loop, runs a sweep, fits a
/// reward model or builds a run.
#[test]
fn the_presentation_layer_never_trains() {
    let mut files = Vec::new();
    rs_files(&src().join("present"), &mut files);
    assert!(files.len() > 10, "only {} files in present/", files.len());
    let forbidden = [
        "train(",
        "train_from(",
        "train_with(",
        "prepare(",
        "run_for_report(",
        "run_sweep(",
        "fit_reward_model(",
        ".build()?",
    ];
    let mut bad = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).expect("source is UTF-8");
        let code = strip_comments(text.split("#[cfg(test)]").next().unwrap_or(""));
        for word in forbidden {
            for (i, line) in code.lines().enumerate() {
                let at = line.find(word);
                // `word` must start an identifier (not end one: `fn pretrain(`).
                let starts = at.is_some_and(|j| {
                    j == 0
                        || !line[..j].ends_with(|c: char| c.is_alphanumeric() || c == '_')
                        || word.starts_with('.')
                });
                if starts {
                    bad.push(format!("{}:{}: {}", f.display(), i + 1, line.trim()));
                }
            }
        }
    }
    assert!(bad.is_empty(), "present/ trains:\n{}", bad.join("\n"));
}
