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
    Command, Exercise, HelpRequest, RoomInfo, RoomKind, Template, TimerView, WorkshopView, PLENARY,
};
use plenary_protocol::{ErrorCode, Member, Role, ServerMsg, TimerEvent};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::warn;

use crate::backend::Backend;
use crate::clock::Clock;
use crate::outbox::Outbox;
use crate::room::{self, ConnId, RoomCmd, RoomHandle};
use crate::store::RoomRecord;

mod access;
mod commands;
mod view;

use access::role_name;
pub use access::AUTHOR_FIELD;

/// Most breakout rooms per workshop.
pub const MAX_ROOMS: usize = 100;
/// Most participants per workshop.
pub const MAX_PARTICIPANTS: usize = 2_000;
/// Longest timebox.
pub const MAX_TIMEBOX_SECS: u64 = 24 * 3600;
/// Attempts of a workshop change that races with other nodes (multi-node mode).
const MAX_ATTEMPTS: usize = 8;

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
    /// The data as last sent to the connections: welcomes are built from it and each change is
    /// published as the patch from it to `data` ([`view`]), so that every connection holds
    /// exactly what it was sent, whatever was changed (or undone) in between.
    published: WorkshopData,
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
    /// The embedded store, or Redis with several nodes.
    pub backend: Backend,
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
                published: data.clone(),
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

    /// Follows the changes other nodes make to the workshop, from its event `last_event` on
    /// (nothing on a node alone).
    pub fn follow_events(self: &Arc<Self>, last_event: String) {
        self.ctx.backend.follow_workshop(
            self,
            last_event,
            &self.ctx.tracker,
            self.ctx.shutdown.clone(),
        );
    }

    pub fn lock(&self) -> MutexGuard<'_, WorkshopState> {
        self.state.lock().expect("workshop lock poisoned")
    }

    pub(crate) fn timer_changed(&self) -> &Notify {
        &self.timer_changed
    }

    /// Stores a new workshop's data.
    pub async fn save(&self) -> Result<(), Refusal> {
        let _writing = self.writing.lock().await;
        let (version, state) = self.lock().encoded();
        self.ctx
            .backend
            .create_workshop(&self.id, version, state)
            .await
            .or_else(|e| refuse(ErrorCode::Unavailable, e.to_string()))
    }

    /// Applies `change` under the lock, stores the result, then carries out the effects. On a
    /// store failure the data is put back and the change refused with `unavailable`.
    pub async fn transact<T>(
        self: &Arc<Self>,
        mut change: impl FnMut(&mut WorkshopState, u64) -> Result<(T, Effects), Refusal>,
    ) -> Result<T, Refusal> {
        let _writing = self.writing.lock().await;
        // In multi-node mode another node may have changed the workshop since this node last
        // read it: the compare-and-set then fails, this node reloads, and the change is tried
        // again on the new state.
        for _attempt in 0..MAX_ATTEMPTS {
            let (value, effects, before, write) = {
                let mut state = self.lock();
                let before = state.data.clone();
                let (value, effects) = change(&mut state, self.clock.now_ms())?;
                // Rooms the change created get their actors here, under the same lock.
                self.spawn_missing_rooms(&mut state);
                // Nothing durable changed (a refused timer event, a no-op): nothing to store.
                let write = (state.data != before).then(|| {
                    state.data.version += 1;
                    state.encoded()
                });
                (value, effects, before, write)
            };
            let stored = match write {
                None => Ok(true),
                Some((version, state)) => {
                    self.ctx
                        .backend
                        .store_workshop(&self.id, version, state, effects.timer_event)
                        .await
                }
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
        let Some((version, json)) = self.ctx.backend.newer_workshop(&self.id).await? else {
            return Ok(());
        };
        let data: WorkshopData = serde_json::from_str(&json)
            .map_err(|e| crate::store::StoreError::Corrupt(format!("bad workshop state: {e}")))?;
        let effects = {
            let mut state = self.lock();
            if version <= state.data.version {
                return Ok(());
            }
            let timer_changed = state.data.timer != data.timer;
            state.data = data;
            state.data.version = version;
            self.spawn_missing_rooms(&mut state);
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
        self.transact(|state, _| {
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

    /// The whole current view, as a facilitator sees it.
    pub fn view(&self) -> WorkshopView {
        view::view(&self.lock().data, &self.id, &view::Reader::Facilitator)
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
        let view = view::welcome(&state.published, &self.id, &participant.id);
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
        self.transact(|state, now| Ok(((), state.execute(actor, command.clone(), now)?)))
            .await
    }

    /// Fires a timer event if it is still due (idempotent: a stale or repeated call does nothing).
    /// Returns false if the event could not be stored; it is still due then, and the timer task
    /// retries after a pause.
    pub async fn fire_timer(self: &Arc<Self>, timer_id: u64) -> bool {
        let fired = self
            .transact(|state, now| Ok(((), state.fire_timer(timer_id, now))))
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

    /// Publishes the change since the last call: each connection whose view changed gets the
    /// patch to its new view ([`view::Patches`]), serialized once per kind of reader.
    pub fn broadcast_view(&self) {
        let mut guard = self.lock();
        let state = &mut *guard;
        if state.published == state.data {
            return;
        }
        let old = std::mem::replace(&mut state.published, state.data.clone());
        let mut patches = view::Patches::new(&self.id, &old, &state.data);
        for conn in state.conns.values() {
            if let Some(frame) = patches.frame(&conn.participant) {
                let _ = conn.outbox.push(frame);
            }
        }
    }

    /// Sends `msg` to every connection of the workshop.
    pub(crate) fn broadcast(&self, msg: ServerMsg) {
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

    /// Starts an actor for every room of the data that has none: rooms a change just created,
    /// or that another node created.
    fn spawn_missing_rooms(self: &Arc<Self>, state: &mut WorkshopState) {
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
    }
}

impl WorkshopState {
    /// The data's version and its JSON text, as stored.
    fn encoded(&self) -> (u64, String) {
        let state = serde_json::to_string(&self.data).expect("workshop data serializes");
        (self.data.version, state)
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
}
