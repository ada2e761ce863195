//! The workspace's module structure, checked: no import circle between the
//! files of any crate, and in a crate whose docs have a "Layers" table, no
//! file that uses a module of a higher layer.
//!
//! A file depends on another when it names a path into it: a `use` of
//! `crate::`, `super::` or `self::`, or such a path in code. A name that a
//! `mod.rs` (or `lib.rs`) only re-exports is followed to the file that
//! defines it, so re-exports make no edges of their own. Comments and string
//! literals are ignored.
//!
//! The table is read from the crate docs (`//!` lines of `lib.rs`), so the
//! documented layering is the one enforced:
//!
//! ```text
//! //! | layer | modules |
//! //! |---|---|
//! //! | 1 | `key`, `schema` |
//! //! | 2 | `config` |
//! ```

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::path::{Path, PathBuf};

/// The crates checked, relative to the workspace root.
const CRATES: &[&str] = &[
    "crates/sea-orm-tenant",
    "crates/sea-orm-tenant-http",
    "crates/sea-orm-tenant-poem",
    "crates/sea-orm-tenant-axum",
    "crates/sea-orm-tenant-migration",
    "migration",
    "examples/notes-server",
    "examples/notes-axum",
    "tests",
];

/// The workspace checked: this one, or `LAYERING_ROOT` (to survey another checkout).
fn workspace_root() -> PathBuf {
    if let Some(root) = std::env::var_os("LAYERING_ROOT") {
        return PathBuf::from(root);
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is inside the workspace")
        .to_owned()
}

/// One crate's source files by module path (`""` is the crate root).
struct Crate {
    name: String,
    files: BTreeMap<Vec<String>, PathBuf>,
}

impl Crate {
    fn read(dir: &Path) -> Self {
        let src = dir.join("src");
        let mut files = BTreeMap::new();
        let root = if src.join("lib.rs").exists() {
            src.join("lib.rs")
        } else {
            src.join("main.rs")
        };
        collect(&root, Vec::new(), &mut files);
        Self {
            name: dir.display().to_string(),
            files,
        }
    }
}

/// Adds `file` as module `path`, then the modules it declares with `mod x;`.
fn collect(file: &Path, path: Vec<String>, out: &mut BTreeMap<Vec<String>, PathBuf>) {
    let text = strip(&fs::read_to_string(file).unwrap_or_default());
    out.insert(path.clone(), file.to_owned());
    let dir = if path.is_empty()
        || file
            .file_name()
            .is_some_and(|n| n == "mod.rs" || n == "lib.rs" || n == "main.rs")
    {
        file.parent().unwrap().to_owned()
    } else {
        file.with_extension("")
    };
    let mut explicit_path: Option<String> = None;
    for line in text.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("#[path = \"") {
            explicit_path = rest.split('"').next().map(str::to_owned);
            continue;
        }
        let decl = line
            .trim_start_matches("pub(crate) ")
            .trim_start_matches("pub(super) ")
            .trim_start_matches("pub ");
        let Some(name) = decl.strip_prefix("mod ").and_then(|r| r.strip_suffix(';')) else {
            if !line.starts_with("#[") {
                explicit_path = None;
            }
            continue;
        };
        let mut child = path.clone();
        child.push(name.trim().to_owned());
        // An alternative file for the same module under other features
        // (`#[path = ...]`): one module, the first file found wins.
        let candidate = match explicit_path.take() {
            Some(p) => dir.join(p),
            None if dir.join(format!("{name}.rs")).exists() => dir.join(format!("{name}.rs")),
            None => dir.join(name).join("mod.rs"),
        };
        if candidate.exists() && !out.contains_key(&child) {
            collect(&candidate, child, out);
        }
    }
}

