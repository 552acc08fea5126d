//! What each reader sees of a workshop (docs/PROTOCOL.md section 9), and the patches that carry
//! a change to every connection.
//!
//! Facilitators see every participant and every help request. An attendee sees the members of
//! their own team and of the team on stage (whose board they may open), and their own help
//! request; an observer sees the team on stage. Everyone gets the rooms, the team sizes, the
//! exercise, the timer and the stage.
//!
//! A connection gets the whole view once, in its welcome, built from the data last published;
//! after that, each change is published as the difference between the views before and after,
//! computed once per kind of reader (serialized once per (reader before, reader after) pair),
//! and only to connections whose view changed. A join wave of 2,000 then costs an attendee
//! nothing and a facilitator one small patch per join, where a whole view was about 155 KB.

use std::collections::{BTreeMap, HashMap};

use axum::extract::ws::Utf8Bytes;
use plenary_protocol::workshop::{
    HelpRequest, ParticipantInfo, RoomKind, WorkshopPatch, WorkshopView,
};
use plenary_protocol::{Role, ServerMsg};

use super::{Participant, WorkshopData};

/// Whose view: the kinds of reader whose views differ (besides their own help request).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Reader {
    Facilitator,
    /// An attendee of this team, or (`None`) an attendee without a team, an observer, or
    /// someone no longer in the workshop.
    Team(Option<String>),
}

/// Participants by id, not removed.
type Index<'a> = HashMap<&'a str, &'a Participant>;

fn index(data: &WorkshopData) -> Index<'_> {
    data.participants
        .iter()
        .filter(|p| !p.removed)
        .map(|p| (p.id.as_str(), p))
        .collect()
}

impl Reader {
    fn of(index: &Index<'_>, participant: &str) -> Reader {
        match index.get(participant) {
            Some(p) if p.role == Role::Facilitator => Reader::Facilitator,
            Some(p) if p.role == Role::Attendee => Reader::Team(p.room.clone()),
            _ => Reader::Team(None),
        }
    }
}

/// Attendees per breakout room.
fn team_sizes(data: &WorkshopData) -> BTreeMap<String, u32> {
    let mut sizes: BTreeMap<String, u32> = data
        .rooms
        .iter()
        .filter(|r| r.kind == RoomKind::Breakout)
        .map(|r| (r.id.clone(), 0))
        .collect();
    for p in &data.participants {
        if p.removed || p.role != Role::Attendee {
            continue;
        }
        if let Some(n) = p.room.as_ref().and_then(|r| sizes.get_mut(r)) {
            *n += 1;
        }
    }
    sizes
}

/// The view of `reader`, without the help requests of a reader who is not a facilitator (those
/// are their own: see [`own_help`]).
pub(crate) fn view(data: &WorkshopData, id: &str, reader: &Reader) -> WorkshopView {
    let visible = |p: &&Participant| {
        !p.removed
            && match reader {
                Reader::Facilitator => true,
                Reader::Team(team) => {
                    p.role == Role::Attendee
                        && p.room.is_some()
                        && (p.room == *team || p.room == data.stage)
                }
            }
    };
    WorkshopView {
        id: id.to_owned(),
        title: data.title.clone(),
        rooms: data.rooms.clone(),
        participants: data
            .participants
            .iter()
            .filter(visible)
            .map(|p| ParticipantInfo {
                id: p.id.clone(),
                name: p.name.clone(),
                role: p.role,
                room: p.room.clone(),
            })
            .collect(),
        breakouts_open: data.breakouts_open,
        allow_choice: data.allow_choice,
        exercise: data.exercise.clone(),
        timer: data.timer.clone(),
        stage: data.stage.clone(),
        help: match reader {
            Reader::Facilitator => data.help.clone(),
            Reader::Team(_) => Vec::new(),
        },
        team_sizes: team_sizes(data),
    }
}

/// `participant`'s own open help requests.
fn own_help(data: &WorkshopData, participant: &str) -> Vec<HelpRequest> {
    data.help
        .iter()
        .filter(|h| h.participant == participant)
        .cloned()
        .collect()
}

/// The whole view `participant` gets in its welcome.
pub(crate) fn welcome(data: &WorkshopData, id: &str, participant: &str) -> WorkshopView {
    let reader = Reader::of(&index(data), participant);
    let mut view = view(data, id, &reader);
    if reader != Reader::Facilitator {
        view.help = own_help(data, participant);
    }
    view
}

fn frame(patch: WorkshopPatch) -> Utf8Bytes {
    ServerMsg::WorkshopPatch { patch }.to_json().into()
}

