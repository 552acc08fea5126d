//! The WebSocket endpoint: one reader (this task) and one writer task per connection.
//!
//! The reader enforces the hello deadline, the frame size cap, the rate limit and the
//! heartbeat timeout, and routes each message to the workshop or a room actor. The writer
//! drains the connection's [`Outbox`] and pings. Neither holds a lock across an `.await`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use plenary_protocol::{close, decode_client, ClientMsg, ErrorCode, ServerMsg, PROTOCOL_VERSION};
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::{timeout, Instant};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::auth::AuthError;
use crate::outbox::{Frame, Outbox};
use crate::room::{ConnId, RoomCmd, RoomHandle};
use crate::state::{random_id, AppState};
use crate::workshop::{Participant, Workshop};

/// How long one socket write may take before the peer counts as gone.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// Most frames written with one flush.
const WRITE_BATCH: usize = 64;
/// How long the reader waits for the writer to flush the final close frame.
const CLOSE_FLUSH: Duration = Duration::from_secs(2);
/// Rate-limited messages, since the bucket was last full, after which the connection is
/// closed as a flood.
const FLOOD_STRIKES: u32 = 500;
/// Most resume points in one hello: one per room of a workshop.
const MAX_RESUME: usize = crate::workshop::MAX_ROOMS + 1;
/// Longest presence focus string.
const MAX_FOCUS_CHARS: usize = 64;

/// `GET /ws`
pub async fn upgrade(
    State(app): State<AppState>,
    headers: axum::http::HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    if let Err(why) = app.0.origins.check(&headers) {
        tracing::warn!(%why, "WebSocket upgrade refused");
        return (StatusCode::FORBIDDEN, why).into_response();
    }
    let Ok(permit) = app.0.connections.clone().try_acquire_owned() else {
        return (StatusCode::SERVICE_UNAVAILABLE, "too many connections").into_response();
    };
    if app.0.shutdown.is_cancelled() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down").into_response();
    }
    let max = app.0.config.max_frame_bytes;
    let tracker = app.0.tracker.clone();
    ws.max_message_size(max)
        .max_frame_size(max)
        .read_buffer_size(app.0.config.ws_read_buffer)
        .write_buffer_size(app.0.config.ws_write_buffer)
        .on_upgrade(move |socket| tracker.track_future(serve(socket, app, permit)))
}

/// The close code for a read that failed on what the client sent: 1009 for a message over the
/// cap, 1007 for text that is not UTF-8, 1002 for a frame the WebSocket protocol forbids; `None`
/// when the connection itself failed. axum does not expose the tungstenite error type, so this
/// reads its message ("Space limit exceeded: ...", "UTF-8 encoding error: ...", "WebSocket
/// protocol error: ...").
fn close_for(e: &axum::Error) -> Option<(u16, &'static str)> {
    let e = e.to_string();
    if e.contains("Space limit") || e.contains("too long") {
        Some((close::TOO_BIG, "message too big"))
    } else if e.starts_with("UTF-8") {
        Some((close::INVALID_PAYLOAD, "text is not UTF-8"))
    } else if e.starts_with("WebSocket protocol error") && !e.contains("without closing handshake")
    {
        Some((close::WS_PROTOCOL, "protocol violation"))
    } else {
        None
    }
}

/// A token bucket per connection.
struct RateLimit {
    tokens: f64,
    burst: f64,
    per_sec: f64,
    last: Instant,
    strikes: u32,
}

impl RateLimit {
    fn new(per_sec: u32, burst: u32) -> Self {
        Self {
            tokens: burst as f64,
            burst: burst as f64,
            per_sec: per_sec as f64,
            last: Instant::now(),
            strikes: 0,
        }
    }

    fn allow(&mut self) -> bool {
        let now = Instant::now();
        self.tokens = (self.tokens + now.duration_since(self.last).as_secs_f64() * self.per_sec)
            .min(self.burst);
        self.last = now;
        if self.tokens >= self.burst {
            self.strikes = 0;
        }
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            self.strikes += 1;
            false
        }
    }
}

