//! Workshop view patches: applying `diff(old, new)` to `old` gives `new`, for any pair of views,
//! after a trip through JSON (a `null` that clears `stage` must stay apart from an absent
//! `stage`). The scenarios are also written to `protocol/tests/vectors/workshop_patch.json`,
//! which the web client's tests apply with its own code; `UPDATE_GENERATED=1` rewrites the file
//! and the test fails when the checked-in copy is stale.

use std::collections::BTreeMap;
use std::path::PathBuf;

use plenary_protocol::workshop::{
    Exercise, HelpRequest, ParticipantInfo, RoomInfo, RoomKind, Template, TimerState, TimerView,
    WorkshopPatch, WorkshopView, PLENARY,
};
use plenary_protocol::{Role, ServerMsg};
use proptest::prelude::*;
use serde_json::json;

/// The same view with its participants in id order (their order carries no meaning).
fn normal(mut v: WorkshopView) -> WorkshopView {
    v.participants.sort_by(|a, b| a.id.cmp(&b.id));
    v
}

/// `patch` as a client receives it: inside a message, through JSON.
fn over_the_wire(patch: WorkshopPatch) -> WorkshopPatch {
    let text = ServerMsg::WorkshopPatch { patch }.to_json();
    match serde_json::from_str(&text).expect("a patch message decodes") {
        ServerMsg::WorkshopPatch { patch } => patch,
        other => panic!("decoded as {other:?}"),
    }
}

fn check(old: &WorkshopView, new: &WorkshopView) {
    match old.diff(new) {
        None => assert_eq!(
            normal(old.clone()),
            normal(new.clone()),
            "no patch, yet they differ"
        ),
        Some(patch) => {
            let received = over_the_wire(patch.clone());
            assert_eq!(received, patch, "the patch survives JSON");
            let mut patched = old.clone();
            patched.apply(received);
            assert_eq!(normal(patched), normal(new.clone()));
        }
    }
}

fn room(id: &str, name: &str) -> RoomInfo {
    RoomInfo {
        id: id.into(),
        name: name.into(),
        kind: if id == PLENARY {
            RoomKind::Plenary
        } else {
            RoomKind::Breakout
        },
    }
}

fn person(id: &str, name: &str, role: Role, room: Option<&str>) -> ParticipantInfo {
    ParticipantInfo {
        id: id.into(),
        name: name.into(),
        role,
        room: room.map(Into::into),
    }
}

fn base() -> WorkshopView {
    WorkshopView {
        id: "w-1".into(),
        title: "CSPO".into(),
        rooms: vec![room(PLENARY, "Plenary"), room("room-1", "Team A")],
        participants: vec![
            person("p-fac", "Fran", Role::Facilitator, None),
            person("p-ada", "Ada", Role::Attendee, Some("room-1")),
        ],
        breakouts_open: false,
        allow_choice: false,
        exercise: None,
        timer: None,
        stage: None,
        help: vec![],
        team_sizes: BTreeMap::from([("room-1".into(), 1)]),
    }
}

fn exercise() -> Exercise {
    Exercise {
        title: "Vision".into(),
        instructions: "Fill in the board".into(),
        template: Some(Template::VisionBoard),
        rooms: vec!["room-1".into()],
    }
}

fn timer(state: TimerState) -> TimerView {
    TimerView {
        id: 1,
        deadline_ms: 1_767_000_900_000,
        duration_ms: 900_000,
        warning_ms: 60_000,
        auto_close: true,
        state,
    }
}

fn help(id: u64, who: &str) -> HelpRequest {
    HelpRequest {
        id,
        participant: who.into(),
        name: who.trim_start_matches("p-").into(),
        room: "room-1".into(),
        note: "stuck".into(),
        object: None,
        raised_ms: 1_767_000_000_000,
    }
}

/// Named (old, new) pairs: what a class goes through.
fn scenarios() -> Vec<(&'static str, WorkshopView, WorkshopView)> {
    let b = base();
    let mut joined = b.clone();
    joined
        .participants
        .push(person("p-bo", "Bo", Role::Attendee, None));
    let mut moved = joined.clone();
    moved.participants[2].room = Some("room-1".into());
    moved.team_sizes.insert("room-1".into(), 2);
    let mut removed = moved.clone();
    removed.participants.remove(1);
    removed.team_sizes.insert("room-1".into(), 1);
    let started = WorkshopView {
        exercise: Some(exercise()),
        timer: Some(timer(TimerState::Running)),
        breakouts_open: true,
        ..b.clone()
    };
    let expired = WorkshopView {
        timer: Some(timer(TimerState::Expired)),
        breakouts_open: false,
        ..started.clone()
    };
    let staged = WorkshopView {
        stage: Some("room-1".into()),
        ..b.clone()
    };
    let mut more_rooms = b.clone();
    more_rooms.rooms.push(room("room-2", "Team B"));
    more_rooms.team_sizes.insert("room-2".into(), 0);
    let raised = WorkshopView {
        help: vec![help(1, "p-ada")],
        ..b.clone()
    };
    vec![
        ("a participant joins", b.clone(), joined.clone()),
        ("a participant is moved to a team", joined, moved.clone()),
        ("a participant is removed", moved, removed),
        ("an exercise starts", b.clone(), started.clone()),
        ("the timer expires", started, expired.clone()),
        ("the exercise and timer are cleared", expired, b.clone()),
        ("a team goes on stage", b.clone(), staged.clone()),
        ("the stage is cleared", staged, b.clone()),
        ("breakouts are added", b.clone(), more_rooms),
        ("a hand goes up", b.clone(), raised.clone()),
        ("the hand is lowered", raised, b.clone()),
        (
            "the title changes",
            b.clone(),
            WorkshopView {
                title: "CSPO, day 2".into(),
                ..b
            },
        ),
    ]
}