/// The text with comments, string and char literals blanked out.
fn strip(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        if b[i..].starts_with(b"//") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i..].starts_with(b"/*") {
            let mut depth = 0;
            while i < b.len() {
                if b[i..].starts_with(b"/*") {
                    depth += 1;
                    i += 2;
                } else if b[i..].starts_with(b"*/") {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if b[i] == b'r'
            && (b[i..].starts_with(b"r\"") || b[i..].starts_with(b"r#"))
            && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_'))
        {
            let hashes = b[i + 1..].iter().take_while(|&&c| c == b'#').count();
            if b.get(i + 1 + hashes) != Some(&b'"') {
                out.push('r');
                i += 1;
                continue;
            }
            let close: Vec<u8> = std::iter::once(b'"')
                .chain(std::iter::repeat_n(b'#', hashes))
                .collect();
            i += 2 + hashes;
            while i < b.len() && !b[i..].starts_with(&close) {
                if b[i] == b'\n' {
                    out.push('\n');
                }
                i += 1;
            }
            i += close.len();
            out.push_str("\"\"");
        } else if b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' {
                    i += 1;
                }
                if i < b.len() && b[i] == b'\n' {
                    out.push('\n');
                }
                i += 1;
            }
            i += 1;
            out.push_str("\"\"");
        } else if b[i] == b'\'' && b.get(i + 2) == Some(&b'\'') {
            i += 3;
            out.push_str("' '");
        } else if b[i] == b'\'' && b.get(i + 1) == Some(&b'\\') {
            // An escaped char literal: '\n', '\'', '\u{..}'.
            i += 3;
            while i < b.len() && b[i] != b'\'' {
                i += 1;
            }
            i += 1;
            out.push_str("' '");
        } else {
            let ch = text[i..].chars().next().unwrap();
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

/// Every path a file names that starts with `crate`, `super` or `self`,
/// from its `use` trees and from its code.
fn paths(text: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = find_use(rest) {
        let after = &rest[at..];
        let end = after.find(';').unwrap_or(after.len());
        expand(after[4..end].trim(), Vec::new(), &mut out);
        rest = &after[end..];
    }
    // Paths in code (`crate::a::b(...)`, `super::c::D`).
    let bytes = text.as_bytes();
    for start in ["crate::", "super::", "self::"] {
        let mut from = 0;
        while let Some(pos) = text[from..].find(start) {
            let at = from + pos;
            from = at + start.len();
            if at > 0
                && (bytes[at - 1].is_ascii_alphanumeric()
                    || bytes[at - 1] == b'_'
                    || bytes[at - 1] == b':')
            {
                continue;
            }
            let mut path = Vec::new();
            for part in text[at..].split("::") {
                let ident: String = part
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if ident.is_empty() {
                    break;
                }
                let whole = ident.len() == part.len();
                path.push(ident);
                if !whole {
                    break;
                }
            }
            out.push(path);
        }
    }
    out
}

/// The next `use ` at the start of a statement.
fn find_use(text: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(pos) = text[from..].find("use ") {
        let at = from + pos;
        let before = text[..at].trim_end();
        if before.is_empty()
            || before.ends_with(';')
            || before.ends_with('{')
            || before.ends_with('}')
            || before.ends_with(']')
            || before.ends_with("pub")
            || before.ends_with(')')
        {
            return Some(at);
        }
        from = at + 4;
    }
    None
}

/// Expands a use tree (`a::{b, c::{d, e}}`) into its paths.
fn expand(tree: &str, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
    let tree = tree.trim();
    if let Some(brace) = tree.find('{') {
        let mut base = prefix;
        base.extend(
            tree[..brace]
                .split("::")
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
        );
        let inner = &tree[brace + 1..tree.rfind('}').unwrap_or(tree.len())];
        let mut depth = 0;
        let mut start = 0;
        for (i, c) in inner.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    expand(&inner[start..i], base.clone(), out);
                    start = i + 1;
                }
                _ => {}
            }
        }
        expand(&inner[start..], base, out);
    } else {
        let tree = tree.split(" as ").next().unwrap_or("").trim();
        if tree.is_empty() {
            return;
        }
        let mut path = prefix;
        path.extend(tree.split("::").map(str::trim).map(str::to_owned));
        out.push(path);
    }
}