/// The patches from `old` to `new`, for every connection in turn.
pub(crate) struct Patches<'a> {
    id: &'a str,
    old: &'a WorkshopData,
    new: &'a WorkshopData,
    old_index: Index<'a>,
    new_index: Index<'a>,
    /// Help requests by participant, before and after.
    old_help: HashMap<&'a str, Vec<&'a HelpRequest>>,
    new_help: HashMap<&'a str, Vec<&'a HelpRequest>>,
    /// Per (reader before, reader after): the patch and its frame, or `None` if that view did
    /// not change.
    cache: HashMap<(Reader, Reader), Option<(WorkshopPatch, Utf8Bytes)>>,
}

fn help_index(data: &WorkshopData) -> HashMap<&str, Vec<&HelpRequest>> {
    let mut by: HashMap<&str, Vec<&HelpRequest>> = HashMap::new();
    for h in &data.help {
        by.entry(h.participant.as_str()).or_default().push(h);
    }
    by
}

impl<'a> Patches<'a> {
    pub(crate) fn new(id: &'a str, old: &'a WorkshopData, new: &'a WorkshopData) -> Self {
        Patches {
            id,
            old,
            new,
            old_index: index(old),
            new_index: index(new),
            old_help: help_index(old),
            new_help: help_index(new),
            cache: HashMap::new(),
        }
    }

    /// The frame to send to a connection of `participant`, or `None` if its view is unchanged.
    pub(crate) fn frame(&mut self, participant: &str) -> Option<Utf8Bytes> {
        let before = Reader::of(&self.old_index, participant);
        let after = Reader::of(&self.new_index, participant);
        let own_help_changed = after != Reader::Facilitator
            && self.old_help.get(participant) != self.new_help.get(participant);
        let (id, old, new) = (self.id, self.old, self.new);
        let shared = self
            .cache
            .entry((before.clone(), after.clone()))
            .or_insert_with(|| {
                let patch = view(old, id, &before).diff(&view(new, id, &after))?;
                let frame = frame(patch.clone());
                Some((patch, frame))
            });
        if !own_help_changed {
            return shared.as_ref().map(|(_, frame)| frame.clone());
        }
        let mut patch = shared
            .as_ref()
            .map(|(patch, _)| patch.clone())
            .unwrap_or_default();
        patch.help = Some(own_help(new, participant));
        Some(frame(patch))
    }
}

#[cfg(test)]
mod tests {
    use plenary_protocol::workshop::{RoomInfo, PLENARY};

    use super::*;

    fn person(id: &str, role: Role, room: Option<&str>) -> Participant {
        Participant {
            id: id.into(),
            name: id.trim_start_matches("p-").into(),
            role,
            room: room.map(Into::into),
            removed: false,
        }
    }

    /// A class: a facilitator, an observer, teams A and B of two, one attendee without a team.
    fn class() -> WorkshopData {
        let mut d = WorkshopData::new("CSPO".into(), "JOIN".into(), "OBSV".into());
        for (id, name) in [("room-1", "Team A"), ("room-2", "Team B")] {
            d.rooms.push(RoomInfo {
                id: id.into(),
                name: name.into(),
                kind: RoomKind::Breakout,
            });
        }
        d.participants = vec![
            person("p-fran", Role::Facilitator, None),
            person("p-olu", Role::Observer, None),
            person("p-ada", Role::Attendee, Some("room-1")),
            person("p-al", Role::Attendee, Some("room-1")),
            person("p-bo", Role::Attendee, Some("room-2")),
            person("p-bea", Role::Attendee, Some("room-2")),
            person("p-cy", Role::Attendee, None),
        ];
        d
    }

    fn ids(view: &WorkshopView) -> Vec<&str> {
        let mut ids: Vec<&str> = view.participants.iter().map(|p| p.id.as_str()).collect();
        ids.sort();
        ids
    }

    /// What each connection holds after its welcome from `old` and the patch to `new`.
    fn patched(old: &WorkshopData, new: &WorkshopData, who: &str) -> WorkshopView {
        let mut held = welcome(old, "w", who);
        if let Some(frame) = Patches::new("w", old, new).frame(who) {
            match serde_json::from_str(frame.as_str()).unwrap() {
                ServerMsg::WorkshopPatch { patch } => held.apply(patch),
                other => panic!("{other:?}"),
            }
        }
        held
    }

    const EVERYONE: [&str; 7] = ["p-fran", "p-olu", "p-ada", "p-al", "p-bo", "p-bea", "p-cy"];

