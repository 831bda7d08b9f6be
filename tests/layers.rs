//! The crate's layers import downwards only. This test reads every file under src/, finds each
//! path into another top-level module (`use crate::…`, inline `crate::…`, `$crate::…` and
//! `super::…` that climbs out of the module), and fails on any edge outside the allowed table
//! or on a circle. It is a small tokenizer rather than a full parser: comments, strings and
//! character literals are skipped, `use` groups (`crate::{a, b::c}`) are expanded, and inline
//! `mod x { … }` blocks are tracked so that `super::` resolves from the right place.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Which top-level modules each module may import. Everything else is refused.
const ALLOWED: &[(&str, &[&str])] = &[
    ("api", &[]),
    ("model", &["api"]),
    ("governance", &["model", "api"]),
    ("plan", &["governance", "model", "api"]),
    ("evaluate", &["governance", "plan", "model", "api"]),
    ("aws", &["plan", "model", "api"]),
    // Kubernetes helpers shared by the operator, the CLI and the catalogue.
    ("cluster", &["plan", "model", "api"]),
    (
        "operator",
        &["evaluate", "aws", "cluster", "plan", "model", "api"],
    ),
    (
        "catalogue",
        &["evaluate", "cluster", "plan", "model", "api"],
    ),
    (
        "cli",
        &[
            "operator",
            "catalogue",
            "evaluate",
            "aws",
            "cluster",
            "governance",
            "plan",
            "model",
            "api",
        ],
    ),
];

/// One import: from a file, into a top-level module.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Edge {
    from: String,
    to: String,
    file: PathBuf,
    line: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Ident(String),
    /// `::`
    Path,
    Punct(char),
}

/// Tokens with their line numbers; comments, strings, chars and lifetimes are dropped.
fn tokenize(src: &str) -> Vec<(Tok, usize)> {
    let b: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let (mut i, mut line) = (0, 1);
    while i < b.len() {
        let c = b[i];
        match c {
            '\n' => {
                line += 1;
                i += 1;
            }
            _ if c.is_whitespace() => i += 1,
            '/' if b.get(i + 1) == Some(&'/') => {
                while i < b.len() && b[i] != '\n' {
                    i += 1;
                }
            }
            '/' if b.get(i + 1) == Some(&'*') => {
                let mut depth = 0;
                while i < b.len() {
                    if b[i] == '/' && b.get(i + 1) == Some(&'*') {
                        depth += 1;
                        i += 2;
                    } else if b[i] == '*' && b.get(i + 1) == Some(&'/') {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        if b[i] == '\n' {
                            line += 1;
                        }
                        i += 1;
                    }
                }
            }
            'r' if matches!(b.get(i + 1), Some('"') | Some('#'))
                && raw_string_end(&b, i + 1).is_some() =>
            {
                let end = raw_string_end(&b, i + 1).unwrap_or(b.len());
                line += b[i..end].iter().filter(|c| **c == '\n').count();
                i = end;
            }
            'b' if b.get(i + 1) == Some(&'"') => i += 1,
            '"' => {
                i += 1;
                while i < b.len() && b[i] != '"' {
                    if b[i] == '\\' {
                        i += 1;
                    }
                    if i < b.len() && b[i] == '\n' {
                        line += 1;
                    }
                    i += 1;
                }
                i += 1;
            }
            '\'' => {
                // A char literal ('x', '\n', '\u{1F600}') or a lifetime ('a).
                if b.get(i + 1) == Some(&'\\') {
                    i += 2;
                    while i < b.len() && b[i] != '\'' {
                        i += 1;
                    }
                    i += 1;
                } else if b.get(i + 2) == Some(&'\'') {
                    i += 3;
                } else {
                    i += 1;
                    while i < b.len() && (b[i].is_alphanumeric() || b[i] == '_') {
                        i += 1;
                    }
                }
            }
            ':' if b.get(i + 1) == Some(&':') => {
                out.push((Tok::Path, line));
                i += 2;
            }
            _ if c.is_alphabetic() || c == '_' || c == '$' => {
                let start = i;
                i += 1;
                while i < b.len() && (b[i].is_alphanumeric() || b[i] == '_') {
                    i += 1;
                }
                out.push((Tok::Ident(b[start..i].iter().collect()), line));
            }
            _ => {
                out.push((Tok::Punct(c), line));
                i += 1;
            }
        }
    }
    out
}

/// `r"…"`, `r#"…"#`: the index after the closing quote, when `at` starts a raw string.
fn raw_string_end(b: &[char], at: usize) -> Option<usize> {
    let mut i = at;
    let mut hashes = 0;
    while b.get(i) == Some(&'#') {
        hashes += 1;
        i += 1;
    }
    if b.get(i) != Some(&'"') {
        return None;
    }
    i += 1;
    while i < b.len() {
        if b[i] == '"' && (0..hashes).all(|h| b.get(i + 1 + h) == Some(&'#')) {
            return Some(i + 1 + hashes);
        }
        i += 1;
    }
    Some(b.len())
}

