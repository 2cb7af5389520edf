//! Link settings for the `incident-bot` binary (README, "Memory").
//!
//! Packed relative relocations (`-z pack-relative-relocs`, DT_RELR): the
//! dynamic loader reads a few kilobytes of relocations at start-up instead
//! of about 0.8 MB, which is that much less of the binary resident for the
//! life of the process. The loader must know DT_RELR (glibc 2.36 or newer,
//! as in the container image's Debian bookworm), so the flag is used only
//! when the machine building is such a system and builds for itself: a
//! binary built on an older system is built without it and runs there.
//! `INCIDENT_BOT_NO_RELR=1` turns it off.

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=INCIDENT_BOT_NO_RELR");
    let target = std::env::var("TARGET").unwrap_or_default();
    let host = std::env::var("HOST").unwrap_or_default();
    if std::env::var_os("INCIDENT_BOT_NO_RELR").is_some() || target != host || !target.ends_with("-linux-gnu") {
        return;
    }
    if glibc_version().is_some_and(|v| v >= (2, 36)) {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}

/// The build machine's glibc, from `getconf GNU_LIBC_VERSION` ("glibc 2.36").
fn glibc_version() -> Option<(u32, u32)> {
    let out = Command::new("getconf").arg("GNU_LIBC_VERSION").output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let (major, minor) = text.trim().strip_prefix("glibc ")?.split_once('.')?;
    Some((major.parse().ok()?, minor.split('.').next()?.parse().ok()?))
}
