//! `loadgen MODE --url http://127.0.0.1:PORT [--rooms R --per-room M --rate OPS_PER_S
//! --duration S --server-pid PID --json]`: simulated workshops over real WebSockets.
//!
//! Modes: `workshop` (a fixed rate for a duration), `stepup` (double the rate every step until
//! p99 > 50 ms or any loss, then bisect `--refine` times between the last good and the first
//! bad rate; the fastest good step is reported), `idle` (open `--connections`
//! idle connections and report server RSS per connection), `soak` (the rate without pause for
//! the duration, one report per `--window` seconds as it is counted, then the totals; exits
//! non-zero if anything was lost, duplicated or refused).

use std::time::Duration;

use clap::{Parser, ValueEnum};
use plenary_tests::load::{self, LoadConfig, Target};

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Mode {
    Workshop,
    Stepup,
    Idle,
    Soak,
}

#[derive(Parser)]
#[command(name = "loadgen", about = "Load generator for Plenary")]
struct Args {
    mode: Mode,
    /// Base URL of the server (or of the relay with --target relay); several comma-separated
    /// URLs spread the attendees over the nodes of a cluster.
    #[arg(long)]
    url: String,
    #[arg(long, value_enum, default_value = "plenary")]
    target: Target,
    #[arg(long, default_value_t = 200)]
    rooms: usize,
    #[arg(long, default_value_t = 5)]
    per_room: usize,
    /// Ops per second per attendee (the first step's rate in stepup).
    #[arg(long, default_value_t = 2.0)]
    rate: f64,
    /// Seconds per measured phase (per step in stepup).
    #[arg(long, default_value_t = 60)]
    duration: u64,
    /// Most doubling steps in stepup.
    #[arg(long, default_value_t = 10)]
    steps: usize,
    /// Bisection steps in stepup between the last good and the first bad rate.
    #[arg(long, default_value_t = 3)]
    refine: usize,
    /// Idle connections to open in idle mode.
    #[arg(long, default_value_t = 10_000)]
    connections: usize,
    /// Seconds per counted window in soak mode (the duration is rounded up to whole windows).
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    window: u64,
    /// PID of the server, to report its CPU and memory.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Print one JSON object (one per line in soak mode) instead of text.
    #[arg(long)]
    json: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let config = LoadConfig {
        target: args.target,
        url: args.url,
        rooms: args.rooms,
        per_room: args.per_room.max(2),
        rate: args.rate,
        duration: Duration::from_secs(args.duration),
        server_pid: args.server_pid,
    };
    let report = match args.mode {
        Mode::Workshop => load::workshop(config).await?,
        Mode::Idle => load::idle(config, args.connections).await?,
        Mode::Soak => {
            let json = args.json;
            let total = load::soak(config, Duration::from_secs(args.window), |r| {
                if json {
                    println!("{}", serde_json::to_string(r).expect("report serializes"));
                } else {
                    r.print_text();
                }
            })
            .await?;
            if total.lost + total.duplicates + total.errors > 0 {
                if json {
                    println!("{}", serde_json::to_string(&total)?);
                } else {
                    println!("== result");
                    total.print_text();
                }
                anyhow::bail!(
                    "soak: {} lost, {} duplicates, {} errors",
                    total.lost,
                    total.duplicates,
                    total.errors
                );
            }
            total
        }
        Mode::Stepup => {
            let steps = load::stepup(config, args.steps, args.refine).await?;
            if !args.json {
                for s in &steps {
                    s.print_text();
                }
            }
            let good = steps
                .iter()
                .filter(|s| load::step_ok(s))
                .max_by(|a, b| a.rate.total_cmp(&b.rate))
                .cloned();
            match good {
                Some(mut last_good) => {
                    last_good.mode = "stepup".into();
                    last_good
                }
                None => anyhow::bail!("even the first step failed: {:?}", steps.first()),
            }
        }
    };
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!("== result");
        report.print_text();
    }
    Ok(())
}
