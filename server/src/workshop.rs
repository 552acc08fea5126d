//! A workshop: its rooms, participants, teams, exercise timer, stage and help queue, and the
//! connections attached to it.
//!
//! The durable part, [`WorkshopData`], and the live part (room actors, connections) sit behind
//! one std `Mutex`, whose critical sections are a few map operations with no `.await` inside.
//! Every change goes through [`Workshop::transact`]: it mutates the state under the lock, writes
//! the new [`WorkshopData`] to the store, and only then carries out the [`Effects`] (broadcasts,
//! room messages) and answers. If the store fails, the change is undone and refused with
//! `unavailable`.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::extract::ws::Utf8Bytes;
use plenary_protocol::close;
use plenary_protocol::workshop::{
    Command, Exercise, HelpRequest, ParticipantInfo, RoomInfo, RoomKind, Template, TimerState,
    TimerView, WorkshopView, PLENARY,
};
use plenary_protocol::{ErrorCode, Member, Op, OpKind, Role, ServerMsg, TimerEvent, Value};
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::warn;

use crate::clock::Clock;
use crate::outbox::Outbox;
use crate::room::{self, ConnId, RoomCmd, RoomHandle};
use crate::store::{RoomRecord, Store, Write};

/// Most breakout rooms per workshop.
pub const MAX_ROOMS: usize = 100;
/// Most participants per workshop.
pub const MAX_PARTICIPANTS: usize = 2_000;
/// Longest timebox.
pub const MAX_TIMEBOX_SECS: u64 = 24 * 3600;
/// Attempts of a workshop change that races with other nodes (multi-node mode).
const MAX_ATTEMPTS: usize = 8;
/// Workshop events queued for this node before the reader holds back.
const EVENT_QUEUE: usize = 64;

/// Warning before the end when the facilitator gives none: a fifth of the timebox, at most this.
pub const DEFAULT_WARNING_SECS: u64 = 60;

/// A refused command or join: a code and a message for the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: ErrorCode,
    pub message: String,
}

fn refuse<T>(code: ErrorCode, message: impl Into<String>) -> Result<T, Refusal> {
    Err(Refusal {
        code,
        message: message.into(),
    })
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Participant {
    pub id: String,
    pub name: String,
    pub role: Role,
    /// The breakout room (team) the participant belongs to.
    pub room: Option<String>,
    /// Removed by the facilitator: the token no longer works.
    pub removed: bool,
}

impl Participant {
    fn member(&self) -> Member {
        Member {
            participant: self.id.clone(),
            name: self.name.clone(),
            role: self.role,
            focus: None,
        }
    }
}

/// Everything about a workshop that survives a restart, except the room documents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkshopData {
    /// Bumped by every change, so the store keeps the newest state when writes race.
    pub version: u64,
    pub title: String,
    pub join_code: String,
    pub observer_code: String,
    /// The plenary first, then breakouts in creation order.
    pub rooms: Vec<RoomInfo>,
    pub participants: Vec<Participant>,
    pub breakouts_open: bool,
    pub allow_choice: bool,
    pub exercise: Option<Exercise>,
    pub timer: Option<TimerView>,
    pub stage: Option<String>,
    pub help: Vec<HelpRequest>,
    pub next_help_id: u64,
    pub next_timer_id: u64,
    pub next_room: u64,
}

impl WorkshopData {
    pub fn new(title: String, join_code: String, observer_code: String) -> Self {
        WorkshopData {
            version: 0,
            title,
            join_code,
            observer_code,
            rooms: vec![RoomInfo {
                id: PLENARY.into(),
                name: "Plenary".into(),
                kind: RoomKind::Plenary,
            }],
            participants: Vec::new(),
            breakouts_open: false,
            allow_choice: false,
            exercise: None,
            timer: None,
            stage: None,
            help: Vec::new(),
            next_help_id: 1,
            next_timer_id: 1,
            next_room: 1,
        }
    }
}

/// One attached connection.
struct Conn {
    participant: String,
    outbox: Outbox,
    /// Rooms this connection has joined, so that permission changes can unsubscribe it.
    rooms: HashSet<String>,
}

pub struct WorkshopState {
    pub data: WorkshopData,
    /// Room actors by room id; one per entry of `data.rooms`.
    handles: HashMap<String, RoomHandle>,
    conns: HashMap<ConnId, Conn>,
}

/// What a change asks the caller to do once it is stored and the lock is released.
#[derive(Default)]
#[must_use]
pub struct Effects {
    /// Send the new workshop view to every connection.
    pub broadcast: bool,
    /// Seed a template into rooms.
    pub seed: Vec<(RoomHandle, Template)>,
    /// Unsubscribe connections from rooms they may no longer read.
    pub evict: Vec<(RoomHandle, ConnId, String)>,
    /// Close these connections (a removed participant's).
    pub close: Vec<Outbox>,
    /// The timer changed: the timer task must recompute its next wake-up.
    pub timer_changed: bool,
    /// A timer event to push to everyone.
    pub timer_event: Option<(u64, TimerEvent, u64)>,
}

