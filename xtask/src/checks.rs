//! Static checks of the source tree that `cargo xtask test` runs before compiling
//! anything (plain text parsing, a second each):
//!
//! - [`module_cycles`]: the origin's capability modules form a tree. A module may use
//!   only modules below it; a cycle (catalog → queue → catalog) means two modules can no
//!   longer be understood, changed or tested apart, so it fails the run.
//! - [`code_map_paths`]: every path named in ARCHITECTURE.md's code map exists, so the
//!   map cannot quietly go stale when files move.

use anyhow::{Result, bail};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The origin's modules exempt from the cycle rule: platform pieces every capability
/// may use, and the composition roots that wire all of them.
const EXEMPT: &[&str] = &[
    "app",
    "cache",
    "clock",
    "config",
    "demo",
    "health",
    "http",
    "lib",
    "main",
    "openapi",
    "state",
    "store",
    "telemetry",
    "workers",
];

/// One `crate::<module>` reference: where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub file: String,
    pub line: usize,
}

/// The dependency graph between top-level modules: `from → to → first reference`.
pub type Graph = BTreeMap<String, BTreeMap<String, Reference>>;

/// Fails when the origin's capability modules have a dependency cycle.
pub fn module_cycles(root: &Path) -> Result<()> {
    let src = root.join("origin/src");
    let mut files = Vec::new();
    collect_rs(&src, &mut files)?;
    let mut sources = Vec::new();
    for f in files {
        let rel = f
            .strip_prefix(&src)
            .unwrap_or(&f)
            .to_string_lossy()
            .into_owned();
        sources.push((rel, std::fs::read_to_string(&f)?));
    }
    let graph = graph(&sources);
    match find_cycle(&graph) {
        None => {
            let edges: usize = graph.values().map(BTreeMap::len).sum();
            println!("origin modules: no dependency cycle ({edges} edges between capabilities)");
            Ok(())
        }
        Some(cycle) => {
            let mut msg = format!(
                "the origin's modules depend on each other in a cycle: {}\n",
                cycle.join(" → ")
            );
            for pair in cycle.windows(2) {
                if let Some(r) = graph.get(&pair[0]).and_then(|m| m.get(&pair[1])) {
                    msg.push_str(&format!(
                        "  {} → {}: origin/src/{}:{}\n",
                        pair[0], pair[1], r.file, r.line
                    ));
                }
            }
            let tangled = tangled_with(&graph, &cycle[0]);
            if tangled.len() > cycle.len() - 1 {
                msg.push_str(&format!(
                    "  (more cycles: {} all reach each other)\n",
                    tangled.join(", ")
                ));
            }
            msg.push_str(
                "Move the shared piece down (into the lower module or a platform module), or \
                 invert the call (the lower module declares a trait the higher one implements).",
            );
            bail!(msg)
        }
    }
}