    #[test]
    fn each_reader_sees_their_team_and_the_stage() {
        let d = class();
        assert_eq!(welcome(&d, "w", "p-fran").participants.len(), 7);
        assert_eq!(ids(&welcome(&d, "w", "p-ada")), ["p-ada", "p-al"]);
        assert_eq!(ids(&welcome(&d, "w", "p-bo")), ["p-bea", "p-bo"]);
        assert!(ids(&welcome(&d, "w", "p-cy")).is_empty());
        assert!(ids(&welcome(&d, "w", "p-olu")).is_empty());
        let staged = WorkshopData {
            stage: Some("room-1".into()),
            ..class()
        };
        assert_eq!(
            ids(&welcome(&staged, "w", "p-bo")),
            ["p-ada", "p-al", "p-bea", "p-bo"]
        );
        assert_eq!(ids(&welcome(&staged, "w", "p-olu")), ["p-ada", "p-al"]);
        let sizes = welcome(&d, "w", "p-cy").team_sizes;
        assert_eq!(
            sizes,
            BTreeMap::from([("room-1".to_owned(), 2), ("room-2".to_owned(), 2)])
        );
        assert!(!sizes.contains_key(PLENARY));
    }

    #[test]
    fn help_requests_go_to_facilitators_and_their_author() {
        let mut d = class();
        d.help = vec![HelpRequest {
            id: 1,
            participant: "p-ada".into(),
            name: "ada".into(),
            room: "room-1".into(),
            note: "stuck".into(),
            object: None,
            raised_ms: 0,
        }];
        for who in EVERYONE {
            let help = welcome(&d, "w", who).help;
            let expected = usize::from(who == "p-fran" || who == "p-ada");
            assert_eq!(help.len(), expected, "{who}");
        }
        // Lowering the hand reaches the author and the facilitator only.
        let lowered = WorkshopData {
            help: vec![],
            ..d.clone()
        };
        let mut patches = Patches::new("w", &d, &lowered);
        for who in EVERYONE {
            let sent = patches.frame(who).is_some();
            assert_eq!(sent, who == "p-fran" || who == "p-ada", "{who}");
        }
    }

    /// Every change, for every reader: the welcome from before plus the patch is the welcome
    /// from after.
    #[test]
    fn a_patch_brings_every_reader_to_their_new_view() {
        let d = class();
        let mut changes: Vec<WorkshopData> = Vec::new();
        let mut moved = d.clone();
        moved.participants[6].room = Some("room-1".into());
        changes.push(moved);
        let mut swapped = d.clone();
        swapped.participants[2].room = Some("room-2".into());
        changes.push(swapped);
        changes.push(WorkshopData {
            stage: Some("room-2".into()),
            ..d.clone()
        });
        let mut removed = d.clone();
        removed.participants[4].removed = true;
        changes.push(removed);
        let mut joined = d.clone();
        joined
            .participants
            .push(person("p-dee", Role::Attendee, None));
        changes.push(joined);
        changes.push(WorkshopData {
            breakouts_open: true,
            ..d.clone()
        });
        for new in &changes {
            for (old, new) in [(&d, new), (new, &d)] {
                for who in EVERYONE {
                    let mut got = patched(old, new, who);
                    let mut want = welcome(new, "w", who);
                    got.participants.sort_by(|a, b| a.id.cmp(&b.id));
                    want.participants.sort_by(|a, b| a.id.cmp(&b.id));
                    assert_eq!(got, want, "{who}");
                }
            }
        }
    }

    /// A join reaches the facilitators only (attendees do not see unassigned newcomers), as a
    /// patch that does not grow with the workshop.
    #[test]
    fn a_join_at_two_thousand_participants_is_a_small_patch_for_facilitators_only() {
        let mut old = class();
        for n in 0..2_000 {
            let room = ["room-1", "room-2"][n % 2];
            old.participants
                .push(person(&format!("p-{n:010}"), Role::Attendee, Some(room)));
        }
        let mut new = old.clone();
        new.participants
            .push(person("p-newcomer", Role::Attendee, None));
        let whole = welcome(&new, "w", "p-fran");
        let whole_bytes = serde_json::to_string(&whole).unwrap().len();
        let mut patches = Patches::new("w", &old, &new);
        let to_facilitator = patches.frame("p-fran").expect("the facilitator sees joins");
        // The figures docs/BENCHMARKS.md quotes (`cargo test -p plenary-server join_at --
        // --nocapture`).
        println!(
            "at 2,000 participants: whole view {whole_bytes} bytes, a join's patch {} bytes",
            to_facilitator.as_str().len()
        );
        assert!(
            to_facilitator.as_str().len() < 200,
            "a join is {} bytes for a facilitator",
            to_facilitator.as_str().len()
        );
        assert!(
            whole_bytes > 100_000,
            "the whole view is {whole_bytes} bytes"
        );
        for who in ["p-olu", "p-ada", "p-bo", "p-cy", "p-0000000007"] {
            assert!(patches.frame(who).is_none(), "{who} got a patch for a join");
        }
    }
}