async fn serve(socket: WebSocket, app: AppState, _permit: OwnedSemaphorePermit) {
    let (sink, mut stream) = socket.split();
    let outbox = Outbox::new(app.0.config.outbox_bytes);
    let gone = CancellationToken::new();
    let writer = tokio::spawn(write_loop(
        sink,
        outbox.clone(),
        app.0.config.ping_interval(),
        gone.clone(),
    ));

    // The hello's future is boxed so that its size is not carried for the connection's life.
    if let Some((workshop, participant, resume)) = Box::pin(hello(&app, &mut stream, &outbox)).await
    {
        let conn = app.next_conn_id();
        let session = format!("s-{conn}-{}", random_id(6));
        debug!(%session, participant = %participant.id, "connected");
        let mut c = Connection {
            app: app.clone(),
            workshop: workshop.clone(),
            participant,
            conn,
            outbox: outbox.clone(),
            rooms: HashMap::new(),
            rate: RateLimit::new(app.0.config.rate_per_sec, app.0.config.rate_burst),
        };
        workshop.attach(conn, &c.participant, outbox.clone(), |view| {
            ServerMsg::Welcome {
                protocol: PROTOCOL_VERSION,
                session: session.clone(),
                participant: c.participant_member(),
                server_time: app.0.clock.now_ms(),
                heartbeat_ms: app.0.config.ping_interval().as_millis() as u64,
                workshop: view,
            }
        });
        for point in resume {
            Box::pin(c.join(point.room, Some((point.epoch, point.seq)))).await;
        }
        c.read_loop(&mut stream, &gone).await;
        workshop.detach(conn).await;
        debug!(%session, "disconnected");
    }
    outbox.close(close::NORMAL, "bye");
    // The writer ends by itself once its close frame is out (or when a write times out). It is
    // awaited here, so it is tracked with the connection; once the shutdown's drain timeout has
    // passed it is aborted, so no writer outlives the drain.
    let stop_writer = writer.abort_handle();
    let expired = app.0.drain_expired.clone();
    let writer_done = async move {
        tokio::select! {
            _ = writer => {}
            _ = expired.cancelled() => stop_writer.abort(),
        }
    };
    let unreadable = matches!(
        outbox.close_code(),
        Some(close::TOO_BIG | close::INVALID_PAYLOAD | close::WS_PROTOCOL)
    );
    if unreadable {
        // The rest of the client's input cannot be read (a message over the cap, a protocol
        // violation). Closing a socket with unread input makes the kernel reset the connection,
        // which destroys the close frame before the client reads it: once it is out, the socket
        // stays open, unread, for CLOSE_FLUSH.
        writer_done.await;
        tokio::time::sleep(CLOSE_FLUSH).await;
        return;
    }
    // Keep reading (and discarding) until the client answers the close frame, for the same
    // reason. Bounded: a client that keeps sending is cut off after CLOSE_FLUSH.
    let drain = async {
        while let Some(Ok(message)) = stream.next().await {
            if matches!(message, Message::Close(_)) {
                break;
            }
        }
    };
    let _ = tokio::join!(timeout(CLOSE_FLUSH, drain), writer_done);
}