fn collect_rs(dir: &Path, out: &mut Vec<std::path::PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_rs(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    Ok(())
}

/// The top-level module a file under `origin/src` belongs to (`booking/create.rs` →
/// `booking`, `store.rs` → `store`).
fn module_of(rel: &str) -> String {
    let first = rel.split(['/', '\\']).next().unwrap_or(rel);
    first.trim_end_matches(".rs").to_owned()
}

/// Builds the graph between capability modules from `(path under origin/src, text)`.
/// Comments and string literals are skipped, and so are `#[cfg(test)]` items (tests
/// may reach anywhere) and files named `tests.rs`.
pub fn graph(sources: &[(String, String)]) -> Graph {
    // The top-level modules are the files and directories under origin/src; anything
    // else after `crate::` is an item of the crate root (`crate::problems!`, a macro).
    let modules: BTreeSet<String> = sources.iter().map(|(rel, _)| module_of(rel)).collect();
    let mut graph = Graph::new();
    for (rel, text) in sources {
        if rel.ends_with("tests.rs") {
            continue;
        }
        let from = module_of(rel);
        if EXEMPT.contains(&from.as_str()) {
            continue;
        }
        let code = without_test_items(&code_only(text));
        if code.contains("#![cfg(test)]") {
            continue;
        }
        for (offset, to) in references(&code) {
            if to != from && modules.contains(&to) && !EXEMPT.contains(&to.as_str()) {
                graph
                    .entry(from.clone())
                    .or_default()
                    .entry(to)
                    .or_insert_with(|| Reference {
                        file: rel.clone(),
                        line: code[..offset].matches('\n').count() + 1,
                    });
            }
        }
        graph.entry(from).or_default();
    }
    graph
}

/// `text` without comments (line, block, doc), string literals (plain, byte, raw) and
/// char literals; newlines are kept so offsets still give line numbers.
fn code_only(text: &str) -> String {
    let c: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let ident = |ch: char| ch.is_alphanumeric() || ch == '_';
    let mut i = 0;
    while i < c.len() {
        let at = |k: usize| c.get(k).copied().unwrap_or('\0');
        let newlines = |out: &mut String, from: usize, to: usize| {
            for &ch in &c[from..to.min(c.len())] {
                if ch == '\n' {
                    out.push('\n');
                }
            }
        };
        match (c[i], at(i + 1)) {
            ('/', '/') => {
                while i < c.len() && c[i] != '\n' {
                    i += 1;
                }
            }
            ('/', '*') => {
                let (start, mut depth) = (i, 0usize);
                while i < c.len() {
                    if c[i] == '/' && at(i + 1) == '*' {
                        depth += 1;
                        i += 2;
                    } else if c[i] == '*' && at(i + 1) == '/' {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        i += 1;
                    }
                }
                newlines(&mut out, start, i);
            }
            ('r', '"' | '#')
                if i == 0
                    || !ident(c[i - 1])
                    || (c[i - 1] == 'b' && (i < 2 || !ident(c[i - 2]))) =>
            {
                // A raw string `r"…"` / `r#"…"#` (or `br…`), else an identifier.
                let mut j = i + 1;
                while at(j) == '#' {
                    j += 1;
                }
                if at(j) != '"' {
                    out.push(c[i]);
                    i += 1;
                    continue;
                }
                let hashes = j - i - 1;
                let start = i;
                i = j + 1;
                while i < c.len() && !(c[i] == '"' && (0..hashes).all(|h| at(i + 1 + h) == '#')) {
                    i += 1;
                }
                i += 1 + hashes;
                newlines(&mut out, start, i);
            }
            ('"', _) => {
                let start = i;
                i += 1;
                while i < c.len() && c[i] != '"' {
                    i += if c[i] == '\\' { 2 } else { 1 };
                }
                i += 1;
                newlines(&mut out, start, i);
            }
            ('\'', '\\') => {
                // An escaped char literal: `'\n'`, `'\''`, `'\u{7f}'`.
                i += 3;
                while i < c.len() && c[i] != '\'' {
                    i += 1;
                }
                i += 1;
            }
            ('\'', _) if at(i + 2) == '\'' => i += 3, // `'{'`
            (ch, _) => {
                out.push(ch);
                i += 1;
            }
        }
    }
    out
}

/// `code` (from [`code_only`]) with every item marked `#[cfg(test)]` blanked: from the
/// attribute to the item's end (its `;` or the `}` closing its body), newlines kept.
fn without_test_items(code: &str) -> String {
    const ATTR: &str = "#[cfg(test)]";
    let mut out = String::with_capacity(code.len());
    let mut rest = code;
    while let Some(i) = rest.find(ATTR) {
        out.push_str(&rest[..i]);
        let item = &rest[i + ATTR.len()..];
        let mut depth = 0usize;
        let mut end = item.len();
        for (j, ch) in item.char_indices() {
            match ch {
                '(' | '[' | '{' => depth += 1,
                ')' | ']' => depth = depth.saturating_sub(1),
                '}' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        end = j + 1;
                        break;
                    }
                }
                ';' if depth == 0 => {
                    end = j + 1;
                    break;
                }
                _ => {}
            }
        }
        out.extend(item[..end].chars().filter(|&ch| ch == '\n'));
        rest = &item[end..];
    }
    out.push_str(rest);
    out
}

