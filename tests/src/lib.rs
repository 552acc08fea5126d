//! Shared helpers for Plenary's integration tests: a real server on port 0, real WebSocket
//! clients (tokio-tungstenite) and the REST calls.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use futures_util::{SinkExt, StreamExt};
use plenary_protocol::workshop::{Command, WorkshopView};
use plenary_protocol::{ClientMsg, Op, OpKind, ServerMsg, Stamp, Value, PROTOCOL_VERSION};
use plenary_server::Config;
use serde_json::json;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;

pub use plenary_server;

pub mod load;

/// How long a test waits for an expected message before failing.
pub const RECV_TIMEOUT: Duration = Duration::from_secs(10);

/// A fresh, empty directory under the system temp dir.
/// The seed of a randomized test: `PLENARY_TEST_SEED` if set, else a random one. Printed, so that
/// a failure can be rerun with the same seed.
pub fn test_seed() -> u64 {
    let seed = std::env::var("PLENARY_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    println!("seed {seed} (rerun with PLENARY_TEST_SEED={seed})");
    seed
}

pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "plenary-test-{name}-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

/// The server, in process, on a free port.
pub struct TestServer {
    pub addr: SocketAddr,
    pub shutdown: CancellationToken,
    pub task: JoinHandle<anyhow::Result<()>>,
    pub data_dir: PathBuf,
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// Starts with a configuration adjusted by `tweak`.
    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> Self {
        Self::start_in(temp_dir("server"), tweak).await
    }

    /// Starts on an existing data dir (a restart), with a configuration adjusted by `tweak`.
    pub async fn start_in(data_dir: PathBuf, tweak: impl FnOnce(&mut Config)) -> Self {
        let mut config = Config::for_tests(&data_dir);
        tweak(&mut config);
        let listener = tokio::net::TcpListener::bind(config.bind)
            .await
            .expect("bind port 0");
        let addr = listener.local_addr().expect("local addr");
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(plenary_server::run(listener, config, shutdown.clone()));
        TestServer {
            addr,
            shutdown,
            task,
            data_dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    /// Creates a workshop; returns the facilitator's credentials and the codes.
    pub async fn create_workshop(&self, title: &str) -> anyhow::Result<Created> {
        create_workshop_at(&self.url(""), title).await
    }

    /// Joins with a code; returns (participant id, token).
    pub async fn join(&self, code: &str, name: &str) -> anyhow::Result<(String, String)> {
        join_at(&self.url(""), code, name).await
    }

    /// Connects and completes the hello; returns the client and its welcome view.
    pub async fn connect(&self, token: &str) -> anyhow::Result<Client> {
        Client::connect(&self.ws_url(), token).await
    }

    pub async fn stop(self) {
        let dir = self.data_dir.clone();
        self.halt().await;
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Stops the server gracefully and keeps its data dir; returns the dir for a restart.
    pub async fn halt(self) -> PathBuf {
        self.shutdown.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(10), self.task).await;
        self.data_dir
    }
}

/// The set-up most tests share, a class with one team: a workshop with one breakout room
/// ("room-1") and `n` attendees ("Member 0", "Member 1", ...) assigned to it, not connected yet.
pub struct TeamClass {
    pub created: Created,
    pub fac: Client,
    /// Each attendee's participant id and token, in join order.
    pub members: Vec<(String, String)>,
    /// The team's room id.
    pub room: String,
}

impl TeamClass {
    pub async fn on(server: &TestServer, title: &str, n: usize) -> anyhow::Result<TeamClass> {
        let created = server.create_workshop(title).await?;
        let mut fac = server.connect(&created.token).await?;
        let breakouts = Command::CreateBreakouts {
            names: vec!["Team A".into()],
        };
        anyhow::ensure!(fac.command(breakouts).await? == Ok(()), "create_breakouts");
        let mut members = Vec::new();
        for i in 0..n {
            members.push(
                server
                    .join(&created.join_code, &format!("Member {i}"))
                    .await?,
            );
        }
        anyhow::ensure!(
            fac.command(Command::AssignAuto).await? == Ok(()),
            "assign_auto"
        );
        Ok(TeamClass {
            created,
            fac,
            members,
            room: "room-1".to_owned(),
        })
    }

    /// The attendees' tokens, in join order.
    pub fn tokens(&self) -> Vec<String> {
        self.members
            .iter()
            .map(|(_, token)| token.clone())
            .collect()
    }

    /// Connects every attendee; with `join`, each also joins the team's room.
    pub async fn connect(&self, server: &TestServer, join: bool) -> anyhow::Result<Vec<Client>> {
        let mut clients = Vec::new();
        for token in self.tokens() {
            let mut client = server.connect(&token).await?;
            if join {
                client.join(&self.room).await?;
            }
            clients.push(client);
        }
        Ok(clients)
    }
}

/// A [`TeamClass`] of `n` with every attendee connected (not joined to the room); returns the
/// facilitator, the attendees, the room id and the facilitator's token.
pub async fn one_team(
    server: &TestServer,
    n: usize,
) -> anyhow::Result<(Client, Vec<Client>, String, String)> {
    let class = TeamClass::on(server, "Model v2", n).await?;
    let clients = class.connect(server, false).await?;
    Ok((class.fac, clients, class.room, class.created.token))
}

/// A class spread over two nodes sharing `redis` (rate limits raised): a workshop with one
/// breakout room ("room-1") and one attendee who joined through each node. Returns the nodes,
/// the facilitator (connected to the last node), the attendees' tokens and the workshop id.
pub async fn two_node_class(
    redis: &RedisServer,
    name: &str,
) -> anyhow::Result<(Vec<Process>, Client, Vec<String>, String)> {
    let mut nodes = Vec::new();
    for node in ["a", "b"] {
        let args = [
            "--redis-url",
            &redis.url(),
            "--node-id",
            node,
            "--rate-per-sec",
            "10000",
            "--rate-burst",
            "10000",
        ];
        nodes.push(Process::start(&temp_dir(&format!("{name}-{node}")), &args).await?);
    }
    let created = create_workshop_at(&nodes[0].url(""), name).await?;
    let mut fac = Client::connect(&nodes[1].ws_url(), &created.token).await?;
    let breakouts = plenary_protocol::workshop::Command::CreateBreakouts {
        names: vec!["T".into()],
    };
    anyhow::ensure!(fac.command(breakouts).await? == Ok(()), "create_breakouts");
    let mut tokens = Vec::new();
    for (i, node) in nodes.iter().enumerate() {
        let (_, token) = join_at(&node.url(""), &created.join_code, &format!("M{i}")).await?;
        tokens.push(token);
    }
    let assign = plenary_protocol::workshop::Command::AssignAuto;
    anyhow::ensure!(fac.command(assign).await? == Ok(()), "assign_auto");
    Ok((nodes, fac, tokens, created.workshop_id))
}

/// Creates a workshop; returns the facilitator's credentials and the codes.
pub async fn create_workshop_at(base: &str, title: &str) -> anyhow::Result<Created> {
    let res = reqwest::Client::new()
        .post(format!("{base}/api/workshops"))
        .json(&json!({ "title": title, "facilitator_name": "Fran" }))
        .send()
        .await?;
    if res.status() != 201 {
        bail!("create workshop: {} {}", res.status(), res.text().await?);
    }
    let v: serde_json::Value = res.json().await?;
    Ok(Created {
        workshop_id: field(&v, "workshop_id")?,
        participant_id: field(&v, "participant_id")?,
        token: field(&v, "facilitator_token")?,
        join_code: field(&v, "join_code")?,
        observer_code: field(&v, "observer_code")?,
    })
}

/// Joins with a code; returns (participant id, token).
pub async fn join_at(base: &str, code: &str, name: &str) -> anyhow::Result<(String, String)> {
    let res = reqwest::Client::new()
        .post(format!("{base}/api/join"))
        .json(&json!({ "code": code, "name": name }))
        .send()
        .await?;
    if !res.status().is_success() {
        bail!("join: {} {}", res.status(), res.text().await?);
    }
    let v: serde_json::Value = res.json().await?;
    Ok((field(&v, "participant_id")?, field(&v, "token")?))
}

fn field(v: &serde_json::Value, name: &str) -> anyhow::Result<String> {
    v.get(name)
        .and_then(|x| x.as_str())
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("missing {name} in {v}"))
}

pub struct Created {
    pub workshop_id: String,
    pub participant_id: String,
    pub token: String,
    pub join_code: String,
    pub observer_code: String,
}

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A real WebSocket client speaking the protocol.
pub struct Client {
    pub ws: Ws,
    /// The token it said hello with, to reconnect as the same participant.
    pub token: String,
    pub participant: String,
    /// The workshop view as the server sent it: the welcome's, with every `workshop_patch`
    /// applied.
    pub view: WorkshopView,
    /// The client's Lamport clock for stamps.
    pub clock: u64,
    next_op: u64,
    /// A random tag per connection, so op ids stay unique across reconnects.
    session: u32,
    /// Every timer event received, in order (even those `recv_until` skipped).
    pub timer_events: Vec<plenary_protocol::TimerEvent>,
    next_req: u64,
    /// The size of the last text frame received, in bytes.
    pub last_frame_bytes: usize,
}

/// How a connection ended, as seen by the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    Closed(Option<u16>),
    Error(String),
}

/// WebSocket settings of the test and load clients. tungstenite zero-fills its whole read
/// buffer before every read: at the default 128 KiB that was a third of the load generator's CPU
/// (`memset` in its profile), taken from the server it shares the machine with.
pub fn ws_config() -> tokio_tungstenite::tungstenite::protocol::WebSocketConfig {
    tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default().read_buffer_size(4096)
}

impl Client {
    /// Opens a WebSocket without saying hello.
    pub async fn raw(url: &str) -> anyhow::Result<Ws> {
        let (ws, _) = tokio_tungstenite::connect_async_with_config(url, Some(ws_config()), false)
            .await
            .context("connect")?;
        Ok(ws)
    }

    pub async fn connect(url: &str, token: &str) -> anyhow::Result<Client> {
        Self::connect_resume(url, token, vec![]).await
    }

    /// Connects with resume points in the hello.
    pub async fn connect_resume(
        url: &str,
        token: &str,
        resume: Vec<plenary_protocol::ResumePoint>,
    ) -> anyhow::Result<Client> {
        let mut ws = Self::raw(url).await?;
        let hello = ClientMsg::Hello {
            protocol: PROTOCOL_VERSION,
            token: token.to_owned(),
            resume,
        };
        ws.send(Message::text(serde_json::to_string(&hello)?))
            .await?;
        let mut client = Client {
            ws,
            token: token.to_owned(),
            participant: String::new(),
            view: empty_view(),
            clock: 0,
            next_op: 0,
            session: rand::random(),
            timer_events: Vec::new(),
            next_req: 0,
            last_frame_bytes: 0,
        };
        match client.recv().await? {
            ServerMsg::Welcome {
                participant,
                workshop,
                ..
            } => {
                client.participant = participant.participant;
                client.view = workshop;
                Ok(client)
            }
            other => bail!("expected welcome, got {other:?}"),
        }
    }

    pub async fn send(&mut self, msg: &ClientMsg) -> anyhow::Result<()> {
        self.send_text(serde_json::to_string(msg)?).await
    }

    pub async fn send_text(&mut self, text: String) -> anyhow::Result<()> {
        self.ws.send(Message::text(text)).await?;
        Ok(())
    }

    /// The next server message (skipping pings), or an error on timeout or close.
    pub async fn recv(&mut self) -> anyhow::Result<ServerMsg> {
        loop {
            let next = tokio::time::timeout(RECV_TIMEOUT, self.ws.next())
                .await
                .context("timed out waiting for a message")?;
            match next {
                Some(Ok(Message::Text(t))) => {
                    let msg: ServerMsg = serde_json::from_str(&t)
                        .with_context(|| format!("undecodable server message {t}"))?;
                    self.last_frame_bytes = t.len();
                    if let ServerMsg::WorkshopPatch { patch } = &msg {
                        self.view.apply(patch.clone());
                    }
                    if let ServerMsg::Timer { event, .. } = &msg {
                        self.timer_events.push(*event);
                    }
                    return Ok(msg);
                }
                Some(Ok(Message::Close(frame))) => bail!("closed: {frame:?}"),
                Some(Ok(_)) => continue,
                Some(Err(e)) => bail!("socket error: {e}"),
                None => bail!("stream ended"),
            }
        }
    }

    /// The latest workshop view if it satisfies `pred`, else the next one that does.
    pub async fn view_until(
        &mut self,
        pred: impl Fn(&WorkshopView) -> bool,
    ) -> anyhow::Result<WorkshopView> {
        loop {
            if pred(&self.view) {
                return Ok(self.view.clone());
            }
            self.recv().await?;
        }
    }

    /// Receives until `pick` returns Some, discarding other messages.
    pub async fn recv_until<T>(
        &mut self,
        mut pick: impl FnMut(&ServerMsg) -> Option<T>,
    ) -> anyhow::Result<T> {
        loop {
            let msg = self.recv().await?;
            if let Some(t) = pick(&msg) {
                return Ok(t);
            }
        }
    }

    /// Reads until the connection ends; returns the close code.
    pub async fn recv_close(&mut self) -> Ended {
        loop {
            match tokio::time::timeout(RECV_TIMEOUT, self.ws.next()).await {
                Err(_) => return Ended::Error("timed out waiting for close".into()),
                Ok(Some(Ok(Message::Close(frame)))) => {
                    return Ended::Closed(frame.map(|f: CloseFrame| f.code.into()))
                }
                Ok(Some(Ok(_))) => continue,
                Ok(Some(Err(e))) => return Ended::Error(e.to_string()),
                Ok(None) => return Ended::Closed(None),
            }
        }
    }

    /// Joins a room and waits for its snapshot; returns (epoch, seq, doc).
    pub async fn join(&mut self, room: &str) -> anyhow::Result<(u64, u64, plenary_protocol::Doc)> {
        self.send(&ClientMsg::Join {
            room: room.to_owned(),
            epoch: None,
            seq: None,
        })
        .await?;
        let room_owned = room.to_owned();
        self.recv_until(|m| match m {
            ServerMsg::Snapshot {
                room,
                epoch,
                seq,
                doc,
            } if *room == room_owned => Some(Ok((*epoch, *seq, doc.clone()))),
            ServerMsg::Error { code, message, .. } => {
                Some(Err(anyhow!("join refused: {code} {message}")))
            }
            _ => None,
        })
        .await?
    }

    /// Sends a command and waits for its done or error.
    pub async fn command(
        &mut self,
        command: Command,
    ) -> anyhow::Result<Result<(), plenary_protocol::ErrorCode>> {
        self.next_req += 1;
        let req = format!("r{}", self.next_req);
        self.send(&ClientMsg::Command {
            req: Some(req.clone()),
            command,
        })
        .await?;
        self.recv_until(|m| match m {
            ServerMsg::Done { req: Some(r) } if *r == req => Some(Ok(())),
            ServerMsg::Error {
                req: Some(r), code, ..
            } if *r == req => Some(Err(*code)),
            _ => None,
        })
        .await
    }

    /// Builds an op stamped with this client's clock.
    pub fn op(&mut self, kind: OpKind) -> Op {
        self.clock += 1;
        self.next_op += 1;
        Op {
            id: format!("{}-{}-{}", self.participant, self.session, self.next_op),
            stamp: Stamp::new(self.clock, self.participant.clone()),
            kind,
        }
    }

    /// Advances the Lamport clock past an op seen from the server.
    pub fn observe(&mut self, op: &Op) {
        self.clock = self.clock.max(op.stamp.clock);
    }

    /// Sends a prepared op and waits for its ack (Ok(seq)) or reject (Err(code)).
    pub async fn apply_op(
        &mut self,
        room: &str,
        op: Op,
    ) -> anyhow::Result<Result<u64, plenary_protocol::ErrorCode>> {
        let id = op.id.clone();
        self.send(&ClientMsg::Op {
            room: room.to_owned(),
            op,
        })
        .await?;
        self.recv_until(|m| match m {
            ServerMsg::Ack { op_id, seq, .. } if *op_id == id => Some(Ok(*seq)),
            ServerMsg::Reject { op_id, code, .. } if *op_id == id => Some(Err(*code)),
            _ => None,
        })
        .await
    }

    /// Sends an op and waits for its ack (Ok(seq)) or reject (Err(code)).
    pub async fn apply(
        &mut self,
        room: &str,
        kind: OpKind,
    ) -> anyhow::Result<Result<u64, plenary_protocol::ErrorCode>> {
        let op = self.op(kind);
        self.apply_op(room, op).await
    }
}

/// A create op's kind, for brevity in tests.
pub fn create(object: &str, ty: &str, parent: &str, pos: &str, fields: &[(&str, Value)]) -> OpKind {
    OpKind::Create {
        object: object.to_owned(),
        ty: ty.to_owned(),
        parent: parent.to_owned(),
        pos: pos.to_owned(),
        fields: fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect(),
    }
}

/// A set op's kind.
pub fn set(object: &str, fields: &[(&str, Value)]) -> OpKind {
    OpKind::Set {
        object: object.to_owned(),
        fields: fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect(),
    }
}

pub fn text(s: &str) -> Value {
    Value::Text(s.to_owned())
}

fn empty_view() -> WorkshopView {
    WorkshopView {
        id: String::new(),
        title: String::new(),
        rooms: vec![],
        participants: vec![],
        breakouts_open: false,
        allow_choice: false,
        exercise: None,
        timer: None,
        stage: None,
        help: vec![],
        team_sizes: Default::default(),
    }
}

/// A client-side replica of one room, fed by server messages in arrival order.
#[derive(Debug, Default, Clone)]
pub struct Replica {
    pub room: String,
    pub doc: plenary_protocol::Doc,
    pub epoch: u64,
    /// Highest seq applied.
    pub seq: u64,
    /// Sent, not yet acknowledged or rejected.
    pub pending: std::collections::HashMap<String, Op>,
    pub rejected: Vec<(String, plenary_protocol::ErrorCode)>,
}

impl Replica {
    pub fn new(room: &str) -> Self {
        Replica {
            room: room.to_owned(),
            ..Default::default()
        }
    }

    /// Records an op this client sent.
    pub fn sent(&mut self, op: &Op) {
        self.pending.insert(op.id.clone(), op.clone());
    }

    /// Applies a server message about this room. Panics on a seq gap: the server must deliver
    /// every op of a room in order.
    pub fn on_message(&mut self, msg: &ServerMsg) {
        match msg {
            ServerMsg::Snapshot {
                room,
                epoch,
                seq,
                doc,
            } if *room == self.room => {
                self.doc = doc.clone();
                self.epoch = *epoch;
                self.seq = *seq;
            }
            ServerMsg::Op { room, seq, op } if *room == self.room => {
                assert_eq!(*seq, self.seq + 1, "seq gap in room {room}");
                self.doc.apply(op);
                self.seq = *seq;
            }
            ServerMsg::Ack { room, op_id, seq } if *room == self.room => {
                let op = self
                    .pending
                    .remove(op_id)
                    .expect("ack for an op this client sent");
                // An op the server completed (a reveal) came as an `op` frame just before.
                if *seq <= self.seq {
                    return;
                }
                assert_eq!(*seq, self.seq + 1, "seq gap in room {room} at ack");
                self.doc.apply(&op);
                self.seq = *seq;
            }
            ServerMsg::Reject {
                room, op_id, code, ..
            } if *room == self.room => {
                self.pending.remove(op_id);
                self.rejected.push((op_id.clone(), *code));
            }
            _ => {}
        }
    }
}

/// The `plenary` binary, built on first use (`cargo build -p plenary-server --bin plenary`).
pub fn plenary_binary() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            // target/debug/deps/it-xxxx -> target/debug/plenary
            let exe = std::env::current_exe().expect("test binary path");
            let dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
            let profile_release = dir.ends_with("release");
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let mut cmd = std::process::Command::new(cargo);
            cmd.args(["build", "-q", "-p", "plenary-server", "--bin", "plenary"]);
            if profile_release {
                cmd.arg("--release");
            }
            let status = cmd.status().expect("run cargo build");
            assert!(status.success(), "building the plenary binary failed");
            dir.join("plenary")
        })
        .clone()
}