/// Reads the first frame, which must be a valid hello, within the hello deadline.
async fn hello(
    app: &AppState,
    stream: &mut SplitStream<WebSocket>,
    outbox: &Outbox,
) -> Option<(
    Arc<Workshop>,
    Participant,
    Vec<plenary_protocol::ResumePoint>,
)> {
    let fail = |code: ErrorCode, message: &str, close_code: u16, reason: &'static str| {
        let _ = outbox.push(ServerMsg::error(code, message).to_json().into());
        outbox.close(close_code, reason);
        None
    };
    let deadline = Instant::now() + app.0.config.hello_timeout();
    let text = loop {
        match tokio::time::timeout_at(deadline, stream.next()).await {
            Err(_) => {
                return fail(
                    ErrorCode::HelloRequired,
                    "no hello in time",
                    close::HELLO_TIMEOUT,
                    "hello timeout",
                )
            }
            Ok(None) => return None,
            Ok(Some(Err(e))) => {
                if let Some((code, reason)) = close_for(&e) {
                    outbox.close(code, reason);
                }
                return None;
            }
            Ok(Some(Ok(Message::Text(t)))) => break t,
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
            Ok(Some(Ok(Message::Close(_)))) => return None,
            Ok(Some(Ok(Message::Binary(_)))) => {
                return fail(
                    ErrorCode::BinaryNotSupported,
                    "send JSON text frames",
                    close::PROTOCOL_ERROR,
                    "binary frame",
                )
            }
        }
    };
    let (protocol, token, resume) = match decode_client(&text) {
        Ok(ClientMsg::Hello {
            protocol,
            token,
            resume,
        }) => (protocol, token, resume),
        Ok(_) => {
            return fail(
                ErrorCode::HelloRequired,
                "the first message must be hello",
                close::PROTOCOL_ERROR,
                "hello required",
            )
        }
        Err(e) => return fail(e.code, &e.message, close::PROTOCOL_ERROR, "bad hello"),
    };
    if resume.len() > MAX_RESUME {
        let message = format!("at most {MAX_RESUME} resume points");
        return fail(
            ErrorCode::Malformed,
            &message,
            close::PROTOCOL_ERROR,
            "bad hello",
        );
    }
    if protocol != PROTOCOL_VERSION {
        let message = format!("this server speaks protocol {PROTOCOL_VERSION}");
        return fail(
            ErrorCode::UnsupportedProtocol,
            &message,
            close::UNSUPPORTED_PROTOCOL,
            "unsupported protocol",
        );
    }
    let claims = match app.0.auth.verify(&token, app.0.clock.now_ms()) {
        Ok(c) => c,
        Err(AuthError::Expired) => {
            return fail(
                ErrorCode::Unauthorized,
                "token has expired",
                close::UNAUTHORIZED,
                "unauthorized",
            )
        }
        Err(_) => {
            return fail(
                ErrorCode::Unauthorized,
                "token is invalid",
                close::UNAUTHORIZED,
                "unauthorized",
            )
        }
    };
    let workshop = match app.workshop(&claims.w).await {
        Ok(w) => w,
        // Not a verdict on the token: the shared store did not answer. Reconnect later.
        Err(e) => {
            warn!(error = %e, "cannot load the workshop for a hello");
            return fail(
                ErrorCode::Unavailable,
                "the shared store is unavailable; reconnect later",
                close::RESTART,
                "store unavailable",
            );
        }
    };
    let participant = workshop.as_ref().and_then(|w| w.participant(&claims.p));
    match (workshop, participant) {
        (Some(w), Some(p)) if p.role == claims.r => Some((w, p, resume)),
        _ => fail(
            ErrorCode::Unauthorized,
            "participant is not in this workshop",
            close::UNAUTHORIZED,
            "unauthorized",
        ),
    }
}

async fn write_loop(
    mut sink: SplitSink<WebSocket, Message>,
    outbox: Outbox,
    ping_every: Duration,
    gone: CancellationToken,
) {
    let mut ping = tokio::time::interval(ping_every);
    ping.tick().await;
    // Grows to the largest batch seen; not allocated up front (idle connections are many).
    let mut batch = Vec::new();
    'outer: loop {
        tokio::select! {
            frame = outbox.pop() => {
                // Everything already queued goes out with one flush (one syscall under load).
                batch.push(frame);
                outbox.pop_ready(&mut batch, WRITE_BATCH);
            }
            _ = ping.tick() => {
                if !matches!(timeout(WRITE_TIMEOUT, sink.send(Message::Ping(Default::default()))).await, Ok(Ok(()))) {
                    break;
                }
                continue;
            }
        }
        let write = async {
            for frame in batch.drain(..) {
                match frame {
                    Frame::Text(t) | Frame::Unbounded(t) => sink.feed(Message::Text(t)).await?,
                    Frame::Close(code, reason) => {
                        sink.flush().await?;
                        let frame = CloseFrame {
                            code,
                            reason: Utf8Bytes::from_static(reason),
                        };
                        let _ = timeout(CLOSE_FLUSH, sink.send(Message::Close(Some(frame)))).await;
                        return Ok(false);
                    }
                }
            }
            sink.flush().await.map(|()| true)
        };
        match timeout(WRITE_TIMEOUT, write).await {
            Ok(Ok(true)) => {}
            _ => break 'outer,
        }
    }
    // Tell the reader the peer is gone or closed, so it stops too.
    gone.cancel();
}

struct Connection {
    app: AppState,
    workshop: Arc<Workshop>,
    participant: Participant,
    conn: ConnId,
    outbox: Outbox,
    /// Rooms this connection joined, with their actors' handles.
    rooms: HashMap<String, RoomHandle>,
    rate: RateLimit,
}

