//! The load generator: simulated workshops over real WebSockets against a Plenary server, or
//! against the measuring-stick relay ([`relay`]) with the same message sizes.
//!
//! Op ids carry who sent the op, in which phase, its number and when it was sent
//! (`L{sender}.{phase}.{n}.{micros}`), so that any receiver can compute op-to-peer latency and
//! detect losses and duplicates without shared state.

pub mod relay;
pub mod stats;

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use plenary_protocol::workshop::Command;
use plenary_protocol::{ClientMsg, Op, OpKind, Stamp, Value};
use tokio_tungstenite::tungstenite::Message;

use crate::{create, create_workshop_at, join_at, Client};
use stats::{histogram, Latency, ProcSample, Receipts, Report};

/// Which server to drive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Target {
    /// A Plenary server (REST set-up, hello, rooms, acks).
    Plenary,
    /// The broadcast relay in `relay` (no set-up; the echo of one's own frame is the ack).
    Relay,
}

/// Rooms per simulated workshop: a class of about 50 people in teams.
pub const ROOMS_PER_WORKSHOP: usize = 10;
/// Time after the last send for deliveries to arrive before they are counted.
const DRAIN: Duration = Duration::from_secs(3);

#[derive(Debug, Clone)]
pub struct LoadConfig {
    pub target: Target,
    /// `http://host:port`
    pub url: String,
    pub rooms: usize,
    pub per_room: usize,
    /// Ops per second per attendee.
    pub rate: f64,
    pub duration: Duration,
    pub server_pid: Option<u32>,
}

/// Everything one attendee's tasks measure in one phase.
struct Tally {
    /// The phase this tally counts; ops of any other phase are not recorded in it.
    phase: u32,
    peer: Histogram<u64>,
    ack: Histogram<u64>,
    sent: u64,
    acked: u64,
    receipts: Receipts,
    errors: u64,
}

impl Tally {
    fn new(phase: u32) -> Self {
        Tally {
            phase,
            peer: histogram(),
            ack: histogram(),
            sent: 0,
            acked: 0,
            receipts: Receipts::default(),
            errors: 0,
        }
    }
}

/// The load generator's and the server's CPU and memory at one instant.
type Samples = (Option<ProcSample>, Option<ProcSample>);

/// Two tallies, for phases of either parity: while one phase runs, the ops of the phase before
/// it still arrive (and are counted in their own) until it is collected.
type Tallies = [Tally; 2];

fn slot(phase: u32) -> usize {
    (phase % 2) as usize
}

/// One simulated attendee: its index, room peers count and shared tallies.
struct Attendee {
    tally: Arc<Mutex<Tallies>>,
    /// Members of the room other than this one, who should receive each of its ops.
    peers: u64,
}

/// Shared control of the sending tasks.
struct Control {
    start: Instant,
    phase: AtomicU32,
    sending: AtomicBool,
    /// Ops per second per attendee, as f64 bits.
    rate_bits: std::sync::atomic::AtomicU64,
    stop: tokio_util::sync::CancellationToken,
}

impl Control {
    fn rate(&self) -> f64 {
        f64::from_bits(self.rate_bits.load(Ordering::Relaxed))
    }
}

/// A running simulated class: connected attendees sending and receiving.
pub struct Load {
    config: LoadConfig,
    attendees: Vec<Attendee>,
    control: Arc<Control>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// Facilitators, kept connected (and read) for the whole run.
    _facilitators: Vec<tokio::task::JoinHandle<()>>,
}

/// Parses `L{sender}.{phase}.{n}.{micros}` after `key` in a frame, without decoding JSON.
fn parse_id(text: &str, key: &str) -> Option<(u32, u32, u32, u64)> {
    let at = text.find(key)? + key.len();
    let rest = &text[at..];
    let end = rest.find('"')?;
    let mut parts = rest[..end].split('.');
    Some((
        parts.next()?.parse().ok()?,
        parts.next()?.parse().ok()?,
        parts.next()?.parse().ok()?,
        parts.next()?.parse().ok()?,
    ))
}

