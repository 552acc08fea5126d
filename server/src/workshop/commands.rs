//! The facilitator's and attendees' workshop commands, and timer events, as changes to a
//! [`WorkshopState`]: each returns the [`Effects`] to carry out once the change is stored.

use plenary_protocol::workshop::{
    Command, Exercise, HelpRequest, RoomInfo, RoomKind, TimerState, TimerView, PLENARY,
};
use plenary_protocol::{ErrorCode, Role, TimerEvent};
use rand::seq::SliceRandom;

use super::access::role_name;
use super::{
    refuse, Effects, Refusal, WorkshopState, DEFAULT_WARNING_SECS, MAX_ROOMS, MAX_TIMEBOX_SECS,
};

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
    /// Carries out `command` for `actor` on the state (the caller stores the result).
    pub(super) fn execute(
        &mut self,
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
                    // Its actor is started by `transact`, once the change is made.
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

    /// The state change of a timer event, if it is still due.
    pub(super) fn fire_timer(&mut self, timer_id: u64, now: u64) -> Effects {
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

/// Commands as pure changes to a workshop's state: no store, no room actors, no connections.
#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap};

    use plenary_protocol::workshop::{Command, PLENARY};
    use plenary_protocol::{ErrorCode, Role, TimerEvent};

    use super::super::{Effects, Participant, Refusal, WorkshopData, WorkshopState, MAX_ROOMS};

    const NOW: u64 = 1_767_000_000_000;

    fn person(id: &str, role: Role) -> Participant {
        Participant {
            id: id.into(),
            name: id.trim_start_matches("p-").into(),
            role,
            room: None,
            removed: false,
        }
    }

    /// A facilitator, an observer and `attendees` attendees, no rooms but the plenary.
    fn class(attendees: usize) -> WorkshopState {
        let mut data = WorkshopData::new("CSPO".into(), "JOIN".into(), "OBSV".into());
        data.participants.push(person("p-fran", Role::Facilitator));
        data.participants.push(person("p-olu", Role::Observer));
        for i in 0..attendees {
            data.participants
                .push(person(&format!("p-{i}"), Role::Attendee));
        }
        WorkshopState {
            published: data.clone(),
            data,
            handles: HashMap::new(),
            conns: HashMap::new(),
        }
    }

    fn run(state: &mut WorkshopState, who: &str, command: Command) -> Result<Effects, Refusal> {
        state.execute(who, command, NOW)
    }

    fn refused(result: Result<Effects, Refusal>) -> ErrorCode {
        match result {
            Ok(_) => panic!("the command was accepted"),
            Err(refusal) => refusal.code,
        }
    }

    fn teams(state: &mut WorkshopState, names: &[&str]) {
        let names = names.iter().map(|n| (*n).to_owned()).collect();
        let _ = run(state, "p-fran", Command::CreateBreakouts { names }).expect("breakouts");
    }

    fn exercise(secs: u64, warning: Option<u64>, auto_close: bool) -> Command {
        Command::BroadcastExercise {
            title: "Vision".into(),
            instructions: String::new(),
            timebox_secs: secs,
            template: None,
            rooms: None,
            auto_close,
            warning_secs: warning,
        }
    }

    #[test]
    fn breakouts_are_numbered_and_bounded() {
        let mut s = class(0);
        teams(&mut s, &["A", " B ", "C"]);
        let ids: Vec<&str> = s.data.rooms.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, [PLENARY, "room-1", "room-2", "room-3"]);
        assert_eq!(s.data.rooms[2].name, "B", "names are trimmed");
        let too_many = vec!["x".to_owned(); MAX_ROOMS - 2];
        let before = s.data.clone();
        let result = run(
            &mut s,
            "p-fran",
            Command::CreateBreakouts { names: too_many },
        );
        assert_eq!(refused(result), ErrorCode::InvalidCommand);
        let blank = Command::CreateBreakouts {
            names: vec!["ok".into(), " ".into()],
        };
        assert_eq!(
            refused(run(&mut s, "p-fran", blank)),
            ErrorCode::InvalidCommand
        );
        assert_eq!(s.data, before, "a refused command changes nothing");
    }

    #[test]
    fn automatic_assignment_balances_the_teams_and_leaves_other_roles_out() {
        let mut s = class(10);
        assert_eq!(
            refused(run(&mut s, "p-fran", Command::AssignAuto)),
            ErrorCode::Conflict,
            "no breakouts yet"
        );
        teams(&mut s, &["A", "B", "C"]);
        let _ = run(&mut s, "p-fran", Command::AssignAuto).expect("assigned");
        let mut sizes: BTreeMap<&str, usize> = BTreeMap::new();
        for p in &s.data.participants {
            match p.role {
                Role::Attendee => {
                    *sizes
                        .entry(p.room.as_deref().expect("assigned"))
                        .or_default() += 1
                }
                _ => assert_eq!(p.room, None, "{} has no team", p.id),
            }
        }
        let mut counts: Vec<usize> = sizes.values().copied().collect();
        counts.sort();
        assert_eq!(counts, [3, 3, 4]);
    }

    #[test]
    fn each_role_runs_its_own_commands_only() {
        let mut s = class(1);
        teams(&mut s, &["A"]);
        assert_eq!(
            refused(run(&mut s, "p-0", Command::OpenBreakouts)),
            ErrorCode::Forbidden
        );
        let hand = || Command::RaiseHand {
            note: "help".into(),
            object: None,
        };
        assert_eq!(refused(run(&mut s, "p-olu", hand())), ErrorCode::Forbidden);
        assert_eq!(refused(run(&mut s, "p-fran", hand())), ErrorCode::Forbidden);
        assert_eq!(
            refused(run(&mut s, "p-nobody", Command::OpenBreakouts)),
            ErrorCode::Unauthorized
        );
        let _ = run(&mut s, "p-0", hand()).expect("an attendee raises a hand");
        let _ = run(&mut s, "p-fran", Command::OpenBreakouts).expect("the facilitator opens");
    }

    #[test]
    fn an_exercise_sets_the_timer_with_a_default_warning() {
        let mut s = class(0);
        let fx = run(&mut s, "p-fran", exercise(600, None, false)).expect("broadcast");
        assert!(fx.timer_changed);
        let timer = s.data.timer.clone().expect("a timer");
        assert_eq!(timer.deadline_ms, NOW + 600_000);
        assert_eq!(timer.warning_ms, 60_000, "a fifth, at most a minute");
        assert_eq!(
            s.data.exercise.as_ref().map(|e| e.rooms.clone()),
            Some(vec![PLENARY.to_owned()]),
            "without breakouts the plenary does the exercise"
        );
        let _ = run(&mut s, "p-fran", exercise(100, None, false)).expect("again");
        let timer = s.data.timer.clone().expect("a timer");
        assert_eq!((timer.id, timer.warning_ms), (2, 20_000));
        let _ = run(&mut s, "p-fran", exercise(100, Some(500), false)).expect("long warning");
        assert_eq!(s.data.timer.as_ref().map(|t| t.warning_ms), Some(100_000));
        assert_eq!(
            refused(run(&mut s, "p-fran", exercise(0, None, false))),
            ErrorCode::InvalidCommand
        );
    }

    #[test]
    fn a_timer_warns_expires_and_closes_breakouts_once() {
        let mut s = class(2);
        teams(&mut s, &["A"]);
        let _ = run(&mut s, "p-fran", Command::OpenBreakouts).expect("open");
        let _ = run(&mut s, "p-fran", exercise(100, Some(10), true)).expect("broadcast");
        let id = s.data.timer.as_ref().expect("timer").id;
        assert_eq!(s.next_timer_event(), Some((id, NOW + 90_000)));
        assert!(
            s.fire_timer(id, NOW + 1_000).timer_event.is_none(),
            "not due"
        );
        let fx = s.fire_timer(id, NOW + 90_000);
        assert_eq!(fx.timer_event, Some((id, TimerEvent::Warning, 10_000)));
        assert!(
            s.fire_timer(id, NOW + 90_500).timer_event.is_none(),
            "warned once"
        );
        let fx = s.fire_timer(id, NOW + 100_000);
        assert_eq!(fx.timer_event, Some((id, TimerEvent::Expired, 0)));
        assert!(!s.data.breakouts_open, "auto-close recalls everyone");
        assert!(
            s.fire_timer(id, NOW + 200_000).timer_event.is_none(),
            "expired once"
        );
        assert_eq!(s.next_timer_event(), None);
        let extend = run(&mut s, "p-fran", Command::ExtendTimer { secs: 60 });
        assert_eq!(refused(extend), ErrorCode::Conflict);
        assert!(
            s.fire_timer(id + 1, NOW).timer_event.is_none(),
            "no such timer"
        );
    }

    #[test]
    fn a_help_request_is_one_per_attendee_and_follows_them() {
        let mut s = class(2);
        teams(&mut s, &["A", "B"]);
        let hand = |note: &str| Command::RaiseHand {
            note: note.into(),
            object: None,
        };
        let _ = run(&mut s, "p-0", hand("first")).expect("raised");
        let _ = run(&mut s, "p-0", hand("second")).expect("raised again");
        assert_eq!(s.data.help.len(), 1);
        assert_eq!(s.data.help[0].note, "second");
        assert_eq!(s.data.help[0].room, PLENARY);
        let moved = Command::MoveParticipant {
            participant: "p-0".into(),
            room: Some("room-2".into()),
        };
        let _ = run(&mut s, "p-fran", moved).expect("moved");
        assert_eq!(s.data.help[0].room, "room-2", "the request moved with them");
        let _ = run(&mut s, "p-1", hand("also")).expect("raised");
        let remove = Command::RemoveParticipant {
            participant: "p-1".into(),
        };
        let _ = run(&mut s, "p-fran", remove).expect("removed");
        assert_eq!(s.data.help.len(), 1, "a removed attendee's request goes");
        let _ = run(&mut s, "p-0", Command::LowerHand).expect("lowered");
        assert_eq!(
            refused(run(&mut s, "p-0", Command::LowerHand)),
            ErrorCode::Conflict
        );
    }
}