/// The names a module file re-exports (`pub use child::Name`), to the module path they come from.
fn reexports(text: &str, module: &[String]) -> HashMap<String, Vec<String>> {
    let mut map = HashMap::new();
    let mut rest = text;
    while let Some(at) = rest.find("pub") {
        let after = &rest[at..];
        let head = after
            .trim_start_matches("pub(crate)")
            .trim_start_matches("pub(super)")
            .trim_start_matches("pub");
        let end = after.find(';').unwrap_or(after.len());
        if let Some(tree) = head.trim_start().strip_prefix("use ") {
            let tree = &tree[..tree.find(';').unwrap_or(tree.len())];
            let mut found = Vec::new();
            expand(tree, Vec::new(), &mut found);
            for path in found {
                if let Some(name) = path.last() {
                    map.insert(name.clone(), absolute(module, &path[..path.len() - 1]));
                }
            }
        }
        rest = &after[end.min(after.len()).max(3)..];
    }
    map
}

/// `path` (relative to `module`, or starting with `crate`/`super`/`self`) as an absolute module path.
fn absolute(module: &[String], path: &[String]) -> Vec<String> {
    let mut out: Vec<String> = module.to_vec();
    let mut parts = path.iter().peekable();
    match parts.peek().map(|s| s.as_str()) {
        Some("crate") => {
            out.clear();
            parts.next();
        }
        Some("super") => {}
        Some("self") => {
            parts.next();
        }
        _ => {}
    }
    for part in parts {
        if part == "super" {
            out.pop();
        } else {
            out.push(part.clone());
        }
    }
    out
}

/// The file a path leads to, following re-exports; `None` outside the crate.
fn resolve(
    krate: &Crate,
    exports: &HashMap<Vec<String>, HashMap<String, Vec<String>>>,
    path: &[String],
    depth: usize,
) -> Option<Vec<String>> {
    let mut best = Vec::new();
    for n in 0..=path.len() {
        if krate.files.contains_key(&path[..n]) {
            best = path[..n].to_vec();
        } else {
            break;
        }
    }
    if depth < 8 && best.len() < path.len() {
        let name = &path[best.len()];
        if let Some(target) = exports.get(&best).and_then(|m| m.get(name)) {
            let mut next = target.clone();
            next.push(name.clone());
            next.extend(path[best.len() + 1..].iter().cloned());
            return resolve(krate, exports, &next, depth + 1).or(Some(best));
        }
    }
    Some(best)
}

/// Module-to-module edges of a crate (file granularity).
fn edges(krate: &Crate) -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    let texts: BTreeMap<Vec<String>, String> = krate
        .files
        .iter()
        .map(|(m, f)| (m.clone(), strip(&fs::read_to_string(f).unwrap_or_default())))
        .collect();
    let exports: HashMap<Vec<String>, HashMap<String, Vec<String>>> = texts
        .iter()
        .map(|(m, t)| (m.clone(), reexports(t, m)))
        .collect();
    let mut graph = BTreeMap::new();
    for (module, text) in &texts {
        let mut to = BTreeSet::new();
        for path in paths(text) {
            let first = path.first().map(String::as_str);
            if !matches!(first, Some("crate" | "super" | "self")) {
                continue;
            }
            let abs = absolute(module, &path);
            if let Some(target) = resolve(krate, &exports, &abs, 0)
                && !target.is_empty()
                && target != *module
                && !module.starts_with(&target[..])
            {
                to.insert(target);
            }
        }
        graph.insert(module.clone(), to);
    }
    graph
}

/// Strongly connected components with more than one module (Tarjan).
fn circles(graph: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>) -> Vec<Vec<Vec<String>>> {
    struct State<'a> {
        graph: &'a BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        index: HashMap<&'a Vec<String>, usize>,
        low: HashMap<&'a Vec<String>, usize>,
        stack: Vec<&'a Vec<String>>,
        on: BTreeSet<&'a Vec<String>>,
        next: usize,
        out: Vec<Vec<Vec<String>>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a Vec<String>) {
        s.index.insert(v, s.next);
        s.low.insert(v, s.next);
        s.next += 1;
        s.stack.push(v);
        s.on.insert(v);
        for w in s.graph.get(v).into_iter().flatten() {
            let Some((w, _)) = s.graph.get_key_value(w) else {
                continue;
            };
            if !s.index.contains_key(w) {
                visit(s, w);
                let lw = s.low[w];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(lw);
            } else if s.on.contains(w) {
                let iw = s.index[w];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(iw);
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on.remove(w);
                component.push(w.clone());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                s.out.push(component);
            }
        }
    }
    let mut state = State {
        graph,
        index: HashMap::new(),
        low: HashMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        next: 0,
        out: Vec::new(),
    };
    for v in graph.keys() {
        if !state.index.contains_key(v) {
            visit(&mut state, v);
        }
    }
    state.out
}