impl Load {
    /// Sets up the class and connects everyone; nobody sends yet.
    pub async fn connect(config: LoadConfig) -> anyhow::Result<Load> {
        let control = Arc::new(Control {
            start: Instant::now(),
            phase: AtomicU32::new(0),
            sending: AtomicBool::new(false),
            rate_bits: std::sync::atomic::AtomicU64::new(config.rate.to_bits()),
            stop: tokio_util::sync::CancellationToken::new(),
        });
        let mut load = Load {
            config,
            attendees: Vec::new(),
            control,
            tasks: Vec::new(),
            _facilitators: Vec::new(),
        };
        match load.config.target {
            Target::Plenary => load.connect_plenary().await?,
            Target::Relay => load.connect_relay().await?,
        }
        Ok(load)
    }

    async fn connect_plenary(&mut self) -> anyhow::Result<()> {
        // Several comma-separated URLs (nodes of one cluster) spread the attendees over the
        // nodes; set-up goes through the first.
        let bases: Vec<String> = self
            .config
            .url
            .split(',')
            .map(|u| u.trim().trim_end_matches('/').to_owned())
            .collect();
        let base = bases[0].clone();
        let ws_urls: Vec<String> = bases
            .iter()
            .map(|b| format!("{}/ws", b.replacen("http", "ws", 1)))
            .collect();
        let ws_url = ws_urls[0].clone();
        let mut spread = 0usize;
        let mut left = self.config.rooms;
        while left > 0 {
            let rooms = left.min(ROOMS_PER_WORKSHOP);
            left -= rooms;
            let created = create_workshop_at(&base, "Load").await?;
            let mut fac = Client::connect(&ws_url, &created.token).await?;
            let names = (0..rooms).map(|i| format!("Team {i}")).collect();
            command(&mut fac, Command::CreateBreakouts { names }).await?;
            let mut tokens = Vec::new();
            for i in 0..rooms * self.config.per_room {
                tokens.push(
                    join_at(&base, &created.join_code, &format!("A{i}"))
                        .await?
                        .1,
                );
            }
            command(&mut fac, Command::AssignAuto).await?;
            command(&mut fac, Command::OpenBreakouts).await?;
            // Longer than any run (stepup counts many phases), within the server's 24-hour cap.
            let timebox_secs = (self.config.duration.as_secs() * 20 + 600)
                .min(plenary_server::workshop::MAX_TIMEBOX_SECS);
            let exercise = Command::BroadcastExercise {
                title: "Refine the backlog".into(),
                instructions: "Write and order stories".into(),
                timebox_secs,
                template: None,
                rooms: None,
                auto_close: false,
                warning_secs: None,
            };
            command(&mut fac, exercise).await?;
            // The facilitator keeps reading (views, timer events) so it is never a slow consumer.
            self._facilitators.push(tokio::spawn(
                async move { while fac.recv().await.is_ok() {} },
            ));
            for token in tokens {
                spread += 1;
                let mut client = Client::connect(&ws_urls[spread % ws_urls.len()], &token).await?;
                let me = client.participant.clone();
                let room = client
                    .view
                    .participants
                    .iter()
                    .find(|p| p.id == me)
                    .and_then(|p| p.room.clone())
                    .ok_or_else(|| anyhow::anyhow!("attendee {me} has no room"))?;
                client.join(&room).await?;
                let item = format!("{me}-item");
                let kind = create(
                    &item,
                    "backlog_item",
                    "root",
                    "a0",
                    &[("title", Value::Text("story".into()))],
                );
                client
                    .apply(&room, kind)
                    .await?
                    .map_err(|c| anyhow::anyhow!("create refused: {c}"))?;
                self.spawn_attendee(client, room, item);
            }
        }
        Ok(())
    }

    async fn connect_relay(&mut self) -> anyhow::Result<()> {
        let base = self
            .config
            .url
            .trim_end_matches('/')
            .replacen("http", "ws", 1);
        for room in 0..self.config.rooms {
            for i in 0..self.config.per_room {
                let url = format!("{base}/ws?room={room}");
                let (ws, _) = tokio_tungstenite::connect_async_with_config(
                    &url,
                    Some(crate::ws_config()),
                    false,
                )
                .await?;
                let index = self.attendees.len() as u32;
                let participant = format!("p-relay{room}x{i}");
                self.spawn_stream(
                    ws,
                    index,
                    participant,
                    format!("room-{room}"),
                    format!("item{room}x{i}"),
                );
            }
        }
        Ok(())
    }