impl Connection {
    fn participant_member(&self) -> plenary_protocol::Member {
        plenary_protocol::Member {
            participant: self.participant.id.clone(),
            name: self.participant.name.clone(),
            role: self.participant.role,
            focus: None,
        }
    }

    fn send(&self, msg: ServerMsg) {
        let _ = self.outbox.push(msg.to_json().into());
    }

    fn error(&self, code: ErrorCode, message: impl Into<String>, req: Option<String>) {
        self.send(ServerMsg::Error {
            code,
            message: message.into(),
            req,
            room: None,
        });
    }

    /// An error about a join, leave or presence in `room`.
    fn room_error(&self, code: ErrorCode, message: impl Into<String>, room: &str) {
        self.send(ServerMsg::Error {
            code,
            message: message.into(),
            req: None,
            room: Some(room.to_owned()),
        });
    }

    async fn read_loop(&mut self, stream: &mut SplitStream<WebSocket>, gone: &CancellationToken) {
        let shutdown = self.app.0.shutdown.clone();
        let heartbeat = self.app.0.config.heartbeat_timeout();
        // One timer, moved on only when it fires early (not re-armed per message), and the
        // cancellation futures made once: per message they cost a timer-wheel insert and
        // removal and two waiter-list registrations.
        let mut last_seen = Instant::now();
        let deadline = tokio::time::sleep(heartbeat);
        let gone = gone.cancelled();
        let shutdown = shutdown.cancelled();
        // The outbox closed (a slow consumer, a removal): stop reading now, so the member
        // leaves the rooms' presence without waiting for the close frame to get through.
        let outbox = self.outbox.clone();
        let closing = outbox.closed().cancelled();
        tokio::pin!(deadline, gone, shutdown, closing);
        loop {
            let next = tokio::select! {
                // A frame that is already here counts before the deadline does.
                biased;
                next = stream.next() => next,
                () = &mut deadline => {
                    let due = last_seen + heartbeat;
                    if Instant::now() < due {
                        deadline.as_mut().reset(due);
                        continue;
                    }
                    info!(participant = %self.participant.id, "heartbeat timeout");
                    self.outbox
                        .close(close::HEARTBEAT_TIMEOUT, "heartbeat timeout");
                    return;
                }
                () = &mut gone => return,
                () = &mut closing => return,
                () = &mut shutdown => {
                    self.send(ServerMsg::Reconnect { reason: "server restarting".into(), retry_ms: 1_000 });
                    self.outbox.close(close::RESTART, "server restarting");
                    return;
                }
            };
            last_seen = Instant::now();
            let message = match next {
                None => return,
                Some(Err(e)) => {
                    if let Some((code, reason)) = close_for(&e) {
                        self.outbox.close(code, reason);
                    }
                    debug!(error = %e, "socket error");
                    return;
                }
                Some(Ok(m)) => m,
            };
            match message {
                Message::Text(text) => {
                    if !self.rate.allow() {
                        if self.rate.strikes > FLOOD_STRIKES {
                            self.error(ErrorCode::RateLimited, "too many messages; closing", None);
                            self.outbox.close(close::FLOOD, "flood");
                            return;
                        }
                        self.rate_limited(&text);
                        continue;
                    }
                    match decode_client(&text) {
                        Ok(msg) => {
                            self.dispatch(msg).await;
                            // Time spent handling a message (a full room queue, a command) is
                            // not the client's silence.
                            last_seen = Instant::now();
                        }
                        // A malformed op is still answered by its id when that was readable.
                        Err(e) => match e.op {
                            Some((room, op_id)) => self.send(ServerMsg::Reject {
                                room,
                                op_id,
                                code: e.code,
                                message: e.message,
                            }),
                            None => self.error(e.code, e.message, e.req),
                        },
                    }
                }
                Message::Binary(_) => {
                    self.error(ErrorCode::BinaryNotSupported, "send JSON text frames", None)
                }
                Message::Ping(_) | Message::Pong(_) => {}
                Message::Close(_) => return,
            }
        }
    }