/// The real `plenary` binary as a child process on a free port.
pub struct Process {
    pub child: tokio::process::Child,
    pub addr: SocketAddr,
    pub data_dir: PathBuf,
}

impl Process {
    /// Starts the binary on `data_dir` with extra arguments and waits until it listens.
    pub async fn start(data_dir: &std::path::Path, args: &[&str]) -> anyhow::Result<Process> {
        use tokio::io::{AsyncBufReadExt, BufReader};
        let mut child = tokio::process::Command::new(plenary_binary())
            .arg("--bind")
            .arg("127.0.0.1:0")
            .arg("--data-dir")
            .arg(data_dir)
            .args(args)
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .context("spawn plenary")?;
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let addr = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await? {
                if let Some(rest) = line.split("addr=").nth(1) {
                    if line.contains("plenary listening") {
                        let addr = rest.split_whitespace().next().unwrap_or_default();
                        return Ok::<_, anyhow::Error>(addr.parse::<SocketAddr>()?);
                    }
                }
            }
            bail!("plenary exited before listening")
        })
        .await
        .context("plenary did not start listening in time")??;
        // Keep draining stdout so the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Process {
            child,
            addr,
            data_dir: data_dir.to_owned(),
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    /// SIGKILL: no shutdown, no flush.
    pub async fn kill(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}