    fn spawn_attendee(&mut self, client: Client, room: String, item: String) {
        let index = self.attendees.len() as u32;
        let participant = client.participant.clone();
        self.spawn_stream(client.ws, index, participant, room, item);
    }

    fn spawn_stream<S>(
        &mut self,
        ws: S,
        index: u32,
        participant: String,
        room: String,
        item: String,
    ) where
        S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>>
            + futures_util::Sink<Message>
            + Send
            + Unpin
            + 'static,
    {
        let tally = Arc::new(Mutex::new([Tally::new(0), Tally::new(1)]));
        self.attendees.push(Attendee {
            tally: tally.clone(),
            peers: self.config.per_room as u64 - 1,
        });
        let (mut sink, mut stream) = ws.split();
        let control = self.control.clone();
        let relay = self.config.target == Target::Relay;
        let recv_tally = tally.clone();
        let recv_control = control.clone();
        let me = index;
        // Receiver: latency of every peer op, acks, duplicates, errors.
        self.tasks.push(tokio::spawn(async move {
            while let Some(Ok(message)) = stream.next().await {
                let Message::Text(text) = message else {
                    continue;
                };
                let now = recv_control.start.elapsed().as_micros() as u64;
                let phase = recv_control.phase.load(Ordering::Relaxed);
                let mut tallies = recv_tally.lock().expect("tally lock");
                if text.contains("\"type\":\"reject\"") || text.contains("\"type\":\"error\"") {
                    tallies[slot(phase)].errors += 1;
                } else if let Some((sender, p, n, sent)) = parse_id(&text, "\"id\":\"L") {
                    // Only the phase a tally was reset for counts in it: a straggler of an
                    // older phase is dropped, and missing from its own phase's count.
                    let t = &mut tallies[slot(p)];
                    if t.phase != p {
                        continue;
                    }
                    if sender == me && relay {
                        t.acked += 1;
                        let _ = t.ack.record(now.saturating_sub(sent).max(1));
                    } else if t.receipts.seen.insert((sender, n)) {
                        let _ = t.peer.record(now.saturating_sub(sent).max(1));
                    } else {
                        t.receipts.duplicates += 1;
                    }
                } else if let Some((_, p, _, sent)) = parse_id(&text, "\"op_id\":\"L") {
                    let t = &mut tallies[slot(p)];
                    if t.phase == p {
                        t.acked += 1;
                        let _ = t.ack.record(now.saturating_sub(sent).max(1));
                    }
                }
            }
            if !recv_control.stop.is_cancelled() {
                let phase = recv_control.phase.load(Ordering::Relaxed);
                recv_tally.lock().expect("tally lock")[slot(phase)].errors += 1;
            }
        }));
        // Sender: one op per tick while a phase is sending.
        self.tasks.push(tokio::spawn(async move {
            let mut n = 0u32;
            let mut clock = 1_000u64;
            let padding = "x".repeat(100);
            loop {
                let rate = control.rate().max(0.001);
                // Spread the first send of every attendee over one period.
                let period = Duration::from_secs_f64(1.0 / rate);
                let offset = period.mul_f64(f64::from(index % 97) / 97.0);
                tokio::select! {
                    _ = tokio::time::sleep(if n == 0 { offset } else { period }) => {}
                    _ = control.stop.cancelled() => return,
                }
                if !control.sending.load(Ordering::Relaxed) {
                    n = 1;
                    continue;
                }
                n += 1;
                clock += 1;
                let phase = control.phase.load(Ordering::Relaxed);
                let micros = control.start.elapsed().as_micros() as u64;
                let op = Op {
                    id: format!("L{index}.{phase}.{n}.{micros}"),
                    stamp: Stamp::new(clock, participant.clone()),
                    kind: OpKind::Set {
                        object: item.clone(),
                        fields: [("title".to_owned(), Value::Text(format!("{padding} {n}")))]
                            .into(),
                    },
                };
                let frame = serde_json::to_string(&ClientMsg::Op {
                    room: room.clone(),
                    op,
                })
                .expect("op serializes");
                {
                    let mut tallies = tally.lock().expect("tally lock");
                    let t = &mut tallies[slot(phase)];
                    if t.phase == phase {
                        t.sent += 1;
                    }
                }
                if sink.send(Message::text(frame)).await.is_err() {
                    tally.lock().expect("tally lock")[slot(phase)].errors += 1;
                    return;
                }
            }
        }));
    }

