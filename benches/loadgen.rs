//! Load benchmark: the release incident-bot against the local fake Discord and
//! fake Incident Manager, beside a minimal serenity bot (the floor).
//!
//! `cargo bench --bench loadgen` — prints one table and exits non-zero if any
//! interaction was lost or duplicated. See README, "Performance".
//!
//! For each bot: start-up time (process start → commands registered), idle
//! RSS, then bursts of /incident interactions sent as fast as the fake gateway
//! writes them, with Incident Manager answering after 0 or 200 ms:
//! ack latency (dispatch → the fake receives the interaction callback) and
//! declare latency (dispatch → the fake receives the edit with the outcome),
//! p50 / p99 / max; interactions never answered; duplicates; peak RSS
//! (VmHWM). Knobs: LOADGEN_SCENARIOS="1@0,100@0,200@200,1000@200".
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

#[path = "../tests/it/fake_discord.rs"]
mod fake_discord;
#[path = "../tests/it/fake_incident_manager.rs"]
mod fake_incident_manager;
#[path = "../tests/it/http.rs"]
mod http;

use std::process::Stdio;
use std::time::{Duration, Instant};

use fake_discord::{Event, FakeDiscord};
use fake_incident_manager::{self as fim, FakeIncidentManager};
use serde_json::json;

/// How long anything may take before the benchmark calls it lost.
pub const WAIT: Duration = Duration::from_secs(60);
const TOKEN: &str = "bench-token";

#[derive(Clone, Copy, PartialEq)]
enum Bot {
    IncidentBot,
    Floor,
}

impl Bot {
    fn name(self) -> &'static str {
        match self {
            Bot::IncidentBot => "incident-bot",
            Bot::Floor => "floor",
        }
    }
}

#[derive(Default, Clone)]
struct Run {
    n: usize,
    delay_ms: u64,
    ack: Vec<Duration>,
    declare: Vec<Duration>,
    lost: usize,
    duplicated: usize,
    incidents: usize,
}

#[derive(Default)]
struct Report {
    startup: Duration,
    idle_rss_kb: u64,
    peak_rss_kb: u64,
    runs: Vec<Run>,
}

fn rss_kb(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status.lines().find_map(|l| l.strip_prefix(field)?.trim().strip_suffix("kB")?.trim().parse().ok()).unwrap_or(0)
}

fn pct(v: &[Duration], p: f64) -> Duration {
    if v.is_empty() {
        return Duration::ZERO;
    }
    let mut v = v.to_vec();
    v.sort();
    let i = ((p / 100.0) * (v.len() as f64)).ceil() as usize;
    v[i.clamp(1, v.len()) - 1]
}

fn floor_binary() -> std::path::PathBuf {
    let status = std::process::Command::new(env!("CARGO"))
        .args(["build", "--profile", "bench", "--example", "floor"])
        .status()
        .expect("cargo build --example floor");
    assert!(status.success());
    let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| format!("{}/target", env!("CARGO_MANIFEST_DIR")));
    std::path::PathBuf::from(target).join("release/examples/floor")
}