// Helpers for the permission and bad-input suites.

/// Reads a connection until it ends: the server messages received on the way, and how it ended.
pub async fn read_to_end(ws: &mut Ws) -> (Vec<ServerMsg>, Ended) {
    let mut seen = Vec::new();
    loop {
        match tokio::time::timeout(RECV_TIMEOUT, ws.next()).await {
            Err(_) => return (seen, Ended::Error("timed out waiting for close".into())),
            Ok(Some(Ok(Message::Text(t)))) => match serde_json::from_str(&t) {
                Ok(msg) => seen.push(msg),
                Err(_) => {
                    return (
                        seen,
                        Ended::Error(format!("undecodable server message {t}")),
                    )
                }
            },
            Ok(Some(Ok(Message::Close(frame)))) => {
                return (
                    seen,
                    Ended::Closed(frame.map(|f: CloseFrame| f.code.into())),
                )
            }
            Ok(Some(Ok(_))) => continue,
            Ok(Some(Err(e))) => return (seen, Ended::Error(e.to_string())),
            Ok(None) => return (seen, Ended::Closed(None)),
        }
    }
}

/// The text of a hello frame.
pub fn hello_text(protocol: u32, token: &str) -> String {
    json!({ "type": "hello", "protocol": protocol, "token": token }).to_string()
}