/// The top-level modules `code` names, with the offset of each name: `crate::a::…`
/// paths and the members of `use crate::{a, b::c}` groups (which may span lines).
fn references(code: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(i) = code[from..].find("crate::").map(|i| i + from) {
        from = i + "crate::".len();
        let before = code[..i].chars().next_back();
        if before.is_some_and(|ch| ch.is_alphanumeric() || ch == '_') {
            continue; // `my_crate::`, not `crate::`
        }
        let after = &code[from..];
        if let Some(group) = after.strip_prefix('{') {
            // Top-level members only: split on commas outside nested braces, up to the
            // group's own closing brace.
            let base = from + 1;
            let mut depth = 0;
            let mut start = 0;
            let mut end = group.len();
            for (j, ch) in group.char_indices() {
                match ch {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        end = j;
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        push_ident(base + start, &group[start..j], &mut out);
                        start = j + 1;
                    }
                    _ => {}
                }
            }
            push_ident(base + start, &group[start..end], &mut out);
        } else {
            push_ident(from, after, &mut out);
        }
    }
    out
}

fn push_ident(offset: usize, s: &str, out: &mut Vec<(usize, String)>) {
    let trimmed = s.trim_start();
    let ident: String = trimmed
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    if !ident.is_empty() && ident != "self" {
        out.push((offset + s.len() - trimmed.len(), ident));
    }
}