/// Context that room actors are started with.
#[derive(Clone)]
pub struct RoomCtx {
    pub store: Arc<dyn Store>,
    /// Multi-node mode: the shared Redis backend.
    pub redis: Option<Arc<crate::shared::Redis>>,
    pub tracker: TaskTracker,
    pub shutdown: CancellationToken,
    /// How often a room that took ops writes a snapshot (`--snapshot-secs`).
    pub snapshot_every: Duration,
}

pub struct Workshop {
    pub id: String,
    state: Mutex<WorkshopState>,
    /// Serializes changes together with their store write, so the store sees versions in
    /// order and a failed write can be undone. A tokio mutex on purpose: it is held across the
    /// store write, and only by changes (facilitator commands, joins, timer events), never by
    /// the op path.
    writing: tokio::sync::Mutex<()>,
    /// Wakes the timer task when the timer is set, extended or stopped.
    timer_changed: Notify,
    pub clock: Clock,
    ctx: RoomCtx,
}

impl Workshop {
    /// Starts a workshop from its data: one actor per room (with the stored documents in
    /// `records`) and the timer task. New workshops must then be saved with [`Workshop::save`].
    pub fn start(
        id: String,
        data: WorkshopData,
        mut records: HashMap<String, RoomRecord>,
        clock: Clock,
        ctx: RoomCtx,
    ) -> Arc<Self> {
        let room_ids: Vec<String> = data.rooms.iter().map(|r| r.id.clone()).collect();
        let workshop = Arc::new(Workshop {
            id,
            state: Mutex::new(WorkshopState {
                data,
                handles: HashMap::new(),
                conns: HashMap::new(),
            }),
            writing: tokio::sync::Mutex::new(()),
            timer_changed: Notify::new(),
            clock,
            ctx: ctx.clone(),
        });
        for room in room_ids {
            let handle = workshop.spawn_room(&room, records.remove(&room));
            workshop.lock().handles.insert(room, handle);
        }
        ctx.tracker
            .spawn(crate::timer::run(workshop.clone(), ctx.shutdown.clone()));
        workshop
    }

    /// Multi-node mode: follows the workshop's event stream from `last_event` on.
    pub fn follow_events(self: &Arc<Self>, last_event: String) {
        let Some(redis) = &self.ctx.redis else { return };
        let (tx, rx) = tokio::sync::mpsc::channel(EVENT_QUEUE);
        let (_, events) = crate::shared::workshop_keys(&self.id);
        redis.subscribe(events, last_event, crate::shared::Subscriber::Workshop(tx));
        self.ctx
            .tracker
            .spawn(follow(self.clone(), rx, self.ctx.shutdown.clone()));
    }