#[test]
fn every_scenario_patches_old_into_new() {
    for (name, old, new) in scenarios() {
        assert!(old.diff(&new).is_some(), "{name}: the views differ");
        check(&old, &new);
        check(&new, &old);
    }
}

#[test]
fn a_null_stage_clears_it_and_an_absent_one_keeps_it() {
    let staged = WorkshopView {
        stage: Some("room-1".into()),
        ..base()
    };
    let clear: WorkshopPatch = serde_json::from_value(json!({ "stage": null })).unwrap();
    assert_eq!(clear.stage, Some(None));
    let mut v = staged.clone();
    v.apply(clear);
    assert_eq!(v.stage, None);
    let other: WorkshopPatch = serde_json::from_value(json!({ "title": "x" })).unwrap();
    let mut v = staged;
    v.apply(other);
    assert_eq!(v.stage.as_deref(), Some("room-1"));
}

#[test]
fn equal_views_need_no_patch_whatever_the_participant_order() {
    let v = base();
    let mut reversed = v.clone();
    reversed.participants.reverse();
    assert_eq!(v.diff(&v), None);
    assert_eq!(v.diff(&reversed), None);
}

#[test]
fn the_shared_vectors_are_current() {
    let vectors: Vec<serde_json::Value> = scenarios()
        .into_iter()
        .map(|(name, old, new)| {
            let patch = old.diff(&new).expect("the views differ");
            json!({ "name": name, "old": old, "new": new, "patch": patch })
        })
        .collect();
    let text = serde_json::to_string_pretty(&json!({ "patches": vectors })).unwrap() + "\n";
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/workshop_patch.json");
    if std::env::var_os("UPDATE_GENERATED").is_some() {
        std::fs::write(&path, &text).unwrap();
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == text,
        "{} is stale: run UPDATE_GENERATED=1 cargo test -p plenary-protocol --test workshop_patch",
        path.display()
    );
}

const IDS: [&str; 6] = ["p-1", "p-2", "p-3", "p-4", "p-5", "p-6"];
const ROOMS: [&str; 2] = ["room-1", "room-2"];

fn opt_room() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(None),
        (0..ROOMS.len()).prop_map(|i| Some(ROOMS[i].to_owned()))
    ]
}

fn arb_view() -> impl Strategy<Value = WorkshopView> {
    let people = proptest::collection::vec(
        proptest::option::of((0..2usize, 0..3usize, opt_room())),
        IDS.len(),
    );
    (
        (0..2usize, 1..=ROOMS.len(), people, any::<u64>()),
        (
            any::<bool>(),
            any::<bool>(),
            0..3usize,
            0..4usize,
            opt_room(),
        ),
        (proptest::collection::vec(0..IDS.len(), 0..3), 0..3u32),
    )
        .prop_map(
            |(
                (title, rooms, people, order),
                (open, choice, exercise_kind, timer_kind, stage),
                (hands, size),
            )| {
                let roles = [Role::Facilitator, Role::Attendee, Role::Observer];
                let mut participants: Vec<ParticipantInfo> = people
                    .into_iter()
                    .zip(IDS)
                    .filter_map(|(p, id)| {
                        p.map(|(name, role, room)| ParticipantInfo {
                            id: id.into(),
                            name: ["Ada", "Bo"][name].into(),
                            role: roles[role],
                            room,
                        })
                    })
                    .collect();
                // Any order: the receiver must not depend on it.
                let n = participants.len().max(1);
                participants.rotate_left((order as usize) % n);
                let mut rooms_list = vec![room(PLENARY, "Plenary")];
                rooms_list.extend(ROOMS[..rooms].iter().map(|r| room(r, r)));
                WorkshopView {
                    id: "w-1".into(),
                    title: ["CSPO", "Meetup"][title].into(),
                    team_sizes: ROOMS[..rooms]
                        .iter()
                        .map(|r| ((*r).to_owned(), size))
                        .collect(),
                    rooms: rooms_list,
                    participants,
                    breakouts_open: open,
                    allow_choice: choice,
                    exercise: [
                        None,
                        Some(exercise()),
                        Some(Exercise {
                            template: None,
                            ..exercise()
                        }),
                    ][exercise_kind]
                        .clone(),
                    timer: [
                        None,
                        Some(timer(TimerState::Running)),
                        Some(timer(TimerState::Warned)),
                        Some(timer(TimerState::Stopped)),
                    ][timer_kind]
                        .clone(),
                    stage,
                    help: hands
                        .into_iter()
                        .enumerate()
                        .map(|(i, p)| help(i as u64 + 1, IDS[p]))
                        .collect(),
                }
            },
        )
}

proptest! {
    #[test]
    fn any_view_patches_into_any_other(old in arb_view(), new in arb_view()) {
        check(&old, &new);
    }

    #[test]
    fn patches_compose_along_a_sequence(views in proptest::collection::vec(arb_view(), 1..8)) {
        let mut held = views[0].clone();
        for pair in views.windows(2) {
            if let Some(patch) = pair[0].diff(&pair[1]) {
                held.apply(over_the_wire(patch));
            }
            prop_assert_eq!(normal(held.clone()), normal(pair[1].clone()));
        }
    }
}
