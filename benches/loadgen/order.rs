//! `LOADGEN_SYMBOL_ORDER=1 cargo bench --bench loadgen`: makes the code
//! layout lists `link/order-<build>.txt` that build.rs hands to lld
//! (`--symbol-ordering-file`), for the HTTP-only build and the default one.
//!
//! Each build is linked with its map (`INCIDENT_BOT_LINK_MAP`: every
//! function's address and mangled name), then run under valgrind's callgrind
//! through what it does for real against the fakes: start, register its
//! commands, answer PINGs or connect to the gateway, idle, declare
//! incidents (some held by Incident Manager while others arrive), and drain
//! on SIGTERM. Callgrind records each instruction run, by its address in the
//! binary; the functions holding them are the list, in the order the
//! compiler laid them out (related functions stay together). Linked first,
//! they take 2.4 of the HTTP-only build's 5.8 MB of `.text` in one piece,
//! instead of being scattered through all of it: the kernel maps code 64
//! KiB around each page touched, so the scattered layout made almost the
//! whole binary resident.
//!
//! The names carry the toolchain's and the lock file's hashes: after a
//! toolchain or dependency update, run this again (a name the link no
//! longer has is skipped; the bot is correct with any list, or none).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The callgrind command line put in front of the bot.
pub fn wrapper(out: &Path) -> String {
    format!(
        "valgrind --tool=callgrind --dump-instr=yes --compress-pos=no --compress-strings=no --callgrind-out-file={}",
        out.display()
    )
}

/// Where a build's map is written and its list committed.
pub fn map_path(target: &Path) -> PathBuf {
    target.join("incident-bot.map")
}

pub fn list_path(build: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("link/order-{build}.txt"))
}

/// One function of the link: where it starts, and its mangled name.
pub struct Symbol {
    pub start: u64,
    pub name: String,
}

/// The functions in `.text` of an lld map written with `--no-demangle`:
/// lines of `VMA LMA Size Align`, then the name of an output section, of
/// an input section (8 spaces further in) or of a symbol (16).
pub fn text_symbols(map: &str) -> Vec<Symbol> {
    let mut in_text = false;
    let mut symbols = Vec::new();
    for line in map.lines().skip(1) {
        let mut fields = line.split_whitespace();
        let (Some(vma), Some(_lma), Some(_size), Some(_align)) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let Some(rest) = fields.next() else { continue };
        match depth(line, rest) {
            0 => in_text = rest == ".text",
            2 if in_text => {
                if let Ok(start) = u64::from_str_radix(vma, 16) {
                    symbols.push(Symbol { start, name: rest.to_owned() });
                }
            }
            _ => {}
        }
    }
    symbols.sort_by_key(|s| s.start);
    symbols
}

/// 0 for an output section, 1 for an input section, 2 for a symbol: lld
/// indents each level by 8 more spaces after the four number columns.
fn depth(line: &str, rest: &str) -> usize {
    let at = line.rfind(rest).unwrap_or(0);
    let numbers_end = line[..at].trim_end().len();
    (at - numbers_end).saturating_sub(1) / 8
}

/// The instruction addresses callgrind recorded in the object `binary`
/// (`--dump-instr=yes --compress-pos=no --compress-strings=no`: position
/// lines start with the address, as in the object file).
pub fn executed(callgrind: &str, binary: &Path) -> BTreeSet<u64> {
    let name = binary.to_string_lossy();
    let mut ours = false;
    let mut out = BTreeSet::new();
    for line in callgrind.lines() {
        if let Some(ob) = line.strip_prefix("ob=") {
            ours = ob == name;
        } else if ours
            && let Some(hex) = line.strip_prefix("0x")
            && let Some(Ok(a)) = hex.split_whitespace().next().map(|h| u64::from_str_radix(h, 16))
        {
            out.insert(a);
        }
    }
    out
}

/// Writes the list for `build`: the functions of `map` that hold an
/// address callgrind recorded (in `outputs`, one file per process), in
/// address order. Returns (functions listed, functions in `.text`).
pub fn write_list(build: &str, binary: &Path, map: &Path, outputs: &[PathBuf]) -> (usize, usize) {
    let map = std::fs::read_to_string(map).expect("the link map (INCIDENT_BOT_LINK_MAP)");
    let symbols = text_symbols(&map);
    assert!(!symbols.is_empty(), "no .text symbols in the link map");
    let mut hit = vec![false; symbols.len()];
    for out in outputs {
        let text = std::fs::read_to_string(out).expect("callgrind's output");
        for a in executed(&text, binary) {
            let i = symbols.partition_point(|s| s.start <= a);
            if i > 0 {
                hit[i - 1] = true;
            }
        }
    }
    let mut list = String::new();
    let mut seen = std::collections::HashSet::new();
    let mut n = 0;
    for (s, _) in symbols.iter().zip(&hit).filter(|(_, h)| **h) {
        if seen.insert(s.name.as_str()) {
            list.push_str(&s.name);
            list.push('\n');
            n += 1;
        }
    }
    assert!(n > 0, "callgrind recorded nothing in {}", binary.display());
    let path = list_path(build);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, list).unwrap();
    (n, symbols.len())
}

/// How much of `build`'s committed list this link still has: (names found
/// in the map, names listed), or `None` without a list or a map. Far from
/// all found means the list is stale (a toolchain or dependency update):
/// make it again.
pub fn coverage(build: &str, map: &Path) -> Option<(usize, usize)> {
    let list = std::fs::read_to_string(list_path(build)).ok()?;
    let map = std::fs::read_to_string(map).ok()?;
    let names: std::collections::HashSet<String> = text_symbols(&map).into_iter().map(|s| s.name).collect();
    let listed: Vec<&str> = list.lines().filter(|l| !l.is_empty()).collect();
    Some((listed.iter().filter(|n| names.contains(**n)).count(), listed.len()))
}