    pub fn lock(&self) -> MutexGuard<'_, WorkshopState> {
        self.state.lock().expect("workshop lock poisoned")
    }

    pub(crate) fn timer_changed(&self) -> &Notify {
        &self.timer_changed
    }

    /// Writes the current data to the store.
    pub async fn save(&self) -> Result<(), Refusal> {
        let _writing = self.writing.lock().await;
        let write = self.lock().write(&self.id);
        let stored = match (&self.ctx.redis, write) {
            (Some(redis), Write::Workshop { version, state, .. }) => redis
                .put_workshop(&self.id, version, &state, &[])
                .await
                .and_then(|done| {
                    done.then_some(())
                        .ok_or_else(|| crate::store::StoreError("workshop exists already".into()))
                }),
            (_, write) => self.ctx.store.write(write).await,
        };
        stored.or_else(|e| refuse(ErrorCode::Unavailable, e.to_string()))
    }

    /// Applies `change` under the lock, stores the result, then carries out the effects. On a
    /// store failure the data is put back and the change refused with `unavailable`.
    pub async fn transact<T>(
        self: &Arc<Self>,
        mut change: impl FnMut(&mut WorkshopState, &Arc<Workshop>, u64) -> Result<(T, Effects), Refusal>,
    ) -> Result<T, Refusal> {
        let _writing = self.writing.lock().await;
        // In multi-node mode another node may have changed the workshop since this node last
        // read it: the compare-and-set then fails, this node reloads, and the change is tried
        // again on the new state.
        for _attempt in 0..MAX_ATTEMPTS {
            let (value, effects, before, write) = {
                let mut state = self.lock();
                let before = state.data.clone();
                let (value, effects) = change(&mut state, self, self.clock.now_ms())?;
                // Nothing durable changed (a refused timer event, a no-op): nothing to store.
                let write = (state.data != before).then(|| {
                    state.data.version += 1;
                    state.write(&self.id)
                });
                (value, effects, before, write)
            };
            let stored = match (write, &self.ctx.redis) {
                (None, _) => Ok(true),
                (Some(write), None) => self.ctx.store.write(write).await.map(|()| true),
                (Some(Write::Workshop { version, state, .. }), Some(redis)) => {
                    let fields = event_fields(&effects, &redis.node);
                    redis.put_workshop(&self.id, version, &state, &fields).await
                }
                (Some(_), Some(_)) => unreachable!("workshop changes write workshop state"),
            };
            match stored {
                Ok(true) => {
                    self.carry_out(effects).await;
                    return Ok(value);
                }
                Ok(false) => {
                    self.undo_change(before);
                    self.reload().await.map_err(|e| Refusal {
                        code: ErrorCode::Unavailable,
                        message: format!("the workshop could not be read: {e}"),
                    })?;
                }
                Err(e) => {
                    self.undo_change(before);
                    return refuse(
                        ErrorCode::Unavailable,
                        format!("the change could not be stored: {e}"),
                    );
                }
            }
        }
        refuse(ErrorCode::Conflict, "the workshop kept changing; try again")
    }

    /// Puts back the data from before a change that could not be stored.
    fn undo_change(&self, before: WorkshopData) {
        let mut state = self.lock();
        // Rooms this change created have actors but are dropped with the data.
        state
            .handles
            .retain(|id, _| before.rooms.iter().any(|r| r.id == *id));
        state.data = before;
    }

    /// Multi-node mode: reads the workshop's state from Redis and, if it is newer than this
    /// node's, takes it over and tells this node's clients (views, evictions, removals, timer).
    pub async fn reload(self: &Arc<Self>) -> Result<(), crate::store::StoreError> {
        let Some(redis) = &self.ctx.redis else {
            return Ok(());
        };
        let Some((version, json)) = redis.workshop(&self.id).await? else {
            return Ok(());
        };
        let data: WorkshopData = serde_json::from_str(&json)
            .map_err(|e| crate::store::StoreError(format!("bad workshop state: {e}")))?;
        let effects = {
            let mut state = self.lock();
            if version <= state.data.version {
                return Ok(());
            }
            let timer_changed = state.data.timer != data.timer;
            state.data = data;
            state.data.version = version;
            let missing: Vec<String> = state
                .data
                .rooms
                .iter()
                .map(|r| r.id.clone())
                .filter(|r| !state.handles.contains_key(r))
                .collect();
            for room in missing {
                let handle = self.spawn_room(&room, None);
                state.handles.insert(room, handle);
            }
            let close = state
                .conns
                .values()
                .filter(|c| state.find(&c.participant).is_none())
                .map(|c| c.outbox.clone())
                .collect();
            Effects {
                broadcast: true,
                evict: state.evictions("your access changed"),
                close,
                timer_changed,
                ..Effects::default()
            }
        };
        self.carry_out(effects).await;
        Ok(())
    }

    /// Adds a participant and returns a copy of it.
    pub async fn add_participant(
        self: &Arc<Self>,
        id: String,
        name: String,
        role: Role,
    ) -> Result<Participant, Refusal> {
        let participant = Participant {
            id,
            name,
            role,
            room: None,
            removed: false,
        };
        self.transact(|state, _, _| {
            if state.data.participants.len() >= MAX_PARTICIPANTS {
                return refuse(
                    ErrorCode::Conflict,
                    format!("a workshop holds at most {MAX_PARTICIPANTS} participants"),
                );
            }
            state.data.participants.push(participant.clone());
            Ok((
                participant.clone(),
                Effects {
                    broadcast: true,
                    ..Effects::default()
                },
            ))
        })
        .await
    }

    /// The participant, if present and not removed.
    pub fn participant(&self, id: &str) -> Option<Participant> {
        self.lock().find(id).cloned()
    }

    pub fn view(&self) -> WorkshopView {
        self.lock().view(&self.id)
    }

    /// Attaches a connection and queues its welcome, built from the current view under the
    /// same lock, so no workshop update can overtake the welcome.
    pub fn attach(
        &self,
        conn: ConnId,
        participant: &Participant,
        outbox: Outbox,
        welcome: impl FnOnce(WorkshopView) -> ServerMsg,
    ) {
        let mut state = self.lock();
        let view = state.view_for(&self.id, &participant.id);
        let _ = outbox.push(welcome(view).to_json().into());
        state.conns.insert(
            conn,
            Conn {
                participant: participant.id.clone(),
                outbox,
                rooms: HashSet::new(),
            },
        );
    }

    /// Detaches a connection and leaves every room it had joined.
    pub async fn detach(&self, conn: ConnId) {
        let rooms: Vec<RoomHandle> = {
            let mut state = self.lock();
            let Some(c) = state.conns.remove(&conn) else {
                return;
            };
            c.rooms
                .iter()
                .filter_map(|r| state.handles.get(r).cloned())
                .collect()
        };
        for handle in rooms {
            // A room that is gone has no member left to remove.
            let _gone = handle.send(RoomCmd::Leave { conn, reason: None }).await;
        }
    }

    /// Checks that the connection may read `room` and records the subscription.
    pub fn authorize_join(
        &self,
        conn: ConnId,
        room: &str,
    ) -> Result<(RoomHandle, Member), Refusal> {
        let mut state = self.lock();
        let Some(handle) = state.handles.get(room).cloned() else {
            return refuse(
                ErrorCode::UnknownRoom,
                format!("no room {room} in this workshop"),
            );
        };
        let Some(participant) = state
            .conns
            .get(&conn)
            .and_then(|c| state.find(&c.participant))
            .cloned()
        else {
            return refuse(
                ErrorCode::Unauthorized,
                "participant is no longer in this workshop",
            );
        };
        if !state.may_read(&participant, room) {
            return refuse(
                ErrorCode::Forbidden,
                format!("{} may not open room {room}", role_name(participant.role)),
            );
        }
        if let Some(c) = state.conns.get_mut(&conn) {
            c.rooms.insert(room.to_owned());
        }
        Ok((handle, participant.member()))
    }

    /// Records that the connection left `room`; returns the room's handle if it had joined.
    pub fn record_leave(&self, conn: ConnId, room: &str) -> Option<RoomHandle> {
        let mut state = self.lock();
        let joined = state
            .conns
            .get_mut(&conn)
            .is_some_and(|c| c.rooms.remove(room));
        if joined {
            state.handles.get(room).cloned()
        } else {
            None
        }
    }

    /// Whether `participant` may apply `op` to `room`. Called by the room actor right before it
    /// orders the op, so a permission change takes effect for every later op.
    pub fn may_write(&self, participant: &str, room: &str, op: &Op) -> Result<(), String> {
        let state = self.lock();
        let Some(p) = state.find(participant) else {
            return Err("participant is no longer in this workshop".into());
        };
        let staged = state.data.stage.as_deref() == Some(room);
        check_author(&p.name, op)?;
        if matches!(op.kind, OpKind::Seal { .. }) && p.role != Role::Attendee {
            // Hidden votes are the team's: the facilitator runs the round and reveals it.
            return Err(format!(
                "only the members of room {room} vote; a {} may start and reveal a round",
                role_name(p.role)
            ));
        }
        match p.role {
            Role::Facilitator => Ok(()),
            Role::Attendee if p.room.as_deref() == Some(room) => Ok(()),
            Role::Attendee | Role::Observer => {
                let feedback = matches!(&op.kind, OpKind::Create { ty, .. } if ty == "feedback");
                if staged && feedback {
                    Ok(())
                } else if staged {
                    Err("on stage, the audience may only add feedback cards".into())
                } else {
                    Err(format!("{} may not edit room {room}", role_name(p.role)))
                }
            }
        }
    }

    /// The members of `room`'s team (attendees assigned to it): who votes in its rounds.
    pub fn voters(&self, room: &str) -> Vec<String> {
        let state = self.lock();
        state
            .data
            .participants
            .iter()
            .filter(|p| !p.removed && p.role == Role::Attendee && p.room.as_deref() == Some(room))
            .map(|p| p.id.clone())
            .collect()
    }

    /// Runs a command for `actor`.
    pub async fn command(self: &Arc<Self>, actor: &str, command: Command) -> Result<(), Refusal> {
        self.transact(|state, workshop, now| {
            Ok(((), state.execute(workshop, actor, command.clone(), now)?))
        })
        .await
    }

    /// Fires a timer event if it is still due (idempotent: a stale or repeated call does nothing).
    /// Returns false if the event could not be stored; it is still due then, and the timer task
    /// retries after a pause.
    pub async fn fire_timer(self: &Arc<Self>, timer_id: u64) -> bool {
        let fired = self
            .transact(|state, _, now| Ok(((), state.fire_timer(timer_id, now))))
            .await;
        if let Err(e) = &fired {
            tracing::warn!(workshop = %self.id, error = %e.message, "timer event not stored");
        }
        fired.is_ok()
    }

    async fn carry_out(&self, effects: Effects) {
        if effects.timer_changed {
            self.timer_changed.notify_one();
        }
        if let Some((timer, event, remaining_ms)) = effects.timer_event {
            self.broadcast(ServerMsg::Timer {
                timer,
                event,
                remaining_ms,
            });
        }
        for outbox in effects.close {
            outbox.close(close::REMOVED, "removed by the facilitator");
        }
        for (handle, conn, reason) in effects.evict {
            // A room that is gone has no member left to evict.
            let _gone = handle
                .send(RoomCmd::Leave {
                    conn,
                    reason: Some(reason),
                })
                .await;
        }
        for (handle, template) in effects.seed {
            if handle.send(RoomCmd::Seed(template)).await.is_err() {
                // Only while the node shuts down; starting the exercise again seeds it.
                warn!(room = %handle.id, "room gone before its template was seeded");
            }
        }
        if effects.broadcast {
            self.broadcast_view();
        }
    }

    /// Sends the current view to every connection, as [`WorkshopState::view_for`] cuts it for
    /// each: the facilitators' view and everyone else's are serialized once each, and only a
    /// participant with a raised hand gets one of their own.
    pub fn broadcast_view(&self) {
        let state = self.lock();
        let full = state.view(&self.id);
        let frame = |workshop: WorkshopView| -> Utf8Bytes {
            ServerMsg::Workshop { workshop }.to_json().into()
        };
        // Looked up once, not per connection: a class has thousands of connections.
        let facilitators: HashSet<&str> = full
            .participants
            .iter()
            .filter(|p| p.role == Role::Facilitator)
            .map(|p| p.id.as_str())
            .collect();
        let mut own: HashMap<&str, Vec<HelpRequest>> = HashMap::new();
        for h in &full.help {
            own.entry(h.participant.as_str())
                .or_default()
                .push(h.clone());
        }
        let public = WorkshopView {
            help: Vec::new(),
            ..full.clone()
        };
        let public_frame = frame(public.clone());
        let full_frame = frame(full.clone());
        for conn in state.conns.values() {
            let out = if facilitators.contains(conn.participant.as_str()) {
                full_frame.clone()
            } else if let Some(help) = own.get(conn.participant.as_str()) {
                frame(WorkshopView {
                    help: help.clone(),
                    ..public.clone()
                })
            } else {
                public_frame.clone()
            };
            let _ = conn.outbox.push(out);
        }
    }

    fn broadcast(&self, msg: ServerMsg) {
        let frame: Utf8Bytes = msg.to_json().into();
        for conn in self.lock().conns.values() {
            let _ = conn.outbox.push(frame.clone());
        }
    }

    /// Every room with its actor's handle, plenary first.
    pub fn room_handles(&self) -> Vec<(RoomInfo, RoomHandle)> {
        let state = self.lock();
        state
            .data
            .rooms
            .iter()
            .filter_map(|r| state.handles.get(&r.id).map(|h| (r.clone(), h.clone())))
            .collect()
    }

    fn spawn_room(self: &Arc<Self>, id: &str, record: Option<RoomRecord>) -> RoomHandle {
        room::spawn(self, id, record, &self.ctx)
    }
}

