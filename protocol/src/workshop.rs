//! Workshop-level wire types: facilitator commands and the workshop view.

use serde::{Deserialize, Serialize};

use crate::message::Role;

/// The id of every workshop's plenary room.
pub const PLENARY: &str = "plenary";

/// A workshop command, tagged by `kind`. Who may send which is in docs/PROTOCOL.md.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Command {
    /// Facilitator: add breakout rooms with these names.
    CreateBreakouts { names: Vec<String> },
    /// Facilitator: assign every attendee to a breakout room, balanced and at random.
    AssignAuto,
    /// Facilitator: let attendees pick their own room with `choose_room` (or stop letting them).
    AllowChoice { allow: bool },
    /// Facilitator: move one participant to a room (`null` to unassign).
    MoveParticipant {
        participant: String,
        room: Option<String>,
    },
    /// Attendee, while choice is allowed: join this breakout room's team.
    ChooseRoom { room: String },
    /// Facilitator: send everyone to their breakout rooms (the same teams as before).
    OpenBreakouts,
    /// Facilitator: recall everyone to the plenary. Boards are kept.
    CloseBreakouts,
    /// Facilitator: push an exercise with a timebox to all rooms or the chosen ones.
    BroadcastExercise {
        title: String,
        #[serde(default)]
        instructions: String,
        timebox_secs: u64,
        #[serde(default)]
        template: Option<Template>,
        /// Breakout room ids; all breakout rooms when absent.
        #[serde(default)]
        rooms: Option<Vec<String>>,
        /// Close breakouts when the timer expires.
        #[serde(default)]
        auto_close: bool,
        /// Seconds before the end when the warning fires; a default applies when absent.
        #[serde(default)]
        warning_secs: Option<u64>,
    },
    /// Facilitator: add time to the running timer.
    ExtendTimer { secs: u64 },
    /// Facilitator: stop the timer now, without its end actions.
    StopTimer,
    /// Facilitator: put a room on stage for review, or clear the stage with `null`.
    SetStage { room: Option<String> },
    /// Attendee: ask for help from the assigned room, optionally about one object.
    RaiseHand {
        #[serde(default)]
        note: String,
        #[serde(default)]
        object: Option<String>,
    },
    /// Attendee: withdraw one's own help request.
    LowerHand,
    /// Facilitator: mark a help request resolved.
    ResolveHelp { id: u64 },
    /// Facilitator: remove a participant; their token stops working and they are disconnected.
    RemoveParticipant { participant: String },
}

impl Command {
    /// The wire name of the command, for logs and errors.
    pub fn name(&self) -> &'static str {
        match self {
            Command::CreateBreakouts { .. } => "create_breakouts",
            Command::AssignAuto => "assign_auto",
            Command::AllowChoice { .. } => "allow_choice",
            Command::MoveParticipant { .. } => "move_participant",
            Command::ChooseRoom { .. } => "choose_room",
            Command::OpenBreakouts => "open_breakouts",
            Command::CloseBreakouts => "close_breakouts",
            Command::BroadcastExercise { .. } => "broadcast_exercise",
            Command::ExtendTimer { .. } => "extend_timer",
            Command::StopTimer => "stop_timer",
            Command::SetStage { .. } => "set_stage",
            Command::RaiseHand { .. } => "raise_hand",
            Command::LowerHand => "lower_hand",
            Command::ResolveHelp { .. } => "resolve_help",
            Command::RemoveParticipant { .. } => "remove_participant",
        }
    }
}

/// A template seeded into each target room by an exercise broadcast.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Template {
    /// The five sections of a Product Vision Board.
    VisionBoard,
    /// An empty backlog with one example story.
    Backlog,
    /// One empty experiment card.
    Experiment,
    /// An empty Lean Coffee board.
    LeanCoffee,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoomKind {
    Plenary,
    Breakout,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomInfo {
    pub id: String,
    pub name: String,
    pub kind: RoomKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParticipantInfo {
    pub id: String,
    pub name: String,
    pub role: Role,
    /// The breakout room the participant is assigned to, if any.
    pub room: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exercise {
    pub title: String,
    pub instructions: String,
    pub template: Option<Template>,
    pub rooms: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimerState {
    Running,
    Warned,
    Expired,
    Stopped,
}

/// A server-authoritative countdown. Clients render `deadline_ms` against the server clock
/// (see `server_time` in welcome and pong).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimerView {
    pub id: u64,
    /// Unix milliseconds when the timebox ends.
    pub deadline_ms: u64,
    pub duration_ms: u64,
    /// Milliseconds before the deadline when the warning fires.
    pub warning_ms: u64,
    pub auto_close: bool,
    pub state: TimerState,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HelpRequest {
    pub id: u64,
    pub participant: String,
    pub name: String,
    pub room: String,
    pub note: String,
    pub object: Option<String>,
    pub raised_ms: u64,
}

/// Everything a connected client needs to know about the workshop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkshopView {
    pub id: String,
    pub title: String,
    /// The plenary first, then breakouts in creation order.
    pub rooms: Vec<RoomInfo>,
    pub participants: Vec<ParticipantInfo>,
    pub breakouts_open: bool,
    pub allow_choice: bool,
    pub exercise: Option<Exercise>,
    pub timer: Option<TimerView>,
    /// The room on stage for review, if any.
    pub stage: Option<String>,
    pub help: Vec<HelpRequest>,
}
