//! Measurements: latency histograms, delivery accounting and the server's CPU and memory.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;

/// A latency histogram in microseconds, 1 µs to 60 s, 3 significant digits.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds")
}

/// What one receiving connection saw in a phase.
#[derive(Default)]
pub struct Receipts {
    /// (sender, n) of every op delivered, to count duplicates.
    pub seen: HashSet<(u32, u32)>,
    pub duplicates: u64,
}

/// Percentiles of a histogram, in milliseconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Latency {
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub count: u64,
}

impl Latency {
    pub fn of(h: &Histogram<u64>) -> Self {
        let ms = |us: u64| us as f64 / 1000.0;
        Latency {
            p50_ms: ms(h.value_at_quantile(0.50)),
            p95_ms: ms(h.value_at_quantile(0.95)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            max_ms: ms(h.max()),
            count: h.len(),
        }
    }
}

/// CPU time and memory of a process, read from /proc (Linux).
#[derive(Debug, Clone, Copy)]
pub struct ProcSample {
    pub at: Instant,
    /// user + system CPU time in clock ticks.
    pub ticks: u64,
    pub rss_kib: u64,
    pub peak_rss_kib: u64,
}

/// Clock ticks per second for /proc/PID/stat (USER_HZ), 100 on Linux.
const TICKS_PER_SEC: f64 = 100.0;

impl ProcSample {
    pub fn read(pid: u32) -> Option<Self> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // Fields after the command name, which is in parentheses and may contain spaces.
        let rest = stat.rsplit_once(')')?.1;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let utime: u64 = fields.get(11)?.parse().ok()?;
        let stime: u64 = fields.get(12)?.parse().ok()?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let kib = |key: &str| {
            status
                .lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
        };
        Some(ProcSample {
            at: Instant::now(),
            ticks: utime + stime,
            rss_kib: kib("VmRSS:")?,
            peak_rss_kib: kib("VmHWM:")?,
        })
    }

    /// CPU use between two samples, in percent of one core.
    pub fn cpu_pct(&self, later: &ProcSample) -> f64 {
        let secs = later
            .at
            .duration_since(self.at)
            .max(Duration::from_millis(1))
            .as_secs_f64();
        (later.ticks.saturating_sub(self.ticks)) as f64 / TICKS_PER_SEC / secs * 100.0
    }
}

/// The report of one measured phase; `--json` prints it as one object.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub mode: String,
    pub target: String,
    pub rooms: usize,
    pub per_room: usize,
    /// Ops per second per attendee.
    pub rate: f64,
    pub duration_s: f64,
    /// Op-to-peer latency: send to receipt at every other member.
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// Send to acknowledgement.
    pub ack: Latency,
    pub sent: u64,
    pub acked: u64,
    pub deliveries_per_s: f64,
    pub expected: u64,
    pub delivered: u64,
    pub lost: u64,
    pub duplicates: u64,
    pub errors: u64,
    pub server_cpu_pct: Option<f64>,
    /// The server's peak RSS by the end of the phase (in soak mode: its RSS at the window's end).
    pub server_rss_mib: Option<f64>,
    /// The load generator's own CPU over the phase: it shares the machine with the server.
    pub loadgen_cpu_pct: Option<f64>,
    /// Soak mode: seconds from the start of the run to when this window was counted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at_s: Option<f64>,
    /// Idle mode: connections opened and server RSS per connection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connections: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rss_per_connection_kib: Option<f64>,
}

impl Report {
    pub fn print_text(&self) {
        println!(
            "{} {} rooms={} per_room={} rate={}/s duration={:.1}s",
            self.mode, self.target, self.rooms, self.per_room, self.rate, self.duration_s
        );
        println!(
            "  op-to-peer p50={:.2}ms p95={:.2}ms p99={:.2}ms max={:.2}ms",
            self.p50_ms, self.p95_ms, self.p99_ms, self.max_ms
        );
        println!(
            "  ack p50={:.2}ms p95={:.2}ms p99={:.2}ms max={:.2}ms",
            self.ack.p50_ms, self.ack.p95_ms, self.ack.p99_ms, self.ack.max_ms
        );
        println!(
            "  sent={} acked={} deliveries/s={:.0} expected={} delivered={} lost={} duplicates={} errors={}",
            self.sent,
            self.acked,
            self.deliveries_per_s,
            self.expected,
            self.delivered,
            self.lost,
            self.duplicates,
            self.errors
        );
        if let (Some(cpu), Some(rss)) = (self.server_cpu_pct, self.server_rss_mib) {
            println!("  server cpu={cpu:.0}% peak rss={rss:.1}MiB");
        }
        if let Some(cpu) = self.loadgen_cpu_pct {
            println!("  loadgen cpu={cpu:.0}%");
        }
        if let (Some(n), Some(per)) = (self.connections, self.rss_per_connection_kib) {
            println!("  connections={n} rss/connection={per:.1}KiB");
        }
    }
}
