//! Text templates with named placeholders: prose lives in `templates/`,
//! numbers and verdict words come from computed facts.
//!
//! A template is text in which `{name}` stands for the fact `name` (ASCII
//! letters, digits, `-`, `_`, `.`); `{{` and `}}` are literal braces. A
//! placeholder without a fact is an error, never an empty string, so a
//! sentence cannot silently lose its evidence. [`fill_markers`] renders
//! templates into a Markdown file between
//! `<!-- findings:NAME:begin -->` and `<!-- findings:NAME:end -->`.

use crate::error::{Error, Result};
use std::collections::BTreeMap;

/// Facts by placeholder name, already formatted.
pub type Facts = BTreeMap<String, String>;

/// `(name, text)` of each template file `templates/NAME.md`, compiled in.
macro_rules! templates {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../../templates/", $name, ".md")))),*]
    };
}

/// Every template, by name: its file under `templates/` (compiled in). A
/// test checks that every file there is listed.
pub const TEMPLATES: &[(&str, &str)] = templates![
    "claims",
    "report-robustness",
    "findings/scenarios",
    "findings/sgd",
    "findings/init",
    "findings/families",
    "findings/similarity",
    "findings/onpolicy",
    "calibration",
    "calibration-hit",
    "calibration-miss",
    "scenario-effect",
    "scenario-effect-verdict-none",
    "scenario-effect-verdict-some",
    "scenario-effect-claims",
    "readme-fidelity",
    "readme-fidelity-phrases",
    "report/intro",
    "report/phase",
    "report/beta",
    "report/remedies",
    "report/losses",
    "report/phrases",
    "field/field",
    "field/phrases",
    "beyond/families",
    "beyond/families-phrases",
    "beyond/similarity",
    "beyond/similarity-phrases",
    "beyond/onpolicy",
    "beyond/onpolicy-phrases",
    "zoo/zoo",
    "zoo/phrases",
    "scoreboard/scoreboard",
    "scoreboard/phrases",
    "bench/performance",
    "bench/phrases",
    "precision/precision",
    "precision/late-jump",
    "precision/phrases",
];

/// The text of template `name` (see [`TEMPLATES`]), without its leading
/// comment lines (`<!-- … -->` lines, which document the template).
pub fn template(name: &str) -> Result<String> {
    let text = TEMPLATES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, t)| *t)
        .ok_or_else(|| Error::config("template", format!("`{name}` does not exist")))?;
    Ok(strip_comments(text))
}