/// The role with its article, for messages ("an attendee may not ...").
/// The fields a workshop event carries about a timer event, for the other nodes to push it to
/// their clients.
fn event_fields(effects: &Effects, node: &str) -> Vec<(String, String)> {
    match effects.timer_event {
        Some((timer, event, remaining)) => vec![
            ("node".into(), node.to_owned()),
            ("timer".into(), timer.to_string()),
            (
                "event".into(),
                if event == TimerEvent::Warning {
                    "warning"
                } else {
                    "expired"
                }
                .into(),
            ),
            ("remaining".into(), remaining.to_string()),
        ],
        None => Vec::new(),
    }
}

/// Multi-node mode: follows the workshop's event stream. Each event names the new version; a
/// newer version is reloaded, and a timer event that another node fired is pushed to this node's
/// clients (the node that fired it already did).
async fn follow(
    workshop: Arc<Workshop>,
    mut events: tokio::sync::mpsc::Receiver<crate::shared::WorkshopEvent>,
    shutdown: CancellationToken,
) {
    loop {
        let event = tokio::select! {
            e = events.recv() => match e { Some(e) => e, None => return },
            _ = shutdown.cancelled() => return,
        };
        let known = workshop.lock().data.version;
        if event.version > known {
            if let Err(e) = workshop.reload().await {
                tracing::warn!(workshop = %workshop.id, error = %e, "cannot reload workshop");
            }
        }
        // The node that fired a timer event pushed it to its own clients; every other node
        // pushes it here, even if it already loaded that version (say, after losing the race
        // to fire it).
        let mine = workshop.ctx.redis.as_ref().map(|r| r.node.as_str());
        if event.fields.get("node").map(String::as_str) == mine {
            continue;
        }
        let timer = event.fields.get("timer").and_then(|t| t.parse().ok());
        let kind = match event.fields.get("event").map(String::as_str) {
            Some("warning") => Some(TimerEvent::Warning),
            Some("expired") => Some(TimerEvent::Expired),
            _ => None,
        };
        let remaining_ms = event
            .fields
            .get("remaining")
            .and_then(|r| r.parse().ok())
            .unwrap_or(0);
        if let (Some(timer), Some(event)) = (timer, kind) {
            workshop.broadcast(ServerMsg::Timer {
                timer,
                event,
                remaining_ms,
            });
        }
    }
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Facilitator => "a facilitator",
        Role::Attendee => "an attendee",
        Role::Observer => "an observer",
    }
}