async fn bench(bot: Bot, floor: &std::path::Path, scenarios: &[(usize, u64)]) -> Report {
    let discord = FakeDiscord::start(TOKEN).await;
    let aws = FakeIncidentManager::start(&["Payments"]).await;
    let dir = std::env::temp_dir().join(format!("loadgen-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[discord]\nguild_ids = [{g}]\napi_url = \"{d}\"\n[aws]\nregion = \"{r}\"\nendpoint_url = \"{a}\"\n\
             [incident.plans]\npayments = \"{p}\"\n\
             # One user declares everything here: lift the abuse limits.\n\
             [limits]\nper_user = 100000\nper_guild = 100000\n",
            g = fake_discord::GUILD_ID,
            d = discord.api_url,
            r = fim::REGION,
            a = aws.url,
            p = fim::plan_arn("Payments"),
        ),
    )
    .unwrap();
    let started = Instant::now();
    let mut cmd = match bot {
        Bot::IncidentBot => {
            let mut c = tokio::process::Command::new(env!("CARGO_BIN_EXE_incident-bot"));
            c.args(["run", "--config", config.to_str().unwrap()]);
            c
        }
        Bot::Floor => tokio::process::Command::new(floor),
    };
    let mut child = cmd
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", &dir)
        .env("DISCORD_TOKEN", TOKEN)
        .env("DISCORD_API_URL", &discord.api_url)
        .env("GUILD_ID", fake_discord::GUILD_ID.to_string())
        .env("AWS_ACCESS_KEY_ID", fim::ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", fim::SECRET_KEY)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("start the bot");
    let pid = child.id().unwrap();
    discord.wait_commands().await;
    let mut report = Report { startup: started.elapsed(), ..Report::default() };
    // Idle: let start-up allocations settle, then read the resident set.
    tokio::time::sleep(Duration::from_secs(2)).await;
    report.idle_rss_kb = rss_kb(pid, "VmRSS:");

    for &(n, delay_ms) in scenarios {
        aws.set_delay(Duration::from_millis(delay_ms));
        let before = aws.incidents().len();
        let mut ids = Vec::with_capacity(n);
        for i in 0..n {
            let options = json!([{"name": "plan", "type": 3, "value": "payments"}, {"name": "title", "type": 3, "value": format!("Load {i}")}]);
            ids.push(discord.dispatch_interaction(fake_discord::incident_command(options)).await);
        }
        let deadline = Instant::now() + WAIT;
        let mut run = Run { n, delay_ms, ..Run::default() };
        let done = |s: &fake_discord::State| ids.iter().filter(|id| !s.edits(**id).is_empty()).count();
        loop {
            if discord.with_state(done) == n || Instant::now() > deadline {
                break;
            }
            let _ = tokio::time::timeout(
                Duration::from_millis(100),
                discord.wait_for("progress", |s| (done(s) == n).then_some(())),
            )
            .await;
        }
        discord.with_state(|s| {
            for id in &ids {
                let callbacks = s.callbacks(*id);
                if let Some((_, after)) = callbacks.first() {
                    run.ack.push(*after);
                }
                let edit = s.events.iter().find_map(|e| match e {
                    Event::Edit { interaction, after, .. } if interaction == id => Some(*after),
                    _ => None,
                });
                match edit {
                    Some(after) => run.declare.push(after),
                    None => run.lost += 1,
                }
            }
            run.duplicated += s.rejected().iter().filter(|e| matches!(e, Event::Rejected { status: 400, .. })).count();
        });
        if bot == Bot::IncidentBot {
            let incidents = aws.incidents().len() - before;
            run.incidents = incidents;
            run.duplicated += incidents.saturating_sub(n);
            run.lost = run.lost.max(n.saturating_sub(incidents));
        }
        report.runs.push(run);
    }
    report.peak_rss_kb = rss_kb(pid, "VmHWM:");
    let _ = child.start_kill();
    let _ = child.wait().await;
    report
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

fn main() {
    let scenarios: Vec<(usize, u64)> = std::env::var("LOADGEN_SCENARIOS")
        .unwrap_or_else(|_| "1@0,100@0,200@200,1000@200".to_owned())
        .split(',')
        .filter_map(|s| {
            let (n, d) = s.split_once('@')?;
            Some((n.trim().parse().ok()?, d.trim().parse().ok()?))
        })
        .collect();
    let floor = floor_binary();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let bot = rt.block_on(bench(Bot::IncidentBot, &floor, &scenarios));
    let base = rt.block_on(bench(Bot::Floor, &floor, &scenarios));
    let size = std::fs::metadata(env!("CARGO_BIN_EXE_incident-bot")).map(|m| m.len()).unwrap_or(0);

    println!();
    println!(
        "incident-bot load benchmark ({} cores; fakes on loopback)",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!("{:<44} {:>14} {:>12} {:>8}", "metric", Bot::IncidentBot.name(), Bot::Floor.name(), "ratio");
    let row = |name: String, a: f64, b: f64, unit: &str| {
        let ratio = if b > 0.0 { format!("{:.2}", a / b) } else { "-".to_owned() };
        println!("{:<44} {:>11.2} {unit:<2} {:>9.2} {unit:<2} {:>8}", name, a, b, ratio);
    };
    row(
        "start-up to commands registered".into(),
        bot.startup.as_secs_f64() * 1e3,
        base.startup.as_secs_f64() * 1e3,
        "ms",
    );
    row("idle RSS".into(), bot.idle_rss_kb as f64 / 1024.0, base.idle_rss_kb as f64 / 1024.0, "MB");
    row("peak RSS (VmHWM)".into(), bot.peak_rss_kb as f64 / 1024.0, base.peak_rss_kb as f64 / 1024.0, "MB");
    let mut failed = false;
    for (r, f) in bot.runs.iter().zip(&base.runs) {
        let tag = format!("N={} AWS {}ms", r.n, r.delay_ms);
        for (what, a, b) in [("ack", &r.ack, &f.ack), ("declare", &r.declare, &f.declare)] {
            for (p, label) in [(50.0, "p50"), (99.0, "p99"), (100.0, "max")] {
                row(
                    format!("{tag}: {what} {label}"),
                    pct(a, p).as_secs_f64() * 1e3,
                    pct(b, p).as_secs_f64() * 1e3,
                    "ms",
                );
            }
        }
        println!(
            "{:<44} incidents {} · lost {} · duplicated {} (floor: lost {} · duplicated {})",
            format!("{tag}: outcome"),
            r.incidents,
            r.lost,
            r.duplicated,
            f.lost,
            f.duplicated
        );
        failed |= r.lost > 0 || r.duplicated > 0 || r.incidents != r.n;
    }
    println!("{:<44} {:>11.2} MB", "release binary (stripped)", size as f64 / 1_048_576.0);
    if failed {
        eprintln!("FAILED: an interaction was lost or duplicated");
        std::process::exit(1);
    }
}
