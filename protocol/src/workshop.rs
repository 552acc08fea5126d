//! Workshop-level wire types: facilitator commands and the workshop view.

use std::collections::{BTreeMap, HashMap, HashSet};

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

/// What a connected client knows about the workshop, cut for its reader (docs/PROTOCOL.md
/// section 9): facilitators see everyone and every help request; an attendee sees the members
/// of their own team and of the team on stage, and their own help request; an observer sees the
/// team on stage. Everyone gets the rooms and the size of every team.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkshopView {
    pub id: String,
    pub title: String,
    /// The plenary first, then breakouts in creation order.
    pub rooms: Vec<RoomInfo>,
    /// The participants this reader may see. Their order carries no meaning.
    pub participants: Vec<ParticipantInfo>,
    pub breakouts_open: bool,
    pub allow_choice: bool,
    pub exercise: Option<Exercise>,
    pub timer: Option<TimerView>,
    /// The room on stage for review, if any.
    pub stage: Option<String>,
    pub help: Vec<HelpRequest>,
    /// Attendees assigned to each breakout room, by room id (0 for an empty team).
    #[serde(default)]
    pub team_sizes: BTreeMap<String, u32>,
}

/// The change from one workshop view to the next, as a `workshop_patch` message carries it: a
/// field that is present replaces the view's (`null` included, for `exercise`, `timer` and
/// `stage`); `participants` are added to the view or replace the one with the same id; `gone`
/// names participants to drop from it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkshopPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rooms: Option<Vec<RoomInfo>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub breakouts_open: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_choice: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "nullable")]
    pub exercise: Option<Option<Exercise>>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "nullable")]
    pub timer: Option<Option<TimerView>>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "nullable")]
    pub stage: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub help: Option<Vec<HelpRequest>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team_sizes: Option<BTreeMap<String, u32>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub participants: Vec<ParticipantInfo>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gone: Vec<String>,
}

/// A field of a patch that may be set to `null`: absent is `None`, `null` is `Some(None)`.
mod nullable {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer, T: Serialize>(
        value: &Option<Option<T>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(inner) => inner.serialize(s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
        d: D,
    ) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(d).map(Some)
    }
}

impl WorkshopView {
    /// The patch that turns this view into `new`, or `None` when nothing differs.
    pub fn diff(&self, new: &WorkshopView) -> Option<WorkshopPatch> {
        fn changed<T: PartialEq + Clone>(old: &T, new: &T) -> Option<T> {
            (old != new).then(|| new.clone())
        }
        let before: HashMap<&str, &ParticipantInfo> = self
            .participants
            .iter()
            .map(|p| (p.id.as_str(), p))
            .collect();
        let after: HashSet<&str> = new.participants.iter().map(|p| p.id.as_str()).collect();
        let patch = WorkshopPatch {
            title: changed(&self.title, &new.title),
            rooms: changed(&self.rooms, &new.rooms),
            breakouts_open: changed(&self.breakouts_open, &new.breakouts_open),
            allow_choice: changed(&self.allow_choice, &new.allow_choice),
            exercise: changed(&self.exercise, &new.exercise),
            timer: changed(&self.timer, &new.timer),
            stage: changed(&self.stage, &new.stage),
            help: changed(&self.help, &new.help),
            team_sizes: changed(&self.team_sizes, &new.team_sizes),
            participants: new
                .participants
                .iter()
                .filter(|p| before.get(p.id.as_str()) != Some(p))
                .cloned()
                .collect(),
            gone: self
                .participants
                .iter()
                .filter(|p| !after.contains(p.id.as_str()))
                .map(|p| p.id.clone())
                .collect(),
        };
        (patch != WorkshopPatch::default()).then_some(patch)
    }

    /// Applies a patch (a `workshop_patch` message, or [`WorkshopView::diff`]'s result).
    pub fn apply(&mut self, patch: WorkshopPatch) {
        let WorkshopPatch {
            title,
            rooms,
            breakouts_open,
            allow_choice,
            exercise,
            timer,
            stage,
            help,
            team_sizes,
            participants,
            gone,
        } = patch;
        if let Some(v) = title {
            self.title = v;
        }
        if let Some(v) = rooms {
            self.rooms = v;
        }
        if let Some(v) = breakouts_open {
            self.breakouts_open = v;
        }
        if let Some(v) = allow_choice {
            self.allow_choice = v;
        }
        if let Some(v) = exercise {
            self.exercise = v;
        }
        if let Some(v) = timer {
            self.timer = v;
        }
        if let Some(v) = stage {
            self.stage = v;
        }
        if let Some(v) = help {
            self.help = v;
        }
        if let Some(v) = team_sizes {
            self.team_sizes = v;
        }
        if !gone.is_empty() {
            let gone: HashSet<String> = gone.into_iter().collect();
            self.participants.retain(|p| !gone.contains(&p.id));
        }
        let mut at: HashMap<String, usize> = self
            .participants
            .iter()
            .enumerate()
            .map(|(i, p)| (p.id.clone(), i))
            .collect();
        for p in participants {
            match at.get(&p.id) {
                Some(&i) => self.participants[i] = p,
                None => {
                    at.insert(p.id.clone(), self.participants.len());
                    self.participants.push(p);
                }
            }
        }
    }
}