/// The field that signs a card (vision notes, Lean Coffee topics, feedback): the server holds
/// it to the sender's own name, so that nobody posts under someone else's. A card is signed
/// when it is created, with the name the sender joined with, or left unsigned; the signature
/// never changes afterwards (a teammate who edits the card does not become its author).
pub const AUTHOR_FIELD: &str = "author";

fn check_author(name: &str, op: &Op) -> Result<(), String> {
    match &op.kind {
        OpKind::Create { fields, .. } => match fields.get(AUTHOR_FIELD) {
            None | Some(Value::Null) => Ok(()),
            Some(Value::Text(author)) if author == name => Ok(()),
            Some(_) => Err(format!(
                "a card is signed with your own name ({name:?}) or not at all"
            )),
        },
        OpKind::Set { fields, .. } if fields.contains_key(AUTHOR_FIELD) => {
            Err("a card's author is set when it is created and cannot be changed".into())
        }
        OpKind::Text { field, .. } if field == AUTHOR_FIELD => {
            Err("a card's author is set when it is created and cannot be changed".into())
        }
        _ => Ok(()),
    }
}

fn check_name(what: &str, s: &str, max: usize) -> Result<(), Refusal> {
    let n = s.trim().chars().count();
    if n == 0 || n > max || s.chars().any(char::is_control) {
        return refuse(
            ErrorCode::InvalidCommand,
            format!("{what} must be 1 to {max} printable characters"),
        );
    }
    Ok(())
}

