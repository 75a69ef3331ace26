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
/// Comments are skipped, and so is everything after a file's `#[cfg(test)]` (tests may
/// reach anywhere) and files named `tests.rs`.
pub fn graph(sources: &[(String, String)]) -> Graph {
    let mut graph = Graph::new();
    for (rel, text) in sources {
        if rel.ends_with("tests.rs") {
            continue;
        }
        let from = module_of(rel);
        if EXEMPT.contains(&from.as_str()) {
            continue;
        }
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            if line.trim_start().starts_with("#[cfg(test)]") {
                break;
            }
            for to in referenced_modules(code) {
                if to != from && !EXEMPT.contains(&to.as_str()) {
                    graph
                        .entry(from.clone())
                        .or_default()
                        .entry(to)
                        .or_insert(Reference {
                            file: rel.clone(),
                            line: n + 1,
                        });
                }
            }
        }
        graph.entry(from).or_default();
    }
    graph
}

/// The top-level modules a line names: `crate::a::…` paths and the members of
/// `use crate::{a, b::c}` groups.
fn referenced_modules(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        let after = &rest[i + "crate::".len()..];
        if let Some(group) = after.strip_prefix('{') {
            // Top-level members only: split on commas outside nested braces, up to the
            // group's own closing brace.
            let mut depth = 0;
            let mut start = 0;
            let mut end = group.len();
            for (j, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        end = j;
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        push_ident(&group[start..j], &mut out);
                        start = j + 1;
                    }
                    _ => {}
                }
            }
            push_ident(&group[start..end], &mut out);
        } else {
            push_ident(after, &mut out);
        }
        rest = after;
    }
    out
}

fn push_ident(s: &str, out: &mut Vec<String>) {
    let ident: String = s
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    if !ident.is_empty() && ident != "self" {
        out.push(ident);
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
        ]));
        assert_eq!(find_cycle(&g), None, "{g:?}");
        let booking: Vec<_> = g["booking"].keys().cloned().collect();
        assert_eq!(booking, ["auth", "queue"]);
        assert!(g["catalog"].is_empty());
        assert!(!g.contains_key("state"));
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