/// Opens a WebSocket, sends `first` as its first frame and reads the connection to its end:
/// for first frames the server must refuse (bad hellos, tokens, versions).
pub async fn refused_first_frame(
    url: &str,
    first: Message,
) -> anyhow::Result<(Vec<ServerMsg>, Ended)> {
    let mut ws = Client::raw(url).await?;
    ws.send(first).await?;
    Ok(read_to_end(&mut ws).await)
}

/// Joins a room: Ok(doc) from its snapshot, or Err(code) from the error the server sent.
pub async fn try_join(
    client: &mut Client,
    room: &str,
) -> anyhow::Result<Result<plenary_protocol::Doc, plenary_protocol::ErrorCode>> {
    client
        .send(&ClientMsg::Join {
            room: room.to_owned(),
            epoch: None,
            seq: None,
        })
        .await?;
    let room_owned = room.to_owned();
    client
        .recv_until(|m| match m {
            ServerMsg::Snapshot { room, doc, .. } if *room == room_owned => Some(Ok(doc.clone())),
            ServerMsg::Error {
                code, req: None, ..
            } => Some(Err(*code)),
            _ => None,
        })
        .await
}

/// Sends a prepared op and waits for its ack (Ok(seq)) or reject (Err(code)).
pub async fn send_op(
    client: &mut Client,
    room: &str,
    op: Op,
) -> anyhow::Result<Result<u64, plenary_protocol::ErrorCode>> {
    let id = op.id.clone();
    client
        .send(&ClientMsg::Op {
            room: room.to_owned(),
            op,
        })
        .await?;
    client
        .recv_until(|m| match m {
            ServerMsg::Ack { op_id, seq, .. } if *op_id == id => Some(Ok(*seq)),
            ServerMsg::Reject { op_id, code, .. } if *op_id == id => Some(Err(*code)),
            _ => None,
        })
        .await
}

