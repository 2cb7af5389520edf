//! Link settings for the `incident-bot` binary (docs/performance.md, "Memory").
//!
//! Packed relative relocations (`-z pack-relative-relocs`, DT_RELR): the
//! dynamic loader reads a few kilobytes of relocations at start-up instead
//! of about 0.8 MB, which is that much less of the binary resident for the
//! life of the process. The loader must know DT_RELR (glibc 2.36 or newer,
//! as in the container image's Debian bookworm), so the flag is used only
//! when the machine building is such a system and builds for itself: a
//! binary built on an older system is built without it and runs there.
//! `INCIDENT_BOT_NO_RELR=1` turns it off.
//!
//! Code layout (`link/order-<build>.txt`, lld's `--symbol-ordering-file`):
//! the functions the bot runs while it starts, idles and answers are linked
//! next to each other at the start of `.text`, instead of scattered through
//! 6 to 7 MB of code. The kernel maps a binary's code 64 KiB around each
//! page the process touches, so scattered code made almost all of it
//! resident; together, the pages around them are mostly pages the bot runs.
//! The lists are made by the benchmark (`LOADGEN_SYMBOL_ORDER=1 cargo bench
//! --bench loadgen`: the real binary under valgrind, against the fakes) and
//! name each function by its mangled symbol, so they hold for this
//! toolchain and lock file: a name the link no longer has is skipped, and a
//! stale list costs memory, never correctness. Only release builds for
//! x86_64 Linux use them, where rustc links with its own lld (Rust 1.90 and
//! newer) unless another linker is configured; `INCIDENT_BOT_NO_SYMBOL_ORDER=1`
//! turns it off.
//! `INCIDENT_BOT_LINK_MAP=FILE` writes the link's map (symbols and
//! addresses, mangled) to FILE: the benchmark reads it to make the lists.

use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=INCIDENT_BOT_NO_RELR");
    println!("cargo:rerun-if-env-changed=INCIDENT_BOT_NO_SYMBOL_ORDER");
    println!("cargo:rerun-if-env-changed=INCIDENT_BOT_LINK_MAP");
    let target = std::env::var("TARGET").unwrap_or_default();
    let host = std::env::var("HOST").unwrap_or_default();
    if !target.ends_with("-linux-gnu") {
        return;
    }
    if target == "x86_64-unknown-linux-gnu" {
        code_layout();
    }
    if std::env::var_os("INCIDENT_BOT_NO_RELR").is_some() || target != host {
        return;
    }
    if glibc_version().is_some_and(|v| v >= (2, 36)) {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}

/// The build this is, as the benchmark names its lists: the default build
/// (with the gateway), the HTTP-only one, or the Lambda one.
fn build_name() -> &'static str {
    let on = |feature: &str| std::env::var_os(format!("CARGO_FEATURE_{feature}")).is_some();
    if on("LAMBDA") {
        "lambda"
    } else if on("GATEWAY") {
        "default"
    } else {
        "http-only"
    }
}

/// lld's symbol ordering for release builds, and the link map on request.
fn code_layout() {
    if let Some(map) = std::env::var_os("INCIDENT_BOT_LINK_MAP") {
        let map = Path::new(&map);
        println!("cargo:rustc-link-arg-bins=-Wl,--no-demangle");
        println!("cargo:rustc-link-arg-bins=-Wl,-Map={}", map.display());
    }
    if std::env::var("PROFILE").as_deref() != Ok("release")
        || std::env::var_os("INCIDENT_BOT_NO_SYMBOL_ORDER").is_some()
        || !default_linker()
    {
        return;
    }
    let list = format!("link/order-{}.txt", build_name());
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
    let path = Path::new(&dir).join(&list);
    // A missing file would make cargo run this script (and link) on every
    // build; the folder's own time changes when a list is added.
    println!("cargo:rerun-if-changed={}", if path.is_file() { list.as_str() } else { "link" });
    if path.is_file() {
        println!("cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={}", path.display());
        println!("cargo:rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
    }
}

/// Whether rustc links with its own lld, as it does for this target unless
/// told otherwise: no linker configured for the target (cargo then names
/// it in `RUSTC_LINKER`), and no linker chosen through the flags.
fn default_linker() -> bool {
    println!("cargo:rerun-if-env-changed=RUSTC_LINKER");
    let flags = std::env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    std::env::var_os("RUSTC_LINKER").is_none() && !["linker", "fuse-ld"].iter().any(|f| flags.contains(f))
}

/// The build machine's glibc, from `getconf GNU_LIBC_VERSION` ("glibc 2.36").
fn glibc_version() -> Option<(u32, u32)> {
    let out = Command::new("getconf").arg("GNU_LIBC_VERSION").output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let (major, minor) = text.trim().strip_prefix("glibc ")?.split_once('.')?;
    Some((major.parse().ok()?, minor.split('.').next()?.parse().ok()?))
}