/// A cycle as a path `a → b → … → a`, if there is one.
pub fn find_cycle(graph: &Graph) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Visiting,
        Done,
    }
    fn visit(
        node: &str,
        graph: &Graph,
        marks: &mut BTreeMap<String, Mark>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match marks.get(node) {
            Some(Mark::Done) => return None,
            Some(Mark::Visiting) => {
                let start = stack.iter().position(|n| n == node).unwrap_or(0);
                let mut cycle = stack[start..].to_vec();
                cycle.push(node.to_owned());
                return Some(cycle);
            }
            None => {}
        }
        marks.insert(node.to_owned(), Mark::Visiting);
        stack.push(node.to_owned());
        for next in graph.get(node).into_iter().flat_map(BTreeMap::keys) {
            if let Some(c) = visit(next, graph, marks, stack) {
                return Some(c);
            }
        }
        stack.pop();
        marks.insert(node.to_owned(), Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    for node in graph.keys() {
        if let Some(c) = visit(node, graph, &mut marks, &mut Vec::new()) {
            return Some(c);
        }
    }
    None
}

/// The modules that both reach `node` and are reached from it (its strongly connected
/// component), `node` included, in name order.
pub fn tangled_with(graph: &Graph, node: &str) -> Vec<String> {
    fn reach(graph: &Graph, from: &str, forward: bool) -> BTreeSet<String> {
        let mut seen = BTreeSet::from([from.to_owned()]);
        let mut todo = vec![from.to_owned()];
        while let Some(n) = todo.pop() {
            let next: Vec<&String> = if forward {
                graph.get(&n).into_iter().flat_map(BTreeMap::keys).collect()
            } else {
                graph
                    .iter()
                    .filter(|(_, to)| to.contains_key(&n))
                    .map(|(m, _)| m)
                    .collect()
            };
            for m in next {
                if seen.insert(m.clone()) {
                    todo.push(m.clone());
                }
            }
        }
        seen
    }
    let back = reach(graph, node, false);
    reach(graph, node, true)
        .into_iter()
        .filter(|m| back.contains(m))
        .collect()
}

/// Fails when ARCHITECTURE.md's code map names a path that does not exist.
pub fn code_map_paths(root: &Path) -> Result<()> {
    let text = std::fs::read_to_string(root.join("ARCHITECTURE.md"))?;
    let paths = code_map(&text);
    if paths.is_empty() {
        bail!("ARCHITECTURE.md has no `## Code map` section with paths in backticks");
    }
    let missing: Vec<&String> = paths.iter().filter(|p| !root.join(p).exists()).collect();
    if !missing.is_empty() {
        bail!(
            "ARCHITECTURE.md's code map names paths that do not exist: {}",
            missing
                .iter()
                .map(|p| p.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    println!(
        "ARCHITECTURE.md code map: {} paths, all present",
        paths.len()
    );
    Ok(())
}

/// The paths a code map names: under the `## Code map` heading (up to the next `## `),
/// every backticked token at the start of a list item, a table row's first cell, or a
/// `### ` heading that looks like a path (has a `/` or a file extension we use).
pub fn code_map(markdown: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut inside = false;
    for line in markdown.lines() {
        if let Some(h) = line.strip_prefix("## ") {
            inside = h.trim().eq_ignore_ascii_case("code map");
            continue;
        }
        if !inside {
            continue;
        }
        let t = line.trim_start();
        let head = if let Some(row) = t.strip_prefix('|') {
            row.split('|').next().unwrap_or("")
        } else if let Some(item) = t.strip_prefix("- ").or_else(|| t.strip_prefix("* ")) {
            item.split(':').next().unwrap_or("")
        } else if let Some(h) = t.strip_prefix("### ") {
            h
        } else {
            continue;
        };
        for token in head.split('`').skip(1).step_by(2) {
            if looks_like_path(token) {
                out.insert(token.trim_end_matches('/').to_owned());
            }
        }
    }
    out
}

fn looks_like_path(token: &str) -> bool {
    const EXTENSIONS: [&str; 7] = [".rs", ".md", ".toml", ".sql", ".lua", ".json", ".js"];
    !token.contains(' ')
        && !token.contains('*')
        && !token.contains('{')
        && (token.contains('/') || EXTENSIONS.iter().any(|e| token.ends_with(e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(p, t)| (p.to_string(), t.to_string()))
            .collect()
    }

    #[test]
    fn a_cycle_is_found_with_its_path() {
        let g = graph(&src(&[
            ("catalog/mod.rs", "use crate::queue::rules;\n"),
            (
                "queue/line.rs",
                "fn f() { crate::catalog::find_event(); }\n",
            ),
            ("booking/mod.rs", "use crate::{auth::AuthUser, queue};\n"),
        ]));
        let cycle = find_cycle(&g).expect("a cycle");
        assert_eq!(cycle.first(), cycle.last());
        assert!(cycle.contains(&"catalog".to_owned()) && cycle.contains(&"queue".to_owned()));
        assert_eq!(g["queue"]["catalog"].file, "queue/line.rs");
        assert_eq!(g["queue"]["catalog"].line, 1);
        // booking reaches the cycle but nothing reaches back: not tangled.
        assert_eq!(tangled_with(&g, "queue"), ["catalog", "queue"]);
        assert_eq!(tangled_with(&g, "booking"), ["booking"]);
    }

    #[test]
    fn a_tree_passes_and_platform_modules_and_tests_do_not_count() {
        let g = graph(&src(&[
            (
                "booking/mod.rs",
                "use crate::{auth::AuthUser, http::{ApiError, Code}, queue};\n",
            ),
            (
                "queue/mod.rs",
                "use crate::catalog;\nuse crate::state::AppState;\n",
            ),
            (
                "catalog/mod.rs",
                "// crate::booking is mentioned in a comment only\n",
            ),
            (
                "catalog/model.rs",
                "fn f() {}\n#[cfg(test)]\nmod tests { use crate::booking; }\n",
            ),
            ("catalog/tests.rs", "use crate::booking;\n"),
            ("state.rs", "use crate::booking::Booking;\n"),
            ("auth/mod.rs", ""),
        ]));
        assert_eq!(find_cycle(&g), None, "{g:?}");
        let booking: Vec<_> = g["booking"].keys().cloned().collect();
        assert_eq!(booking, ["auth", "queue"]);
        assert!(g["catalog"].is_empty());
        assert!(!g.contains_key("state"));
    }

    fn referenced_modules(code: &str) -> Vec<String> {
        references(&without_test_items(&code_only(code)))
            .into_iter()
            .map(|(_, m)| m)
            .collect()
    }

    #[test]
    fn use_groups_are_parsed() {
        assert_eq!(
            referenced_modules("use crate::{auth, booking::{self, X}, http::Code};"),
            ["auth", "booking", "http"]
        );
        assert_eq!(
            referenced_modules("let x = crate::queue::tick(crate::clock::now());"),
            ["queue", "clock"]
        );
    }

    #[test]
    fn groups_spanning_lines_name_the_line_of_each_member() {
        // rustfmt wraps long groups; every member counts, at its own line.
        let g = graph(&src(&[
            (
                "booking/create.rs",
                "use crate::{\n    auth::AuthUser,\n    http::{ApiError, Code},\n    queue::{\n        Line,\n    },\n};\ncrate::problems!(X: []);\n",
            ),
            ("auth/mod.rs", ""),
            ("queue/mod.rs", ""),
        ]));
        let booking: Vec<_> = g["booking"]
            .iter()
            .map(|(m, r)| (m.as_str(), r.line))
            .collect();
        assert_eq!(booking, [("auth", 2), ("queue", 4)]);
    }

    #[test]
    fn comments_strings_and_test_items_are_not_references() {
        let code = r##"
/// Doc: see crate::catalog::Event.
//! Inner doc: crate::payments.
/* block crate::tickets /* nested crate::tickets */ still crate::tickets */
const URL: &str = "http://example.test/crate::lifecycle"; fn f() { crate::auth::x(); }
const RAW: &str = r#"crate::outbox "quoted" "#;
const BRACE: char = '{';
const QUOTE: char = '\'';
#[cfg(test)]
fn only_in_tests() { crate::catalog::y(); }
#[cfg(test)]
use crate::payments::Z;
fn g<'a>(x: &'a str) -> &'a str { crate::queue::q(x) }
#[cfg(test)]
mod tests { use crate::{booking, tickets}; fn h() { if true { crate::catalog::z(); } } }
fn after_tests() { my_crate::booking::no(); crate::store::ok(); }
"##;
        assert_eq!(referenced_modules(code), ["auth", "queue", "store"]);
        let g = graph(&src(&[
            ("booking/x.rs", code),
            ("auth.rs", ""),
            ("queue.rs", ""),
        ]));
        assert_eq!(g["booking"]["auth"].line, 5, "{g:?}");
        assert_eq!(g["booking"]["queue"].line, 13, "{g:?}");
        let whole = graph(&src(&[(
            "queue/x.rs",
            "#![cfg(test)]\nuse crate::catalog;\n",
        )]));
        assert!(whole.is_empty(), "{whole:?}");
    }

    #[test]
    fn the_code_map_lists_paths_from_tables_lists_and_headings() {
        let md = "\
# Title
`not/in/the/map.rs`
## Code map
| path | what |
|---|---|
| `origin/src/booking/` | holds |
| `Cargo.toml` | workspace |
- `xtask/`: automation, see `not/this.rs`
### `origin/src/http/codes.rs`
Invariant: `SEAT_UNAVAILABLE` is not a path, nor `origin/src/*.lua`.
## Invariants
- `after/the/map.rs`
";
        let paths: Vec<_> = code_map(md).into_iter().collect();
        assert_eq!(
            paths,
            [
                "Cargo.toml",
                "origin/src/booking",
                "origin/src/http/codes.rs",
                "xtask"
            ]
        );
    }
}