impl WorkshopState {
    fn write(&self, id: &str) -> Write {
        let state = serde_json::to_string(&self.data).expect("workshop data serializes");
        Write::Workshop {
            id: id.to_owned(),
            version: self.data.version,
            state,
        }
    }

    fn room(&self, id: &str) -> Option<&RoomInfo> {
        self.data.rooms.iter().find(|r| r.id == id)
    }

    fn is_breakout(&self, id: &str) -> bool {
        self.room(id).is_some_and(|r| r.kind == RoomKind::Breakout)
    }

    fn breakouts(&self) -> Vec<String> {
        self.data
            .rooms
            .iter()
            .filter(|r| r.kind == RoomKind::Breakout)
            .map(|r| r.id.clone())
            .collect()
    }

    fn find(&self, participant: &str) -> Option<&Participant> {
        self.data
            .participants
            .iter()
            .find(|p| p.id == participant && !p.removed)
    }

    fn find_mut(&mut self, participant: &str) -> Option<&mut Participant> {
        self.data
            .participants
            .iter_mut()
            .find(|p| p.id == participant && !p.removed)
    }

    /// Facilitators read every room; attendees the plenary, their team's room and the stage;
    /// observers the plenary and the stage.
    pub fn may_read(&self, p: &Participant, room: &str) -> bool {
        match p.role {
            Role::Facilitator => true,
            _ if room == PLENARY || self.data.stage.as_deref() == Some(room) => true,
            Role::Attendee => p.room.as_deref() == Some(room),
            Role::Observer => false,
        }
    }

    fn is_facilitator(&self, participant: &str) -> bool {
        self.find(participant)
            .is_some_and(|p| p.role == Role::Facilitator)
    }

    /// What `participant` may see of the workshop: all of it for a facilitator; anyone else
    /// sees only their own help request (a help note is a question to the facilitator).
    pub fn view_for(&self, id: &str, participant: &str) -> WorkshopView {
        let mut view = self.view(id);
        if !self.is_facilitator(participant) {
            view.help.retain(|h| h.participant == participant);
        }
        view
    }

    /// The whole workshop, as a facilitator sees it.
    pub fn view(&self, id: &str) -> WorkshopView {
        let d = &self.data;
        WorkshopView {
            id: id.to_owned(),
            title: d.title.clone(),
            rooms: d.rooms.clone(),
            participants: d
                .participants
                .iter()
                .filter(|p| !p.removed)
                .map(|p| ParticipantInfo {
                    id: p.id.clone(),
                    name: p.name.clone(),
                    role: p.role,
                    room: p.room.clone(),
                })
                .collect(),
            breakouts_open: d.breakouts_open,
            allow_choice: d.allow_choice,
            exercise: d.exercise.clone(),
            timer: d.timer.clone(),
            stage: d.stage.clone(),
            help: d.help.clone(),
        }
    }

    /// Connections subscribed to rooms they may no longer read.
    fn evictions(&mut self, reason: &str) -> Vec<(RoomHandle, ConnId, String)> {
        let mut out = Vec::new();
        let mut drop_list = Vec::new();
        for (id, conn) in &self.conns {
            let Some(p) = self.find(&conn.participant) else {
                continue;
            };
            for room in &conn.rooms {
                if !self.may_read(p, room) {
                    if let Some(handle) = self.handles.get(room) {
                        out.push((handle.clone(), *id, reason.to_owned()));
                    }
                    drop_list.push((*id, room.clone()));
                }
            }
        }
        for (id, room) in drop_list {
            if let Some(c) = self.conns.get_mut(&id) {
                c.rooms.remove(&room);
            }
        }
        out
    }