/// The "Layers" table of the crate docs: top-level module to layer number.
fn layers(krate: &Crate) -> Option<HashMap<String, u32>> {
    let root = krate.files.get(&Vec::new())?;
    let text = fs::read_to_string(root).ok()?;
    let mut map = HashMap::new();
    for line in text.lines().filter_map(|l| l.strip_prefix("//!")) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() < 4 {
            continue;
        }
        let Ok(layer) = cells[1].parse::<u32>() else {
            continue;
        };
        for module in cells[2].split(',') {
            map.insert(module.trim().trim_matches('`').to_owned(), layer);
        }
    }
    (!map.is_empty()).then_some(map)
}

fn show(module: &[String]) -> String {
    if module.is_empty() {
        "crate root".to_owned()
    } else {
        module.join("::")
    }
}

#[test]
fn no_crate_has_an_import_circle_or_an_import_up_its_layers() {
    let root = workspace_root();
    let mut problems = Vec::new();
    for dir in CRATES {
        let krate = Crate::read(&root.join(dir));
        assert!(krate.files.len() > 1, "{}: no modules found", krate.name);
        let graph = edges(&krate);
        for circle in circles(&graph) {
            let names: Vec<String> = circle.iter().map(|m| show(m)).collect();
            problems.push(format!(
                "{}: import circle between {}",
                krate.name,
                names.join(", ")
            ));
        }
        let Some(layers) = layers(&krate) else {
            continue;
        };
        let layer_of = |m: &[String]| m.first().and_then(|top| layers.get(top)).copied();
        for (from, targets) in &graph {
            if from.is_empty() {
                continue;
            }
            let Some(from_layer) = layer_of(from) else {
                problems.push(format!(
                    "{}: module {} is in no layer of the crate docs' table",
                    krate.name,
                    show(from)
                ));
                continue;
            };
            for to in targets {
                match layer_of(to) {
                    Some(to_layer) if to_layer > from_layer => problems.push(format!(
                        "{}: {} (layer {from_layer}) uses {} (layer {to_layer})",
                        krate.name,
                        show(from),
                        show(to)
                    )),
                    _ => {}
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{} problem(s):\n  {}",
        problems.len(),
        problems.join("\n  ")
    );
}

#[test]
fn every_crate_under_crates_and_examples_is_checked() {
    let root = workspace_root();
    for parent in ["crates", "examples"] {
        let Ok(entries) = fs::read_dir(root.join(parent)) else {
            continue;
        };
        for entry in entries.flatten() {
            if !entry.path().join("Cargo.toml").exists() {
                continue;
            }
            let dir = format!("{parent}/{}", entry.file_name().to_string_lossy());
            assert!(CRATES.contains(&dir.as_str()), "{dir} is not in CRATES");
        }
    }
}

#[test]
fn the_checker_sees_a_circle_and_an_upward_import() {
    let mut graph = BTreeMap::new();
    let m = |s: &str| vec![s.to_owned()];
    graph.insert(m("a"), BTreeSet::from([m("b")]));
    graph.insert(m("b"), BTreeSet::from([m("c")]));
    graph.insert(m("c"), BTreeSet::from([m("a")]));
    graph.insert(m("d"), BTreeSet::from([m("a")]));
    assert_eq!(circles(&graph), vec![vec![m("a"), m("b"), m("c")]]);
    let mut found = Vec::new();
    expand("crate::x::{a, b::{c, d as e}}", Vec::new(), &mut found);
    assert_eq!(found.len(), 3);
    assert_eq!(
        strip("let s = \"crate::x\"; // crate::y\n"),
        "let s = \"\"; \n"
    );
    let found: BTreeSet<Vec<String>> = paths("use crate::a::{b, c};\nfn f() { super::d::e(); }")
        .into_iter()
        .collect();
    let v = |p: &[&str]| p.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert!(found.contains(&v(&["crate", "a", "b"])), "{found:?}");
    assert!(found.contains(&v(&["crate", "a", "c"])), "{found:?}");
    assert!(found.contains(&v(&["super", "d", "e"])), "{found:?}");
}