    /// Starts the next phase: resets its tallies, then tells senders and receivers.
    fn begin_phase(&self) -> u32 {
        let phase = self.control.phase.load(Ordering::SeqCst) + 1;
        for a in &self.attendees {
            a.tally.lock().expect("tally lock")[slot(phase)] = Tally::new(phase);
        }
        self.control.phase.store(phase, Ordering::SeqCst);
        phase
    }

    /// Runs one phase at `rate` ops/s per attendee for the configured duration.
    pub async fn phase(&mut self, mode: &str, rate: f64) -> Report {
        // Receivers count only ops of the current phase (the phase is part of every op id).
        let phase = self.begin_phase();
        self.control
            .rate_bits
            .store(rate.to_bits(), Ordering::Relaxed);
        let before = self.config.server_pid.and_then(ProcSample::read);
        let me_before = ProcSample::read(std::process::id());
        let started = Instant::now();
        self.control.sending.store(true, Ordering::SeqCst);
        tokio::time::sleep(self.config.duration).await;
        self.control.sending.store(false, Ordering::SeqCst);
        let elapsed = started.elapsed();
        let after = self.config.server_pid.and_then(ProcSample::read);
        let me_after = ProcSample::read(std::process::id());
        // Let the last ops arrive, then count.
        tokio::time::sleep(DRAIN).await;
        let mut totals = (histogram(), histogram());
        let mut report = self.collect(mode, phase, rate, elapsed, &mut totals);
        if let (Some(b), Some(a)) = (before, after) {
            report.server_cpu_pct = Some(b.cpu_pct(&a));
            report.server_rss_mib = Some(a.peak_rss_kib as f64 / 1024.0);
        }
        if let (Some(b), Some(a)) = (me_before, me_after) {
            report.loadgen_cpu_pct = Some(b.cpu_pct(&a));
        }
        report
    }

    /// Counts what every attendee saw of `phase` (sent over `elapsed`); adds its op-to-peer
    /// latencies to `totals.0` and its ack latencies to `totals.1`.
    fn collect(
        &self,
        mode: &str,
        phase: u32,
        rate: f64,
        elapsed: Duration,
        totals: &mut (Histogram<u64>, Histogram<u64>),
    ) -> Report {
        let mut peer = histogram();
        let mut ack = histogram();
        let mut report = Report {
            mode: mode.to_owned(),
            target: format!("{:?}", self.config.target).to_lowercase(),
            rooms: self.config.rooms,
            per_room: self.config.per_room,
            rate,
            duration_s: elapsed.as_secs_f64(),
            ..Report::default()
        };
        for a in &self.attendees {
            let tallies = a.tally.lock().expect("tally lock");
            let t = &tallies[slot(phase)];
            if t.phase != phase {
                // Never reset for this phase: nothing of it was counted.
                report.errors += 1;
                continue;
            }
            peer.add(&t.peer).expect("same histogram bounds");
            ack.add(&t.ack).expect("same histogram bounds");
            report.sent += t.sent;
            report.acked += t.acked;
            report.expected += t.sent * a.peers;
            report.delivered += t.receipts.seen.len() as u64;
            report.duplicates += t.receipts.duplicates;
            report.errors += t.errors;
        }
        totals.0.add(&peer).expect("same histogram bounds");
        totals.1.add(&ack).expect("same histogram bounds");
        let lat = Latency::of(&peer);
        (report.p50_ms, report.p95_ms, report.p99_ms, report.max_ms) =
            (lat.p50_ms, lat.p95_ms, lat.p99_ms, lat.max_ms);
        report.ack = Latency::of(&ack);
        report.lost = report.expected.saturating_sub(report.delivered);
        report.errors += report.sent.saturating_sub(report.acked);
        report.deliveries_per_s = report.delivered as f64 / elapsed.as_secs_f64();
        report
    }