    fn execute(
        &mut self,
        workshop: &Arc<Workshop>,
        actor: &str,
        command: Command,
        now: u64,
    ) -> Result<Effects, Refusal> {
        let Some(actor) = self.find(actor).cloned() else {
            return refuse(
                ErrorCode::Unauthorized,
                "participant is no longer in this workshop",
            );
        };
        let attendee_only = matches!(
            command,
            Command::ChooseRoom { .. } | Command::RaiseHand { .. } | Command::LowerHand
        );
        let allowed = match actor.role {
            Role::Facilitator => !attendee_only,
            Role::Attendee => attendee_only,
            Role::Observer => false,
        };
        if !allowed {
            return refuse(
                ErrorCode::Forbidden,
                format!(
                    "{} may not {}",
                    role_name(actor.role),
                    command.name().replace('_', " ")
                ),
            );
        }
        let mut fx = Effects {
            broadcast: true,
            ..Effects::default()
        };
        let d = &mut self.data;
        match command {
            Command::CreateBreakouts { names } => {
                if names.is_empty() || d.rooms.len() - 1 + names.len() > MAX_ROOMS {
                    return refuse(
                        ErrorCode::InvalidCommand,
                        format!("give 1 to {MAX_ROOMS} room names in all"),
                    );
                }
                for name in &names {
                    check_name("a room name", name, 60)?;
                }
                for name in names {
                    let id = format!("room-{}", d.next_room);
                    d.next_room += 1;
                    let handle = workshop.spawn_room(&id, None);
                    self.handles.insert(id.clone(), handle);
                    d.rooms.push(RoomInfo {
                        id,
                        name: name.trim().to_owned(),
                        kind: RoomKind::Breakout,
                    });
                }
            }
            Command::AssignAuto => {
                let breakouts = self.breakouts();
                if breakouts.is_empty() {
                    return refuse(
                        ErrorCode::Conflict,
                        "create breakout rooms before assigning",
                    );
                }
                let d = &mut self.data;
                let mut attendees: Vec<usize> = (0..d.participants.len())
                    .filter(|&i| {
                        d.participants[i].role == Role::Attendee && !d.participants[i].removed
                    })
                    .collect();
                attendees.shuffle(&mut rand::rng());
                for (n, i) in attendees.into_iter().enumerate() {
                    d.participants[i].room = Some(breakouts[n % breakouts.len()].clone());
                }
                fx.evict = self.evictions("moved to another team");
            }
            Command::AllowChoice { allow } => d.allow_choice = allow,
            Command::MoveParticipant { participant, room } => {
                if let Some(r) = &room {
                    if !self.is_breakout(r) {
                        return refuse(ErrorCode::UnknownRoom, format!("no breakout room {r}"));
                    }
                }
                let Some(p) = self.find_mut(&participant) else {
                    return refuse(
                        ErrorCode::UnknownParticipant,
                        format!("no participant {participant}"),
                    );
                };
                if p.role != Role::Attendee {
                    return refuse(ErrorCode::InvalidCommand, "only attendees belong to teams");
                }
                p.room = room;
                fx.evict = self.evictions("moved to another team");
            }
            Command::ChooseRoom { room } => {
                if !d.allow_choice {
                    return refuse(
                        ErrorCode::Conflict,
                        "the facilitator has not opened room choice",
                    );
                }
                if !self.is_breakout(&room) {
                    return refuse(ErrorCode::UnknownRoom, format!("no breakout room {room}"));
                }
                if let Some(p) = self.find_mut(&actor.id) {
                    p.room = Some(room);
                }
                fx.evict = self.evictions("moved to another team");
            }
            Command::OpenBreakouts => {
                if self.breakouts().is_empty() {
                    return refuse(ErrorCode::Conflict, "there are no breakout rooms to open");
                }
                self.data.breakouts_open = true;
            }
            Command::CloseBreakouts => d.breakouts_open = false,
            Command::BroadcastExercise {
                title,
                instructions,
                timebox_secs,
                template,
                rooms,
                auto_close,
                warning_secs,
            } => {
                check_name("the exercise title", &title, 300)?;
                if instructions.chars().count() > 10_000 {
                    return refuse(
                        ErrorCode::InvalidCommand,
                        "instructions must be at most 10000 characters",
                    );
                }
                if timebox_secs == 0 || timebox_secs > MAX_TIMEBOX_SECS {
                    return refuse(
                        ErrorCode::InvalidCommand,
                        format!("timebox must be 1 to {MAX_TIMEBOX_SECS} seconds"),
                    );
                }
                let targets = match rooms {
                    Some(list) if list.is_empty() => {
                        return refuse(ErrorCode::InvalidCommand, "rooms must not be empty")
                    }
                    Some(list) => {
                        if let Some(bad) = list.iter().find(|r| self.room(r).is_none()) {
                            return refuse(ErrorCode::UnknownRoom, format!("no room {bad}"));
                        }
                        list
                    }
                    None => {
                        let all = self.breakouts();
                        if all.is_empty() {
                            vec![PLENARY.to_owned()]
                        } else {
                            all
                        }
                    }
                };
                let duration_ms = timebox_secs * 1000;
                let warning_ms = warning_secs
                    .map(|s| s.saturating_mul(1000))
                    .unwrap_or_else(|| (duration_ms / 5).min(DEFAULT_WARNING_SECS * 1000))
                    .min(duration_ms);
                if let Some(template) = template {
                    fx.seed = targets
                        .iter()
                        .filter_map(|r| self.handles.get(r).map(|h| (h.clone(), template)))
                        .collect();
                }
                let d = &mut self.data;
                let id = d.next_timer_id;
                d.next_timer_id += 1;
                d.timer = Some(TimerView {
                    id,
                    deadline_ms: now + duration_ms,
                    duration_ms,
                    warning_ms,
                    auto_close,
                    state: TimerState::Running,
                });
                d.exercise = Some(Exercise {
                    title: title.trim().to_owned(),
                    instructions,
                    template,
                    rooms: targets,
                });
                fx.timer_changed = true;
            }
            Command::ExtendTimer { secs } => {
                let Some(timer) = d
                    .timer
                    .as_mut()
                    .filter(|t| matches!(t.state, TimerState::Running | TimerState::Warned))
                else {
                    return refuse(ErrorCode::Conflict, "no timer is running");
                };
                if secs == 0 || secs > MAX_TIMEBOX_SECS {
                    return refuse(
                        ErrorCode::InvalidCommand,
                        format!("extend by 1 to {MAX_TIMEBOX_SECS} seconds"),
                    );
                }
                timer.deadline_ms += secs * 1000;
                timer.duration_ms += secs * 1000;
                if timer.deadline_ms.saturating_sub(now) > timer.warning_ms {
                    timer.state = TimerState::Running;
                }
                fx.timer_changed = true;
            }
            Command::StopTimer => {
                let Some(timer) = d
                    .timer
                    .as_mut()
                    .filter(|t| matches!(t.state, TimerState::Running | TimerState::Warned))
                else {
                    return refuse(ErrorCode::Conflict, "no timer is running");
                };
                timer.state = TimerState::Stopped;
                fx.timer_changed = true;
            }
            Command::SetStage { room } => {
                if let Some(r) = &room {
                    if !self.is_breakout(r) {
                        return refuse(ErrorCode::UnknownRoom, format!("no breakout room {r}"));
                    }
                }
                self.data.stage = room;
                fx.evict = self.evictions("the review stage moved on");
            }
            Command::RaiseHand { note, object } => {
                if note.chars().count() > 500 {
                    return refuse(
                        ErrorCode::InvalidCommand,
                        "a help note is at most 500 characters",
                    );
                }
                if object.as_ref().is_some_and(|o| o.chars().count() > 64) {
                    return refuse(
                        ErrorCode::InvalidCommand,
                        "an object id is at most 64 characters",
                    );
                }
                let room = actor.room.clone().unwrap_or_else(|| PLENARY.to_owned());
                d.help.retain(|h| h.participant != actor.id);
                let id = d.next_help_id;
                d.next_help_id += 1;
                d.help.push(HelpRequest {
                    id,
                    participant: actor.id.clone(),
                    name: actor.name.clone(),
                    room,
                    note,
                    object,
                    raised_ms: now,
                });
            }
            Command::LowerHand => {
                let before = d.help.len();
                d.help.retain(|h| h.participant != actor.id);
                if d.help.len() == before {
                    return refuse(ErrorCode::Conflict, "your hand is not raised");
                }
            }
            Command::ResolveHelp { id } => {
                let before = d.help.len();
                d.help.retain(|h| h.id != id);
                if d.help.len() == before {
                    return refuse(
                        ErrorCode::InvalidCommand,
                        format!("no open help request {id}"),
                    );
                }
            }
            Command::RemoveParticipant { participant } => {
                let Some(p) = self.find_mut(&participant) else {
                    return refuse(
                        ErrorCode::UnknownParticipant,
                        format!("no participant {participant}"),
                    );
                };
                if p.role == Role::Facilitator {
                    return refuse(ErrorCode::InvalidCommand, "a facilitator cannot be removed");
                }
                p.removed = true;
                p.room = None;
                self.data.help.retain(|h| h.participant != participant);
                fx.close = self
                    .conns
                    .values()
                    .filter(|c| c.participant == participant)
                    .map(|c| c.outbox.clone())
                    .collect();
            }
        }
        // A help request points at the room its participant is in now: a move takes it along.
        let d = &mut self.data;
        for h in d.help.iter_mut() {
            if let Some(p) = d.participants.iter().find(|p| p.id == h.participant) {
                h.room = p.room.clone().unwrap_or_else(|| PLENARY.to_owned());
            }
        }
        Ok(fx)
    }