/// The module path of a file: src/a/b.rs and src/a/b/mod.rs are `[a, b]`, src/lib.rs is `[]`.
fn module_path(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).expect("under src");
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod") | Some("lib") | Some("main")
    ) {
        parts.pop();
    }
    parts
}

/// Every path that leaves through `crate::` or `super::`, resolved from the crate root to its
/// first two segments (`["operator", "context"]`). Groups after `crate::{` yield one path per
/// item.
fn imports(module: &[String], toks: &[(Tok, usize)]) -> Vec<(Vec<String>, usize)> {
    let mut out = Vec::new();
    // Inline modules open at a brace depth; `super` inside climbs out of them first.
    let mut inline: Vec<usize> = Vec::new();
    let mut depth = 0usize;
    let ident = |i: usize| match toks.get(i) {
        Some((Tok::Ident(s), _)) => Some(s.as_str()),
        _ => None,
    };
    let is = |i: usize, t: &Tok| toks.get(i).map(|(x, _)| x) == Some(t);
    let mut i = 0;
    while i < toks.len() {
        let line = toks[i].1;
        match &toks[i].0 {
            Tok::Punct('{') => {
                depth += 1;
                // `mod name {` (the ident before is the name, `mod` before that).
                if i >= 2 && ident(i - 2) == Some("mod") && ident(i - 1).is_some() {
                    inline.push(depth);
                }
            }
            Tok::Punct('}') => {
                if inline.last() == Some(&depth) {
                    inline.pop();
                }
                depth = depth.saturating_sub(1);
            }
            Tok::Ident(s) if (s == "crate" || s == "$crate") && is(i + 1, &Tok::Path) => {
                // (`pub(crate)` is not followed by `::`, so visibilities never get here.)
                for top in after_root(toks, i + 2) {
                    out.push((top, line));
                }
            }
            Tok::Ident(s) if s == "super" && is(i + 1, &Tok::Path) => {
                // Count the `super::` chain; each climbs one module, inline ones first.
                let mut ups = 1;
                let mut j = i + 2;
                while ident(j) == Some("super") && is(j + 1, &Tok::Path) {
                    ups += 1;
                    j += 2;
                }
                let inline_ups = ups.min(inline.len());
                let file_ups = ups - inline_ups;
                if file_ups > 0 {
                    let base: Vec<String> =
                        module[..module.len().saturating_sub(file_ups)].to_vec();
                    for rest in after_root(toks, j) {
                        let mut path = base.clone();
                        path.extend(rest);
                        path.truncate(2);
                        out.push((path, line));
                    }
                }
                i = j;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    out
}

/// After `crate::` or the last `super::` (at `i`): the paths named, up to two segments each.
fn after_root(toks: &[(Tok, usize)], i: usize) -> Vec<Vec<String>> {
    let ident = |i: usize| match toks.get(i) {
        Some((Tok::Ident(s), _)) => Some(s.clone()),
        _ => None,
    };
    let path_at = |i: usize| {
        let mut path = vec![ident(i)?];
        if toks.get(i + 1).map(|t| &t.0) == Some(&Tok::Path) {
            path.extend(ident(i + 2));
        }
        Some(path)
    };
    match toks.get(i).map(|(t, _)| t) {
        Some(Tok::Ident(_)) => path_at(i).into_iter().collect(),
        Some(Tok::Punct('{')) => {
            // Items at depth 1 of the group: each comma-separated item's leading path.
            let mut paths = Vec::new();
            let mut depth = 0;
            let mut expect_item = true;
            for (k, (t, _)) in toks.iter().enumerate().skip(i) {
                match t {
                    Tok::Punct('{') => depth += 1,
                    Tok::Punct('}') => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    Tok::Punct(',') if depth == 1 => expect_item = true,
                    Tok::Ident(_) if depth == 1 && expect_item => {
                        paths.extend(path_at(k));
                        expect_item = false;
                    }
                    _ => {}
                }
            }
            paths
        }
        _ => Vec::new(),
    }
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every import of every file under src/: (the file's module path, the imported path).
fn all_imports() -> Vec<(Vec<String>, PathBuf, Vec<String>, usize)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut out = Vec::new();
    for file in files {
        let module = module_path(&src, &file);
        let text = std::fs::read_to_string(&file).expect("read file");
        let toks = tokenize(&text);
        let rel = file.strip_prefix(&src).unwrap_or(&file).to_path_buf();
        for (path, line) in imports(&module, &toks) {
            out.push((module.clone(), rel.clone(), path, line));
        }
    }
    out
}

fn edges() -> Vec<Edge> {
    let mut edges = Vec::new();
    for (module, file, path, line) in all_imports() {
        let Some(from) = module.first().cloned() else {
            continue; // lib.rs only declares the modules.
        };
        if from == "bin" {
            continue;
        }
        let to = path[0].clone();
        if to != from && to != "self" && to != "super" {
            edges.push(Edge {
                from,
                to,
                file,
                line,
            });
        }
    }
    edges
}

#[test]
fn every_import_follows_the_layers() {
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    let mut wrong = Vec::new();
    for e in edges() {
        let ok = allowed
            .get(e.from.as_str())
            .is_some_and(|to| to.contains(&e.to.as_str()));
        if !ok {
            wrong.push(format!(
                "src/{}:{}: {} imports {}",
                e.file.display(),
                e.line,
                e.from,
                e.to
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "imports outside the allowed layers (see ALLOWED in tests/layers.rs):\n{}",
        wrong.join("\n")
    );
}

#[test]
fn every_top_level_module_has_a_layer() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let lib = std::fs::read_to_string(src.join("lib.rs")).expect("lib.rs");
    let declared: BTreeSet<String> = tokenize(&lib)
        .windows(2)
        .filter_map(|w| match (&w[0].0, &w[1].0) {
            (Tok::Ident(m), Tok::Ident(name)) if m == "mod" => Some(name.clone()),
            _ => None,
        })
        .collect();
    let layered: BTreeSet<String> = ALLOWED.iter().map(|(m, _)| m.to_string()).collect();
    let missing: Vec<_> = declared.difference(&layered).collect();
    assert!(
        missing.is_empty(),
        "modules declared in src/lib.rs without a layer in tests/layers.rs: {missing:?}"
    );
}

#[test]
fn the_layers_have_no_circle() {
    // The allowed table itself must be acyclic, and so must the edges actually found.
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (from, tos) in ALLOWED {
        graph
            .entry(from.to_string())
            .or_default()
            .extend(tos.iter().map(|t| t.to_string()));
    }
    for e in edges() {
        graph.entry(e.from).or_default().insert(e.to);
    }
    if let Some(c) = find_circle(&graph) {
        panic!("import circle: {}", c.join(" → "));
    }
}

/// A circle in a directed graph, as the path that closes it, if there is one.
fn find_circle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = stack.iter().position(|s| s == n) {
            let mut circle = stack[at..].to_vec();
            circle.push(n.to_string());
            return Some(circle);
        }
        if done.contains(n) {
            return None;
        }
        stack.push(n.to_string());
        for m in graph.get(n).into_iter().flatten() {
            if let Some(c) = visit(m, graph, stack, done) {
                return Some(c);
            }
        }
        stack.pop();
        done.insert(n.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|n| visit(n, graph, &mut Vec::new(), &mut done))
}

/// Inside each top-level module, its files import each other without a circle either (the
/// operator's apply → context → cloud → apply was one).
#[test]
fn no_module_has_a_circle_inside() {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, _, path, _) in all_imports() {
        if module.len() < 2 || path.len() < 2 || module[0] != path[0] || module[1] == path[1] {
            continue;
        }
        let from = format!("{}::{}", module[0], module[1]);
        let to = format!("{}::{}", path[0], path[1]);
        graph.entry(from).or_default().insert(to);
    }
    if let Some(c) = find_circle(&graph) {
        panic!("import circle inside a module: {}", c.join(" → "));
    }
}

#[test]
fn nothing_under_src_compiles_a_file_from_tests() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let offenders: Vec<String> = files
        .iter()
        .filter(|f| {
            let text = std::fs::read_to_string(f).unwrap_or_default();
            text.contains("#[path") && text.contains("tests/")
                || text.contains("include!(\"../") && text.contains("tests/")
        })
        .map(|f| f.display().to_string())
        .collect();
    assert!(
        offenders.is_empty(),
        "src includes files from tests/: {offenders:?}"
    );
}

/// The parser itself: it must see what a `use` line, an inline path, a group, `$crate` and a
/// climbing `super` name, and nothing in comments or strings.
#[test]
fn the_import_parser_sees_every_form() {
    let text = r##"
use crate::api::X;
use crate::{model::Names, plan::{self, Plan}};
// use crate::cli::Nope;
/* crate::cli::Nope */
const S: &str = "crate::cli::Nope";
const R: &str = r#"crate::cli::Nope"#;
pub(crate) fn f<'a>(x: &'a str) -> char { let _ = crate::aws::call(); 'c' }
macro_rules! m { () => { $crate::cluster::MANAGER } }
fn g() { super::super::governance::check(); super::sibling(); }
mod tests { use super::*; fn h() { super::super::super::evaluate::run(); } }
"##;
    let toks = tokenize(text);
    let module = vec!["operator".to_string(), "reconcile".to_string()];
    let found: BTreeSet<String> = imports(&module, &toks)
        .into_iter()
        .map(|(p, _)| p[0].clone())
        .collect();
    let expected: BTreeSet<String> = [
        "api",
        "model",
        "plan",
        "aws",
        "cluster",
        "governance",
        "operator",
        "evaluate",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(found, expected);
    // Two segments, resolved from the crate root: `super::sibling` is operator::sibling.
    let paths: BTreeSet<Vec<String>> = imports(&module, &toks)
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    let path = |a: &str, b: &str| vec![a.to_string(), b.to_string()];
    for p in [
        path("model", "Names"),
        vec!["plan".to_string()],
        path("operator", "sibling"),
        path("governance", "check"),
        path("cluster", "MANAGER"),
        path("evaluate", "run"),
    ] {
        assert!(paths.contains(&p), "{p:?} not in {paths:?}");
    }
}
