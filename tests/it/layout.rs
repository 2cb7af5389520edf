//! The benchmark's code layout lists (benches/loadgen/order.rs, build.rs):
//! its readers of lld's map and of callgrind's output, and the committed
//! lists that every release build hands to the linker.

#[path = "../../benches/loadgen/order.rs"]
#[allow(dead_code)]
mod order;

use std::path::Path;

use order::{executed, list_path, text_symbols};

/// An lld map excerpt, as `-Map` with `--no-demangle` writes it.
const MAP: &str = "             VMA              LMA     Size Align Out     In      Symbol
        6000             6000       10    16 .rodata
        6000             6000       10    16         x.o:(.rodata._ZN1a1fE)
      24fd40           24fd40      100    64 .text
      24fd40           24fd40       40    16         x.o:(.text._ZN1a1fE)
      24fd40           24fd40       40     1                 _ZN1a1fE
      24fd80           24fd80       c0    16         x.o:(.text._ZN1a1gE)
      24fd80           24fd80       c0     1                 _ZN1a1gE
      24fe40           24fe40       10     4 .init
      24fe40           24fe40       10     1                 _init
";

#[test]
fn text_symbols_are_the_map_s_functions_in_text() {
    let names: Vec<(u64, String)> = text_symbols(MAP).into_iter().map(|s| (s.start, s.name)).collect();
    assert_eq!(names, vec![(0x24fd40, "_ZN1a1fE".to_owned()), (0x24fd80, "_ZN1a1gE".to_owned())]);
}

#[test]
fn executed_reads_the_binary_s_instruction_addresses_only() {
    let out = "positions: instr line\nob=/lib/libc.so.6\nfn=memcpy\n0x24fd80 0 1\nob=/b/incident-bot\nfn=0x1\n\
               0x24fd44 0 3\ncalls=1 0x10 0\n0x24fd48 0 1\n";
    let got: Vec<u64> = executed(out, Path::new("/b/incident-bot")).into_iter().collect();
    assert_eq!(got, vec![0x24fd44, 0x24fd48]);
}

/// What build.rs hands to lld: one mangled symbol a line, each once,
/// with the program's entry among them.
#[test]
fn committed_lists_are_symbol_names() {
    for build in ["default", "http-only"] {
        let list = std::fs::read_to_string(list_path(build)).unwrap();
        let names: Vec<&str> = list.lines().collect();
        assert!(names.len() > 1000, "{build}: {} names", names.len());
        assert!(names.iter().all(|n| !n.is_empty() && !n.contains(char::is_whitespace)), "{build}");
        let unique: std::collections::HashSet<&&str> = names.iter().collect();
        assert_eq!(unique.len(), names.len(), "{build}: a name twice");
        assert!(names.contains(&"main") && names.iter().any(|n| n.starts_with("_ZN")), "{build}");
    }
}