/// Waits for the next error that answers no command (`req` absent) and returns its code.
pub async fn next_error(client: &mut Client) -> anyhow::Result<plenary_protocol::ErrorCode> {
    client
        .recv_until(|m| match m {
            ServerMsg::Error {
                code, req: None, ..
            } => Some(*code),
            // A malformed op is answered by a reject when its id was readable.
            ServerMsg::Reject { code, .. } => Some(*code),
            _ => None,
        })
        .await
}

/// Round-trips an application ping: the connection is open and its reader still works.
pub async fn ping(client: &mut Client) -> anyhow::Result<()> {
    let t = rand::random::<u32>() as u64;
    client.send(&ClientMsg::Ping { t: Some(t) }).await?;
    client
        .recv_until(|m| matches!(m, ServerMsg::Pong { t: Some(x), .. } if *x == t).then_some(()))
        .await
}

/// The workshop view as a fresh connection with `token` is welcomed with (the current state).
pub async fn current_view(server: &TestServer, token: &str) -> anyhow::Result<WorkshopView> {
    let mut client = server.connect(token).await?;
    let view = client.view.clone();
    let _ = client.ws.close(None).await;
    Ok(view)
}

/// A real `redis-server` on a free port, with append-only persistence (fsync always) in its own
/// directory, so that a restart keeps what it acknowledged.
pub struct RedisServer {
    pub port: u16,
    pub dir: PathBuf,
    child: Option<std::process::Child>,
}

impl RedisServer {
    pub async fn start() -> anyhow::Result<RedisServer> {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0")?;
            l.local_addr()?.port()
        };
        let mut server = RedisServer {
            port,
            dir: temp_dir("redis"),
            child: None,
        };
        server.spawn().await?;
        Ok(server)
    }

    async fn spawn(&mut self) -> anyhow::Result<()> {
        let child = std::process::Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
            ])
            .args(["--appendonly", "yes", "--appendfsync", "always"])
            .arg("--dir")
            .arg(&self.dir)
            .stdout(std::process::Stdio::null())
            .spawn()
            .context("start redis-server (apt-get install redis-server)")?;
        self.child = Some(child);
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("redis-server did not start on port {}", self.port)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// SIGKILL.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts again on the same port and directory.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.kill();
        self.spawn().await
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