/// `text` without the lines that are whole HTML comments.
fn strip_comments(text: &str) -> String {
    text.lines()
        .filter(|l| {
            let l = l.trim();
            !(l.starts_with("<!--") && l.ends_with("-->"))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')
}

/// The placeholder names of `template`, in order of appearance.
pub fn placeholders(template: &str) -> Result<Vec<String>> {
    let mut names = Vec::new();
    scan(template, |name| {
        names.push(name.to_string());
        Ok(String::new())
    })?;
    Ok(names)
}

/// Walks `template`, replacing each placeholder by `fill(name)`.
fn scan(template: &str, mut fill: impl FnMut(&str) -> Result<String>) -> Result<String> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(i) = rest.find(['{', '}']) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if tail.starts_with("{{") || tail.starts_with("}}") {
            out.push_str(&tail[..1]);
            rest = &tail[2..];
            continue;
        }
        if let Some(after) = tail.strip_prefix('}') {
            return Err(Error::config(
                "template",
                format!(
                    "has a stray `}}` before `{}`; write `}}}}` for a literal brace",
                    excerpt(after)
                ),
            ));
        }
        let Some(end) = tail.find('}') else {
            return Err(Error::config(
                "template",
                format!("has an unclosed `{{` at `{}`", excerpt(tail)),
            ));
        };
        let name = &tail[1..end];
        if name.is_empty() || !name.chars().all(is_name_char) {
            return Err(Error::config(
                "template",
                format!(
                    "has `{{{name}}}`, which is not a placeholder (letters, digits, `-`, `_`, `.`); write `{{{{` and `}}}}` for literal braces"
                ),
            ));
        }
        out.push_str(&fill(name)?);
        rest = &tail[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The first characters of `s`, for error messages.
fn excerpt(s: &str) -> String {
    s.chars().take(40).collect()
}

/// Renders `template` with `facts`; errors on any placeholder without a fact.
pub fn render(template: &str, facts: &Facts) -> Result<String> {
    scan(template, |name| {
        facts.get(name).cloned().ok_or_else(|| {
            Error::config(
                "template",
                format!("needs the fact `{{{name}}}`, which was not computed"),
            )
        })
    })
}

/// Renders the template file `name` with `facts`, trimmed.
pub fn render_file(name: &str, facts: &Facts) -> Result<String> {
    render(&template(name)?, facts)
        .map(|s| s.trim().to_string())
        .map_err(|e| match e {
            Error::Config { msg, .. } => Error::config(format!("templates/{name}.md"), msg),
            other => other,
        })
}

/// The line `key: text` of template `name`, a file of such lines (phrases
/// that a verdict picks from, as `templates/claims.md`), without its key.
pub fn line(name: &str, key: &str) -> Result<String> {
    let text = template(name)?;
    let found = text.lines().find_map(|l| {
        l.strip_prefix(key)
            .and_then(|r| r.strip_prefix(": "))
            .map(str::to_string)
    });
    found.ok_or_else(|| {
        Error::config(
            format!("templates/{name}.md"),
            format!("has no line `{key}: …`"),
        )
    })
}

/// Whether template `name` has a line `key: …` (an optional phrase).
pub fn has_line(name: &str, key: &str) -> Result<bool> {
    let prefix = format!("{key}: ");
    Ok(template(name)?.lines().any(|l| l.starts_with(&prefix)))
}

/// Renders the line `key` of template `name` (see [`line()`]) with `facts`.
pub fn render_line(name: &str, key: &str, facts: &Facts) -> Result<String> {
    render(&line(name, key)?, facts).map_err(|e| match e {
        Error::Config { msg, .. } => Error::config(format!("templates/{name}.md ({key})"), msg),
        other => other,
    })
}

/// `items` as a sentence lists them: "a", "a and b", "a, b and c"; "none"
/// when there are none.
pub fn list<S: AsRef<str>>(items: &[S]) -> String {
    match items {
        [] => "none".into(),
        [one] => one.as_ref().into(),
        [init @ .., last] => format!(
            "{} and {}",
            init.iter()
                .map(AsRef::as_ref)
                .collect::<Vec<_>>()
                .join(", "),
            last.as_ref()
        ),
    }
}

/// Replaces the text between each pair of markers
/// `<!-- findings:NAME:begin -->` … `<!-- findings:NAME:end -->` in `text`
/// by `render(NAME)`. Markers on one line take a one-line rendering (for a
/// table cell); on separate lines the rendering becomes its own lines.
pub fn fill_markers(text: &str, render: impl Fn(&str) -> Result<String>) -> Result<String> {
    const OPEN: &str = "<!-- findings:";
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(OPEN) {
        let after = &rest[i + OPEN.len()..];
        let Some(close) = after.find(" -->") else {
            return Err(Error::config("marker", "`<!-- findings:` is never closed"));
        };
        let tag = &after[..close];
        let Some(name) = tag.strip_suffix(":begin") else {
            return Err(Error::config(
                "marker",
                format!("`{OPEN}{tag} -->` has no `<!-- findings:{tag}:begin -->` before it"),
            ));
        };
        let begin = format!("{OPEN}{name}:begin -->");
        let end = format!("{OPEN}{name}:end -->");
        let body_start = i + begin.len();
        let Some(j) = rest[body_start..].find(&end) else {
            return Err(Error::config("marker", format!("`{begin}` has no `{end}`")));
        };
        let body = &rest[body_start..body_start + j];
        let rendered = render(name)?;
        out.push_str(&rest[..body_start]);
        if body.contains('\n') {
            out.push('\n');
            out.push_str(&rendered);
            out.push('\n');
        } else {
            if rendered.contains('\n') {
                return Err(Error::config(
                    "marker",
                    format!("`{begin}` is inline but its text `{name}` has several lines"),
                ));
            }
            out.push_str(&rendered);
        }
        out.push_str(&end);
        rest = &rest[body_start + j + end.len()..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(pairs: &[(&str, &str)]) -> Facts {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn substitutes_named_placeholders_and_escapes() {
        let f = facts(&[("n", "16"), ("s3-dispersion.base.cmp", "smaller than")]);
        let out = render("{s3-dispersion.base.cmp} over {n} seeds; {{literal}}", &f).unwrap();
        assert_eq!(out, "smaller than over 16 seeds; {literal}");
        assert_eq!(
            placeholders("a {x} b {y.z} {{c}}").unwrap(),
            vec!["x".to_string(), "y.z".to_string()]
        );
    }

    #[test]
    fn a_missing_placeholder_is_an_error() {
        let e = render("degrades in {k} runs", &facts(&[])).unwrap_err();
        assert!(e.to_string().contains("`{k}`"), "{e}");
        let e = render("{a, b}", &facts(&[])).unwrap_err();
        assert!(e.to_string().contains("not a placeholder"), "{e}");
        assert!(render("{open", &facts(&[])).is_err());
        assert!(render("stray } brace", &facts(&[])).is_err());
    }

    #[test]
    fn markers_are_filled_inline_and_as_blocks() {
        let text = "| a | <!-- findings:x:begin -->old<!-- findings:x:end --> |\n\
<!-- findings:y:begin -->\nold\nlines\n<!-- findings:y:end -->\nrest";
        let out = fill_markers(text, |n| Ok(format!("new {n}"))).unwrap();
        assert_eq!(
            out,
            "| a | <!-- findings:x:begin -->new x<!-- findings:x:end --> |\n\
<!-- findings:y:begin -->\nnew y\n<!-- findings:y:end -->\nrest"
        );
        // Filling twice gives the same text.
        assert_eq!(fill_markers(&out, |n| Ok(format!("new {n}"))).unwrap(), out);
        assert!(fill_markers("<!-- findings:x:begin --> no end", |_| Ok(String::new())).is_err());
        assert!(
            fill_markers("<!-- findings:x:begin -->a<!-- findings:x:end -->", |_| Ok(
                "two\nlines".into()
            ))
            .is_err()
        );
    }

    #[test]
    fn lists_read_naturally() {
        assert_eq!(list::<&str>(&[]), "none");
        assert_eq!(list(&["a"]), "a");
        assert_eq!(list(&["a", "b", "c"]), "a, b and c");
    }

    #[test]
    fn keyed_lines_render_by_key() {
        let text = "<!-- doc -->\nup: rises from {a}\nupper: not this one";
        let found = text
            .lines()
            .skip(1)
            .find_map(|l| l.strip_prefix("up").and_then(|r| r.strip_prefix(": ")));
        assert_eq!(found, Some("rises from {a}"));
        assert!(line("claims", "drop").unwrap().contains("{drop_thr}"));
        assert!(line("claims", "no-such-claim").is_err());
    }

    /// `TEMPLATES` compiles in every file of `templates/`, and only those.
    #[test]
    fn every_template_file_is_listed() {
        fn walk(dir: &std::path::Path, root: &std::path::Path, out: &mut Vec<String>) {
            for e in std::fs::read_dir(dir).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    walk(&p, root, out);
                } else if p.extension().is_some_and(|x| x == "md") {
                    let rel = p.strip_prefix(root).unwrap().with_extension("");
                    out.push(rel.to_string_lossy().replace('\\', "/"));
                }
            }
        }
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
        let mut files = Vec::new();
        walk(&root, &root, &mut files);
        files.sort();
        let mut listed: Vec<String> = TEMPLATES.iter().map(|(n, _)| n.to_string()).collect();
        listed.sort();
        assert_eq!(listed, files);
    }

    #[test]
    fn every_template_parses() {
        for (name, _) in TEMPLATES {
            placeholders(&template(name).unwrap()).unwrap();
        }
    }
}