    /// Sends without pause for the configured duration (rounded up to whole windows), counting
    /// in windows of `window`: every window is a phase of its own, collected [`DRAIN`] after the
    /// next one began, and reported to `each` as it is collected, with the server's CPU over the
    /// window and its RSS at the window's end. Returns the whole run's totals.
    pub async fn soak(&mut self, window: Duration, mut each: impl FnMut(&Report)) -> Report {
        assert!(!window.is_zero(), "a soak window must be longer than zero");
        let rate = self.config.rate;
        let windows = (self.config.duration.as_secs_f64() / window.as_secs_f64())
            .ceil()
            .max(1.0) as u32;
        let run_started = Instant::now();
        let mut totals = (histogram(), histogram());
        let mut total = Report::default();
        let add = |total: &mut Report, r: &Report| {
            total.sent += r.sent;
            total.acked += r.acked;
            total.expected += r.expected;
            total.delivered += r.delivered;
            total.lost += r.lost;
            total.duplicates += r.duplicates;
            total.errors += r.errors;
        };
        let server = self.config.server_pid;
        let sample = move || {
            (
                ProcSample::read(std::process::id()),
                server.and_then(ProcSample::read),
            )
        };
        let finish = |r: &mut Report, before: Samples, after: Samples, at: Duration| {
            r.loadgen_cpu_pct = before.0.zip(after.0).map(|(b, a)| b.cpu_pct(&a));
            r.server_cpu_pct = before.1.zip(after.1).map(|(b, a)| b.cpu_pct(&a));
            r.server_rss_mib = after.1.map(|a| a.rss_kib as f64 / 1024.0);
            r.at_s = Some(at.as_secs_f64());
        };
        let mut previous: Option<(u32, Duration, Samples)> = None;
        self.control
            .rate_bits
            .store(rate.to_bits(), Ordering::Relaxed);
        // One pass per window, and one more to collect the last window after sending stops.
        for w in 0..=windows {
            let current = (w < windows).then(|| self.begin_phase());
            self.control
                .sending
                .store(current.is_some(), Ordering::SeqCst);
            let started = Instant::now();
            let now = sample();
            // When the window ended: from the load generator's start, like the samples of
            // tests/bench/soak.sh.
            let at = self.control.start.elapsed();
            if let Some((phase, elapsed, before)) = previous.take() {
                tokio::time::sleep(DRAIN).await;
                let mut r = self.collect("soak", phase, rate, elapsed, &mut totals);
                finish(&mut r, before, now, at);
                add(&mut total, &r);
                each(&r);
            }
            if let Some(phase) = current {
                tokio::time::sleep(window.saturating_sub(started.elapsed())).await;
                previous = Some((phase, started.elapsed(), now));
            }
        }
        let lat = Latency::of(&totals.0);
        total.ack = Latency::of(&totals.1);
        (total.p50_ms, total.p95_ms, total.p99_ms, total.max_ms) =
            (lat.p50_ms, lat.p95_ms, lat.p99_ms, lat.max_ms);
        total.mode = "soak-total".into();
        total.target = format!("{:?}", self.config.target).to_lowercase();
        total.rooms = self.config.rooms;
        total.per_room = self.config.per_room;
        total.rate = rate;
        total.duration_s = run_started.elapsed().as_secs_f64();
        total.deliveries_per_s = total.delivered as f64 / total.duration_s;
        total
    }

    /// Stops every task.
    pub async fn close(self) {
        self.control.stop.cancel();
        for t in self.tasks {
            t.abort();
        }
        for t in self._facilitators {
            t.abort();
        }
    }
}

async fn command(client: &mut Client, command: Command) -> anyhow::Result<()> {
    let name = command.name();
    client
        .command(command)
        .await?
        .map_err(|code| anyhow::anyhow!("{name} refused: {code}"))
}

/// `workshop` mode: one phase at the configured rate.
pub async fn workshop(config: LoadConfig) -> anyhow::Result<Report> {
    let rate = config.rate;
    let mut load = Load::connect(config).await?;
    let report = load.phase("workshop", rate).await;
    load.close().await;
    Ok(report)
}