    /// Answers a message dropped by the rate limit: a reject for an op, an error otherwise.
    fn rate_limited(&self, text: &str) {
        let message = "too many messages; slow down";
        match decode_client(text) {
            Ok(ClientMsg::Op { room, op }) => self.send(ServerMsg::Reject {
                room,
                op_id: op.id,
                code: ErrorCode::RateLimited,
                message: message.into(),
            }),
            Ok(ClientMsg::Command { req, .. }) => self.error(ErrorCode::RateLimited, message, req),
            _ => self.error(ErrorCode::RateLimited, message, None),
        }
    }

    async fn dispatch(&mut self, msg: ClientMsg) {
        match msg {
            ClientMsg::Hello { .. } => {
                self.error(ErrorCode::AlreadyHello, "hello was already received", None)
            }
            ClientMsg::Join { room, epoch, seq } => Box::pin(self.join(room, epoch.zip(seq))).await,
            ClientMsg::Leave { room } => match self.workshop.record_leave(self.conn, &room) {
                Some(handle) => {
                    self.rooms.remove(&room);
                    // A room that is gone has no member left to remove.
                    let _gone = handle
                        .send(RoomCmd::Leave {
                            conn: self.conn,
                            reason: None,
                        })
                        .await;
                }
                None => self.room_error(ErrorCode::NotInRoom, format!("not in room {room}"), &room),
            },
            ClientMsg::Op { room, op } => match self.rooms.get(&room) {
                Some(handle) => {
                    let op_id = op.id.clone();
                    let sent = handle
                        .send(RoomCmd::Op {
                            conn: self.conn,
                            op,
                            outbox: self.outbox.clone(),
                        })
                        .await;
                    if sent.is_err() {
                        // The room never saw the op: `unavailable` (not applied) is the truth.
                        self.send(ServerMsg::Reject {
                            room: room.clone(),
                            op_id,
                            code: ErrorCode::Unavailable,
                            message: "the room is shutting down; resend after reconnecting".into(),
                        });
                    }
                }
                None => self.send(ServerMsg::Reject {
                    room: room.clone(),
                    op_id: op.id,
                    code: ErrorCode::NotInRoom,
                    message: format!("join room {room} before sending ops to it"),
                }),
            },
            ClientMsg::Presence { room, focus } => {
                if focus
                    .as_ref()
                    .is_some_and(|f| f.chars().count() > MAX_FOCUS_CHARS)
                {
                    return self.room_error(
                        ErrorCode::Malformed,
                        format!("focus is at most {MAX_FOCUS_CHARS} characters"),
                        &room,
                    );
                }
                match self.rooms.get(&room) {
                    Some(handle) => {
                        // A room that is gone means the node is shutting down: it closes this
                        // socket (1001) and the client rejoins elsewhere, so there is nothing
                        // to answer (an error naming the room would make the client drop it).
                        let _gone = handle
                            .send(RoomCmd::Focus {
                                conn: self.conn,
                                focus,
                                outbox: self.outbox.clone(),
                            })
                            .await;
                    }
                    None => {
                        self.room_error(ErrorCode::NotInRoom, format!("not in room {room}"), &room)
                    }
                }
            }
            ClientMsg::Command { req, command } => {
                // Boxed: a command's future is large, and inline it would enlarge every idle
                // connection's task (see the idle figures in docs/BENCHMARKS.md).
                match Box::pin(self.workshop.command(&self.participant.id, command)).await {
                    Ok(()) => self.send(ServerMsg::Done { req }),
                    Err(r) => self.error(r.code, r.message, req),
                }
            }
            ClientMsg::Ping { t } => self.send(ServerMsg::Pong {
                t,
                server_time: self.app.0.clock.now_ms(),
            }),
        }
    }

    async fn join(&mut self, room: String, resume: Option<(u64, u64)>) {
        match self.workshop.authorize_join(self.conn, &room) {
            Ok((handle, member)) => {
                let sent = handle
                    .send(RoomCmd::Join {
                        conn: self.conn,
                        member,
                        outbox: self.outbox.clone(),
                        resume,
                    })
                    .await;
                match sent {
                    Ok(()) => {
                        self.rooms.insert(room, handle);
                    }
                    Err(_gone) => {
                        // The node is shutting down and closes this socket (1001); the client
                        // joins again after reconnecting. No error naming the room: the
                        // client would stop asking for it.
                        self.workshop.record_leave(self.conn, &room);
                        self.rooms.remove(&room);
                    }
                }
            }
            Err(r) => self.room_error(r.code, r.message, &room),
        }
    }
}