    fn fire_timer(&mut self, timer_id: u64, now: u64) -> Effects {
        let mut fx = Effects::default();
        let d = &mut self.data;
        let Some(timer) = d.timer.as_mut().filter(|t| t.id == timer_id) else {
            return fx;
        };
        let remaining = timer.deadline_ms.saturating_sub(now);
        match timer.state {
            TimerState::Running | TimerState::Warned if remaining == 0 => {
                timer.state = TimerState::Expired;
                fx.timer_event = Some((timer.id, TimerEvent::Expired, 0));
                if timer.auto_close {
                    d.breakouts_open = false;
                }
                fx.broadcast = true;
            }
            TimerState::Running if remaining <= timer.warning_ms => {
                timer.state = TimerState::Warned;
                fx.timer_event = Some((timer.id, TimerEvent::Warning, remaining));
                fx.broadcast = true;
            }
            _ => {}
        }
        fx
    }

    /// When the timer task should next call [`Workshop::fire_timer`], and for which timer.
    pub fn next_timer_event(&self) -> Option<(u64, u64)> {
        let timer = self.data.timer.as_ref()?;
        match timer.state {
            TimerState::Running if timer.warning_ms > 0 => {
                Some((timer.id, timer.deadline_ms - timer.warning_ms))
            }
            TimerState::Running | TimerState::Warned => Some((timer.id, timer.deadline_ms)),
            TimerState::Expired | TimerState::Stopped => None,
        }
    }
}
