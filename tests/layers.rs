//! The crate's layers import only downwards (`docs/design.md`, Layers): each file's `crate::`
//! paths are checked against the layer it lives in. Doc comments may point anywhere.

use std::path::{Path, PathBuf};

/// Layers from the bottom up; a file may use its own layer, the shared modules and any layer
/// ranked below its own.
const LAYERS: [(&str, u32); 10] = [
    ("format", 1),
    ("storage", 1),
    ("segment", 2),
    ("config", 3),
    ("compaction", 3),
    ("partition", 4),
    ("log", 5),
    ("coordinator", 6),
    ("client", 7),
    ("lib", 8),
];
/// The coordinator layer's step `Log::open` runs before anything is appended.
const OPEN_STEP: &str = "crate::coordinator::clamp_committed_offsets";

/// Used by every layer.
const SHARED: [&str; 2] = ["error", "clock"];
/// Root re-exports a layer may name: the shared error and clock types.
const SHARED_AT_ROOT: [&str; 4] = ["Error", "Result", "FormatError", "Clock"];

fn rank(layer: &str) -> Option<u32> {
    LAYERS.iter().find(|(name, _)| *name == layer).map(|(_, rank)| *rank)
}

/// Whether a file of `layer` may use `crate::<used>`.
fn allowed(layer: &str, used: &str) -> bool {
    used == layer
        || SHARED.contains(&used)
        || SHARED_AT_ROOT.contains(&used)
        // The one error type names the format's codecs.
        || (layer == "error" && used == "format")
        || matches!((rank(layer), rank(used)), (Some(mine), Some(theirs)) if theirs < mine)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The first segment of each path `code` names after `crate::` (several for `crate::{a, b}`,
/// nested groups and line breaks included).
fn crate_paths(code: &str) -> Vec<String> {
    let ident = |s: &str| s.trim_start().chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
    let mut used = Vec::new();
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        let Some(group) = rest.strip_prefix('{') else {
            used.push(ident(rest));
            continue;
        };
        // The top-level items of the group: split at commas outside nested braces.
        let (mut depth, mut item_start) = (0, 0);
        for (i, c) in group.char_indices() {
            match c {
                '{' => depth += 1,
                '}' if depth == 0 => {
                    used.push(ident(&group[item_start..i]));
                    break;
                }
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    used.push(ident(&group[item_start..i]));
                    item_start = i + 1;
                }
                _ => {}
            }
        }
    }
    used.retain(|u: &String| !u.is_empty());
    used
}

#[test]
fn layers_import_only_downwards() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    assert!(files.len() > 20, "found the sources");
    let mut wrong = Vec::new();
    for path in &files {
        let first = path.strip_prefix(&src).unwrap().components().next().unwrap();
        let layer = first.as_os_str().to_string_lossy().trim_end_matches(".rs").to_owned();
        let text = std::fs::read_to_string(path).unwrap();
        let mut code: String =
            text.lines().filter(|l| !l.trim_start().starts_with("//")).map(|l| format!("{l}\n")).collect();
        if path.ends_with("log/mod.rs") {
            // The one exception (`docs/design.md`, Layers): opening a log runs the group
            // coordinator's check of committed offsets against the recovered log ends.
            code = code.replace(OPEN_STEP, "");
        }
        for used in crate_paths(&code) {
            if !allowed(&layer, &used) {
                wrong.push(format!("{}: {layer} uses crate::{used}", path.display()));
            }
        }
    }
    assert!(wrong.is_empty(), "imports against the layering:\n{}", wrong.join("\n"));
}

#[test]
fn the_checker_sees_grouped_and_plain_paths() {
    assert_eq!(crate_paths("use crate::{Error, Log};"), ["Error", "Log"]);
    assert_eq!(crate_paths("use crate::{\n    a::{b, c},\n    d,\n};\nx(crate::e::f)"), ["a", "d", "e"]);
    assert_eq!(crate_paths("use crate::segment::index::Index;"), ["segment"]);
    assert!(!allowed("segment", "log") && !allowed("log", "Log") && allowed("log", "partition"));
    assert!(!allowed("format", "storage") && !allowed("storage", "format"));
    // The clients reach the group coordinator, never the other way.
    assert!(allowed("client", "coordinator") && !allowed("coordinator", "client"));
    assert!(allowed("coordinator", "log") && !allowed("log", "coordinator"));
}