/// `soak` mode: the configured rate without pause for the configured duration, one report per
/// `window` (printed by `each`), then the totals.
pub async fn soak(
    config: LoadConfig,
    window: Duration,
    each: impl FnMut(&Report),
) -> anyhow::Result<Report> {
    let mut load = Load::connect(config).await?;
    let total = load.soak(window, each).await;
    load.close().await;
    Ok(total)
}

/// Whether a step passed: p99 at most 50 ms and nothing lost, duplicated or refused.
pub fn step_ok(report: &Report) -> bool {
    report.p99_ms <= 50.0 && report.lost == 0 && report.errors == 0 && report.duplicates == 0
}

/// `stepup` mode: double the rate every phase until p99 > 50 ms or anything is lost, then
/// bisect `refine` times between the last good and the first bad rate (so that the result is
/// within 2^-refine of the failing rate rather than a factor of 2); returns every step, in the
/// order run. The best good step is picked by the caller.
pub async fn stepup(
    config: LoadConfig,
    max_steps: usize,
    refine: usize,
) -> anyhow::Result<Vec<Report>> {
    let mut rate = config.rate;
    let mut load = Load::connect(config).await?;
    let mut steps = Vec::new();
    let mut bad_rate = None;
    for _ in 0..max_steps {
        let report = load.phase("stepup", rate).await;
        let ok = step_ok(&report);
        steps.push(report);
        if !ok {
            bad_rate = Some(rate);
            break;
        }
        rate *= 2.0;
    }
    if let Some(mut bad) = bad_rate {
        let mut good = bad / 2.0;
        for _ in 0..refine {
            // An overloaded step leaves queues behind: let them drain before measuring again.
            tokio::time::sleep(DRAIN).await;
            let mid = (good + bad) / 2.0;
            let report = load.phase("stepup", mid).await;
            if step_ok(&report) {
                good = mid;
            } else {
                bad = mid;
            }
            steps.push(report);
        }
    }
    load.close().await;
    Ok(steps)
}

/// `idle` mode: `count` connections that said hello and joined their room, then server RSS per
/// connection (growth of the server's RSS over the connections, divided by their number).
pub async fn idle(config: LoadConfig, count: usize) -> anyhow::Result<Report> {
    let base = config.url.trim_end_matches('/').to_owned();
    let ws_url = format!("{}/ws", base.replacen("http", "ws", 1));
    let per_workshop = 50;
    let mut tokens = Vec::new();
    while tokens.len() < count {
        let created = create_workshop_at(&base, "Idle").await?;
        for i in 0..per_workshop.min(count - tokens.len()) {
            tokens.push(
                join_at(&base, &created.join_code, &format!("I{i}"))
                    .await?
                    .1,
            );
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = config.server_pid.and_then(ProcSample::read);
    let mut clients = Vec::new();
    let mut errors = 0;
    for chunk in tokens.chunks(200) {
        let opened = futures_util::future::join_all(chunk.iter().map(|t| async {
            let mut c = Client::connect(&ws_url, t).await?;
            c.join("plenary").await?;
            anyhow::Ok(c)
        }))
        .await;
        for c in opened {
            match c {
                Ok(c) => clients.push(c),
                Err(_) => errors += 1,
            }
        }
    }
    // Keep reading so that pings are answered; the connections stay idle otherwise.
    let readers: Vec<_> = clients
        .into_iter()
        .map(|mut c| tokio::spawn(async move { while c.recv().await.is_ok() {} }))
        .collect();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = config.server_pid.and_then(ProcSample::read);
    let mut report = Report {
        mode: "idle".into(),
        target: "plenary".into(),
        errors,
        connections: Some(readers.len()),
        ..Report::default()
    };
    if let (Some(b), Some(a)) = (before, after) {
        report.server_rss_mib = Some(a.rss_kib as f64 / 1024.0);
        report.rss_per_connection_kib =
            Some(a.rss_kib.saturating_sub(b.rss_kib) as f64 / readers.len().max(1) as f64);
        report.server_cpu_pct = Some(b.cpu_pct(&a));
    }
    for r in readers {
        r.abort();
    }
    Ok(report)
}
