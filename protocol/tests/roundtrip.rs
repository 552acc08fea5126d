//! Wire messages: every variant round-trips through JSON, decoding is lenient where the
//! protocol says so (unknown fields) and strict where it must be (unknown types, floats).
//!
//! The `*_variant` helpers match exhaustively: a new variant does not compile until it gets an
//! arm, and the arm's index fails `every_*_variant_round_trips` until a sample covers it.

use std::collections::BTreeMap;

use plenary_protocol::message::DecodeError;
use plenary_protocol::workshop::{
    Command, Exercise, HelpRequest, ParticipantInfo, RoomInfo, RoomKind, Template, TimerState,
    TimerView, WorkshopView, PLENARY,
};
use plenary_protocol::{
    decode_client, ClientMsg, Doc, ErrorCode, Member, Op, OpKind, ResumePoint, Role, ServerMsg,
    Stamp, TimerEvent, Value, PROTOCOL_VERSION,
};
use serde::de::DeserializeOwned;
use serde::Serialize;

const CLIENT_VARIANTS: usize = 7;
const SERVER_VARIANTS: usize = 14;
const COMMAND_VARIANTS: usize = 15;

/// Index and wire name of a client message's variant.
fn client_variant(msg: &ClientMsg) -> (usize, &'static str) {
    match msg {
        ClientMsg::Hello { .. } => (0, "hello"),
        ClientMsg::Join { .. } => (1, "join"),
        ClientMsg::Leave { .. } => (2, "leave"),
        ClientMsg::Op { .. } => (3, "op"),
        ClientMsg::Presence { .. } => (4, "presence"),
        ClientMsg::Command { .. } => (5, "command"),
        ClientMsg::Ping { .. } => (6, "ping"),
    }
}

fn server_variant(msg: &ServerMsg) -> (usize, &'static str) {
    match msg {
        ServerMsg::Welcome { .. } => (0, "welcome"),
        ServerMsg::Snapshot { .. } => (1, "snapshot"),
        ServerMsg::Op { .. } => (2, "op"),
        ServerMsg::Ack { .. } => (3, "ack"),
        ServerMsg::Reject { .. } => (4, "reject"),
        ServerMsg::Presence { .. } => (5, "presence"),
        ServerMsg::WorkshopPatch { .. } => (6, "workshop_patch"),
        ServerMsg::Timer { .. } => (7, "timer"),
        ServerMsg::Done { .. } => (8, "done"),
        ServerMsg::Error { .. } => (9, "error"),
        ServerMsg::Pong { .. } => (10, "pong"),
        ServerMsg::Reconnect { .. } => (11, "reconnect"),
        ServerMsg::Left { .. } => (12, "left"),
        ServerMsg::Sealed { .. } => (13, "sealed"),
    }
}

fn command_variant(cmd: &Command) -> usize {
    match cmd {
        Command::CreateBreakouts { .. } => 0,
        Command::AssignAuto => 1,
        Command::AllowChoice { .. } => 2,
        Command::MoveParticipant { .. } => 3,
        Command::ChooseRoom { .. } => 4,
        Command::OpenBreakouts => 5,
        Command::CloseBreakouts => 6,
        Command::BroadcastExercise { .. } => 7,
        Command::ExtendTimer { .. } => 8,
        Command::StopTimer => 9,
        Command::SetStage { .. } => 10,
        Command::RaiseHand { .. } => 11,
        Command::LowerHand => 12,
        Command::ResolveHelp { .. } => 13,
        Command::RemoveParticipant { .. } => 14,
    }
}

/// Serializes, checks the tag, deserializes, and compares. Returns the JSON.
fn round_trip<T>(value: &T, tag: &str, name: &str) -> String
where
    T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let json = serde_json::to_string(value).unwrap();
    let tree: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(tree[tag], name, "wire tag of {json}");
    let back: T = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{json}: {e}"));
    assert_eq!(&back, value, "{json}");
    json
}

fn sample_op() -> Op {
    Op {
        id: "op-1".into(),
        stamp: Stamp::new(7, "client-a"),
        kind: OpKind::Create {
            object: "item-1".into(),
            ty: "backlog_item".into(),
            parent: "root".into(),
            pos: "a0".into(),
            fields: BTreeMap::from([
                ("title".into(), Value::Text("Export".into())),
                ("value".into(), Value::Int(-3)),
                ("tag".into(), Value::Null),
                ("met".into(), Value::Bool(true)),
            ]),
        },
    }
}

fn all_ops() -> Vec<Op> {
    let kinds = [
        sample_op().kind,
        OpKind::Set {
            object: "item-1".into(),
            fields: BTreeMap::from([("estimate".into(), Value::Text("13".into()))]),
        },
        OpKind::Delete {
            object: "item-1".into(),
        },
        OpKind::Move {
            object: "item-1".into(),
            parent: "root".into(),
            pos: "a0V".into(),
        },
    ];
    kinds
        .into_iter()
        .map(|kind| Op {
            kind,
            ..sample_op()
        })
        .collect()
}

fn sample_doc() -> Doc {
    let mut doc = Doc::new();
    for op in all_ops()
        .iter()
        .filter(|o| !matches!(o.kind, OpKind::Delete { .. }))
    {
        doc.apply(op);
    }
    doc
}

fn sample_member() -> Member {
    Member {
        participant: "p1".into(),
        name: "Ada".into(),
        role: Role::Attendee,
        focus: Some("item-1".into()),
    }
}

fn sample_workshop() -> WorkshopView {
    WorkshopView {
        id: "w1".into(),
        title: "CSPO day 1".into(),
        rooms: vec![
            RoomInfo {
                id: PLENARY.into(),
                name: "Plenary".into(),
                kind: RoomKind::Plenary,
            },
            RoomInfo {
                id: "b1".into(),
                name: "Team 1".into(),
                kind: RoomKind::Breakout,
            },
        ],
        participants: vec![
            ParticipantInfo {
                id: "p1".into(),
                name: "Ada".into(),
                role: Role::Facilitator,
                room: None,
            },
            ParticipantInfo {
                id: "p2".into(),
                name: "Bob".into(),
                role: Role::Observer,
                room: Some("b1".into()),
            },
        ],
        breakouts_open: true,
        allow_choice: false,
        exercise: Some(Exercise {
            title: "Vision".into(),
            instructions: "Fill the board".into(),
            template: Some(Template::VisionBoard),
            rooms: vec!["b1".into()],
        }),
        timer: Some(TimerView {
            id: 3,
            deadline_ms: 1_700_000_000_000,
            duration_ms: 600_000,
            warning_ms: 60_000,
            auto_close: true,
            state: TimerState::Warned,
        }),
        stage: Some("b1".into()),
        help: vec![HelpRequest {
            id: 1,
            participant: "p2".into(),
            name: "Bob".into(),
            room: "b1".into(),
            note: "stuck".into(),
            object: Some("item-1".into()),
            raised_ms: 1_700_000_000_001,
        }],
        team_sizes: BTreeMap::from([("b1".to_owned(), 4)]),
    }
}

fn all_commands() -> Vec<Command> {
    vec![
        Command::CreateBreakouts {
            names: vec!["Team 1".into(), "Team 2".into()],
        },
        Command::AssignAuto,
        Command::AllowChoice { allow: true },
        Command::MoveParticipant {
            participant: "p2".into(),
            room: None,
        },
        Command::MoveParticipant {
            participant: "p2".into(),
            room: Some("b1".into()),
        },
        Command::ChooseRoom { room: "b1".into() },
        Command::OpenBreakouts,
        Command::CloseBreakouts,
        Command::BroadcastExercise {
            title: "Backlog".into(),
            instructions: "Write 5 stories".into(),
            timebox_secs: 900,
            template: Some(Template::Backlog),
            rooms: Some(vec!["b1".into()]),
            auto_close: true,
            warning_secs: Some(60),
        },
        Command::BroadcastExercise {
            title: "Lean Coffee".into(),
            instructions: String::new(),
            timebox_secs: 300,
            template: Some(Template::LeanCoffee),
            rooms: None,
            auto_close: false,
            warning_secs: None,
        },
        Command::ExtendTimer { secs: 120 },
        Command::StopTimer,
        Command::SetStage {
            room: Some("b1".into()),
        },
        Command::SetStage { room: None },
        Command::RaiseHand {
            note: "help".into(),
            object: Some("item-1".into()),
        },
        Command::LowerHand,
        Command::ResolveHelp { id: 1 },
        Command::RemoveParticipant {
            participant: "p2".into(),
        },
    ]
}

fn all_client_msgs() -> Vec<ClientMsg> {
    let mut msgs = vec![
        ClientMsg::Hello {
            protocol: PROTOCOL_VERSION,
            token: "tok".into(),
            resume: vec![ResumePoint {
                room: "b1".into(),
                epoch: 2,
                seq: 40,
            }],
        },
        ClientMsg::Join {
            room: "b1".into(),
            epoch: Some(2),
            seq: Some(40),
        },
        ClientMsg::Join {
            room: "b1".into(),
            epoch: None,
            seq: None,
        },
        ClientMsg::Leave { room: "b1".into() },
        ClientMsg::Presence {
            room: "b1".into(),
            focus: Some("item-1".into()),
        },
        ClientMsg::Ping { t: Some(5) },
        ClientMsg::Ping { t: None },
    ];
    msgs.extend(all_ops().into_iter().map(|op| ClientMsg::Op {
        room: "b1".into(),
        op,
    }));
    msgs.extend(
        all_commands()
            .into_iter()
            .map(|command| ClientMsg::Command {
                req: Some("r1".into()),
                command,
            }),
    );
    msgs
}

fn all_server_msgs() -> Vec<ServerMsg> {
    let mut msgs = vec![
        ServerMsg::Welcome {
            protocol: PROTOCOL_VERSION,
            session: "s1".into(),
            participant: sample_member(),
            server_time: 1_700_000_000_000,
            heartbeat_ms: 15_000,
            workshop: sample_workshop(),
        },
        ServerMsg::Snapshot {
            room: "b1".into(),
            epoch: 2,
            seq: 41,
            doc: sample_doc(),
        },
        ServerMsg::Ack {
            room: "b1".into(),
            op_id: "op-1".into(),
            seq: 42,
        },
        ServerMsg::Sealed {
            room: "b1".into(),
            entries: vec![plenary_protocol::SealedEntry {
                object: "round-1".into(),
                field: "votes".into(),
                value: Value::Text("8".into()),
            }],
        },
        ServerMsg::Reject {
            room: "b1".into(),
            op_id: "op-1".into(),
            code: ErrorCode::TooLong,
            message: "title is too long".into(),
        },
        ServerMsg::Presence {
            room: "b1".into(),
            members: vec![
                sample_member(),
                Member {
                    focus: None,
                    ..sample_member()
                },
            ],
            joined: Some("p1".into()),
            left: None,
        },
        ServerMsg::Left {
            room: "b1".into(),
            reason: "moved to another team".into(),
        },
        ServerMsg::WorkshopPatch {
            patch: WorkshopView {
                title: "CSPO day 2".into(),
                stage: None,
                exercise: None,
                participants: vec![],
                ..sample_workshop()
            }
            .diff(&sample_workshop())
            .expect("the views differ"),
        },
        ServerMsg::WorkshopPatch {
            patch: sample_workshop()
                .diff(&WorkshopView {
                    stage: None,
                    exercise: None,
                    timer: None,
                    participants: vec![],
                    ..sample_workshop()
                })
                .expect("the views differ"),
        },
        ServerMsg::Timer {
            timer: 3,
            event: TimerEvent::Warning,
            remaining_ms: 60_000,
        },
        ServerMsg::Timer {
            timer: 3,
            event: TimerEvent::Expired,
            remaining_ms: 0,
        },
        ServerMsg::Done { req: None },
        ServerMsg::Error {
            code: ErrorCode::Forbidden,
            message: "facilitators only".into(),
            req: Some("r1".into()),
            room: None,
        },
        ServerMsg::Error {
            code: ErrorCode::Forbidden,
            message: "not your team".into(),
            req: None,
            room: Some("room-2".into()),
        },
        ServerMsg::error(ErrorCode::Malformed, "bad json"),
        ServerMsg::Pong {
            t: Some(5),
            server_time: 1_700_000_000_000,
        },
        ServerMsg::Pong {
            t: None,
            server_time: 1,
        },
        ServerMsg::Reconnect {
            reason: "restart".into(),
            retry_ms: 500,
        },
    ];
    msgs.extend(
        all_ops()
            .into_iter()
            .enumerate()
            .map(|(seq, op)| ServerMsg::Op {
                room: "b1".into(),
                seq: seq as u64,
                op,
            }),
    );
    msgs
}

#[test]
fn every_client_variant_round_trips() {
    let mut covered = [false; CLIENT_VARIANTS];
    for msg in all_client_msgs() {
        let (i, name) = client_variant(&msg);
        covered[i] = true;
        let json = round_trip(&msg, "type", name);
        assert_eq!(decode_client(&json), Ok(msg));
    }
    assert!(covered.iter().all(|c| *c), "uncovered: {covered:?}");
}

#[test]
fn every_server_variant_round_trips() {
    let mut covered = [false; SERVER_VARIANTS];
    for msg in all_server_msgs() {
        let (i, name) = server_variant(&msg);
        covered[i] = true;
        let json = round_trip(&msg, "type", name);
        assert_eq!(msg.to_json(), json);
    }
    assert!(covered.iter().all(|c| *c), "uncovered: {covered:?}");
}

#[test]
fn an_op_frame_built_from_the_op_text_equals_the_encoded_message() {
    for (i, op) in all_ops().into_iter().enumerate() {
        for room in ["room-1", "Team \"Δ\" \\ 1\n"] {
            let seq = (i as u64) * 1_000_003;
            let op_json = serde_json::to_string(&op).unwrap();
            let expected = ServerMsg::Op {
                room: room.into(),
                seq,
                op: op.clone(),
            }
            .to_json();
            assert_eq!(ServerMsg::op_frame(room, seq, &op_json), expected);
        }
    }
}

#[test]
fn every_command_variant_round_trips() {
    let mut covered = [false; COMMAND_VARIANTS];
    for cmd in all_commands() {
        covered[command_variant(&cmd)] = true;
        round_trip(&cmd, "kind", cmd.name());
    }
    assert!(covered.iter().all(|c| *c), "uncovered: {covered:?}");
}

#[test]
fn every_error_code_round_trips_as_its_name() {
    // Every code the server can send in an `error` or `reject` frame.
    let codes = [
        ErrorCode::Malformed,
        ErrorCode::UnknownMessage,
        ErrorCode::BinaryNotSupported,
        ErrorCode::UnsupportedProtocol,
        ErrorCode::HelloRequired,
        ErrorCode::AlreadyHello,
        ErrorCode::Unauthorized,
        ErrorCode::Forbidden,
        ErrorCode::NotInRoom,
        ErrorCode::UnknownRoom,
        ErrorCode::UnknownParticipant,
        ErrorCode::RateLimited,
        ErrorCode::InvalidOp,
        ErrorCode::UnknownType,
        ErrorCode::UnknownField,
        ErrorCode::InvalidValue,
        ErrorCode::TooLong,
        ErrorCode::InvalidParent,
        ErrorCode::InvalidPosition,
        ErrorCode::UnknownObject,
        ErrorCode::Deleted,
        ErrorCode::AlreadyExists,
        ErrorCode::TooManyObjects,
        ErrorCode::InvalidCommand,
        ErrorCode::Conflict,
        ErrorCode::Unavailable,
        ErrorCode::NotFound,
    ];
    for code in codes {
        let json = serde_json::to_string(&code).unwrap();
        assert_eq!(json, format!("\"{}\"", code.as_str()));
        assert_eq!(code.to_string(), code.as_str());
        assert_eq!(serde_json::from_str::<ErrorCode>(&json).unwrap(), code);
    }
}

/// The exact bytes of the two hottest frames, so that a wire change is a visible decision.
#[test]
fn op_frames_have_the_documented_shape() {
    let op = Op {
        id: "op-1".into(),
        stamp: Stamp::new(7, "c"),
        kind: OpKind::Set {
            object: "item-1".into(),
            fields: BTreeMap::from([("title".into(), Value::Text("T".into()))]),
        },
    };
    let server = ServerMsg::Op {
        room: "b1".into(),
        seq: 9,
        op: op.clone(),
    };
    assert_eq!(
        server.to_json(),
        r#"{"type":"op","room":"b1","seq":9,"op":{"id":"op-1","stamp":{"clock":7,"client":"c"},"action":"set","object":"item-1","fields":{"title":"T"}}}"#
    );
    let client = r#"{"type":"op","room":"b1","op":{"id":"op-1","stamp":{"clock":7,"client":"c"},"action":"set","object":"item-1","fields":{"title":"T"}}}"#;
    assert_eq!(
        decode_client(client),
        Ok(ClientMsg::Op {
            room: "b1".into(),
            op
        })
    );
}

#[test]
fn unknown_fields_are_ignored() {
    let cases = [
        (
            r#"{"type":"leave","room":"b1","extra":1,"nested":{"a":[1,2]}}"#,
            ClientMsg::Leave { room: "b1".into() },
        ),
        (
            r#"{"type":"op","room":"b1","v":2,"op":{"id":"o","stamp":{"clock":1,"client":"c","x":0},"action":"delete","object":"x","why":"tidy"}}"#,
            ClientMsg::Op {
                room: "b1".into(),
                op: Op {
                    id: "o".into(),
                    stamp: Stamp::new(1, "c"),
                    kind: OpKind::Delete { object: "x".into() },
                },
            },
        ),
        (
            r#"{"type":"command","command":{"kind":"assign_auto","force":true},"later":null}"#,
            ClientMsg::Command {
                req: None,
                command: Command::AssignAuto,
            },
        ),
    ];
    for (json, expected) in cases {
        assert_eq!(decode_client(json), Ok(expected), "{json}");
    }
    let server = r#"{"type":"ack","room":"b1","op_id":"o","seq":3,"node":"n2"}"#;
    assert_eq!(
        serde_json::from_str::<ServerMsg>(server).unwrap(),
        ServerMsg::Ack {
            room: "b1".into(),
            op_id: "o".into(),
            seq: 3
        }
    );
}

#[test]
fn optional_fields_take_their_defaults() {
    assert_eq!(
        decode_client(r#"{"type":"hello","protocol":1,"token":"t"}"#),
        Ok(ClientMsg::Hello {
            protocol: 1,
            token: "t".into(),
            resume: vec![]
        })
    );
    assert_eq!(
        decode_client(r#"{"type":"ping"}"#),
        Ok(ClientMsg::Ping { t: None })
    );
    assert_eq!(
        decode_client(
            r#"{"type":"command","command":{"kind":"broadcast_exercise","title":"T","timebox_secs":60}}"#
        ),
        Ok(ClientMsg::Command {
            req: None,
            command: Command::BroadcastExercise {
                title: "T".into(),
                instructions: String::new(),
                timebox_secs: 60,
                template: None,
                rooms: None,
                auto_close: false,
                warning_secs: None,
            }
        })
    );
}

fn code_of(text: &str) -> ErrorCode {
    match decode_client(text) {
        Ok(msg) => panic!("{text} decoded to {msg:?}"),
        Err(DecodeError { code, .. }) => code,
    }
}

#[test]
fn unknown_type_is_unknown_message() {
    for text in [
        r#"{"type":"subscribe","room":"b1"}"#,
        r#"{"type":"Hello","protocol":1,"token":"t"}"#,
        r#"{"type":"","x":1}"#,
        // A server-only type sent by a client.
        r#"{"type":"welcome"}"#,
    ] {
        assert_eq!(code_of(text), ErrorCode::UnknownMessage, "{text}");
    }
}

#[test]
fn invalid_json_or_missing_fields_is_malformed() {
    for text in [
        "",
        "not json",
        r#"{"type":"join","room":"b1""#,
        "[]",
        "null",
        r#"{"room":"b1"}"#,
        r#"{"type":5}"#,
        r#"{"type":"join"}"#,
        r#"{"type":"hello","protocol":1}"#,
        r#"{"type":"leave","room":7}"#,
        r#"{"type":"op","room":"b1"}"#,
        r#"{"type":"op","room":"b1","op":{"id":"o","stamp":{"clock":1,"client":"c"},"action":"set","object":"x"}}"#,
        // Nested unknown tags are malformed messages, not unknown message types.
        r#"{"type":"op","room":"b1","op":{"id":"o","stamp":{"clock":1,"client":"c"},"action":"explode","object":"x"}}"#,
        r#"{"type":"command","command":{"kind":"self_destruct"}}"#,
        r#"{"type":"ping","t":-1}"#,
    ] {
        assert_eq!(code_of(text), ErrorCode::Malformed, "{text}");
    }
}

#[test]
fn floats_and_out_of_range_integers_do_not_decode() {
    for text in [
        r#"{"type":"ping","t":1.5}"#,
        r#"{"type":"ping","t":2.0}"#,
        r#"{"type":"join","room":"b1","seq":1e3}"#,
        r#"{"type":"op","room":"b1","op":{"id":"o","stamp":{"clock":1.5,"client":"c"},"action":"delete","object":"x"}}"#,
        r#"{"type":"op","room":"b1","op":{"id":"o","stamp":{"clock":1,"client":"c"},"action":"set","object":"x","fields":{"value":2.5}}}"#,
        r#"{"type":"op","room":"b1","op":{"id":"o","stamp":{"clock":1,"client":"c"},"action":"set","object":"x","fields":{"value":3.0}}}"#,
        r#"{"type":"op","room":"b1","op":{"id":"o","stamp":{"clock":1,"client":"c"},"action":"set","object":"x","fields":{"value":9223372036854775808}}}"#,
        r#"{"type":"op","room":"b1","op":{"id":"o","stamp":{"clock":1,"client":"c"},"action":"set","object":"x","fields":{"tags":["a"]}}}"#,
        r#"{"type":"op","room":"b1","op":{"id":"o","stamp":{"clock":1,"client":"c"},"action":"set","object":"x","fields":{"o":{"a":1}}}}"#,
    ] {
        assert_eq!(code_of(text), ErrorCode::Malformed, "{text}");
    }
    assert!(serde_json::from_str::<Value>("1.5").is_err());
    assert_eq!(
        serde_json::from_str::<Value>("-9223372036854775808").unwrap(),
        Value::Int(i64::MIN)
    );
    for (json, value) in [
        ("null", Value::Null),
        ("true", Value::Bool(true)),
        ("9223372036854775807", Value::Int(i64::MAX)),
        (
            r#""a \"quoted\" \u00e9""#,
            Value::Text("a \"quoted\" é".into()),
        ),
    ] {
        assert_eq!(
            serde_json::from_str::<Value>(json).unwrap(),
            value,
            "{json}"
        );
        assert_eq!(
            serde_json::to_string(&value)
                .unwrap()
                .replace("\\u00e9", "é"),
            json.replace("\\u00e9", "é")
        );
    }
}

/// `decode_client` takes a faster path for well-formed `op` messages; it must decide exactly as
/// the derived decoding does, for valid and invalid messages alike.
#[test]
fn the_fast_op_decoding_agrees_with_the_derived_one() {
    let mut corpus: Vec<String> = all_ops()
        .into_iter()
        .map(|op| {
            serde_json::to_string(&ClientMsg::Op {
                room: "room-1".into(),
                op,
            })
            .unwrap()
        })
        .collect();
    let stamp = r#""stamp":{"clock":3,"client":"p"}"#;
    for body in [
        r#""action":"create","object":"x","type":"backlog_item","parent":"root","pos":"a0""#,
        r#""action":"create","object":"x","type":"backlog_item","parent":"root""#,
        r#""action":"create","object":"x","type":"backlog_item","parent":"root","pos":"a0","fields":null"#,
        r#""action":"create","object":"x","type":"backlog_item","parent":"root","pos":"a0","fields":{"title":"t","n":1,"b":false,"z":null}"#,
        r#""action":"create","object":"x","type":7,"parent":"root","pos":"a0""#,
        r#""action":"set","object":"x""#,
        r#""action":"set","object":"x","fields":{}"#,
        r#""action":"set","object":"x","fields":{"v":1.5}"#,
        r#""action":"set","object":"x","fields":{"v":[1]}"#,
        r#""action":"set","object":"x","fields":{"v":"a","v":"b"}"#,
        r#""action":"set","object":"x","fields":{"v":"a"},"pos":5"#,
        r#""action":"delete","object":"x""#,
        r#""action":"delete","object":"x","parent":5,"fields":"no""#,
        r#""action":"delete""#,
        r#""action":"move","object":"x","parent":"root","pos":"a1""#,
        r#""action":"move","object":"x","pos":"a1""#,
        r#""action":"move","object":"x","parent":null,"pos":"a1""#,
        r#""action":"rename","object":"x""#,
        r#""action":"delete","object":"x","action":"delete""#,
        r#""act\u0069on":"delete","object":"x","extra":{"deep":[1,2,{"k":null}]}"#,
    ] {
        corpus.push(format!(
            r#"{{"type":"op","room":"r","op":{{"id":"o1",{stamp},{body}}}}}"#
        ));
        corpus.push(format!(
            r#"{{"op":{{{body},{stamp},"id":"o1"}},"room":"r","type":"op"}}"#
        ));
    }
    corpus.extend(
        [
            r#"{"type":"op","room":"r"}"#,
            r#"{"type":"op","room":5,"op":{"id":"o","stamp":{"clock":1,"client":"c"},"action":"delete","object":"x"}}"#,
            r#"{"type":"op","room":"r","room":"s","op":{"id":"o","stamp":{"clock":1,"client":"c"},"action":"delete","object":"x"}}"#,
            r#"{"type":"op","room":"r","op":{"id":"o","stamp":{"clock":-1,"client":"c"},"action":"delete","object":"x"}}"#,
            r#"{"type":"op","room":"r","op":{"id":"o","stamp":{"clock":1},"action":"delete","object":"x"}}"#,
            r#"{"type":"join","room":"r","op":{"id":"o","stamp":{"clock":1,"client":"c"},"action":"delete","object":"x"}}"#,
            r#"{"type":"OP","room":"r","op":{"id":"o","stamp":{"clock":1,"client":"c"},"action":"delete","object":"x"}}"#,
            r#"{"type":"op","room":"r","op":{"id":"o","stamp":{"clock":1,"client":"c"},"action":"delete","object":"x"}} "#,
            r#"{"type":"op","room":"r","op":{"id":"o","stamp":{"clock":1,"client":"c"},"action":"delete","object":"x"}}x"#,
            r#"{"type":"op","room":"r","op":["o",{"clock":1,"client":"c"},"delete","x"]}"#,
            r#"["op","r",{"id":"o","stamp":{"clock":1,"client":"c"},"action":"delete","object":"x"}]"#,
            r#"{"type":{"op":null},"room":"r","op":{"id":"o","stamp":{"clock":1,"client":"c"},"action":"delete","object":"x"}}"#,
            r#"{"type":"op","room":"r","op":{"id":"o","stamp":{"clock":1,"client":"c"},"action":{"delete":null},"object":"x"}}"#,
            r#"{"type":"o\u0070","room":"r","op":{"id":"o","stamp":{"clock":1,"client":"c"},"action":"d\u0065lete","object":"x"}}"#,
            "\n\t {\"type\":\"op\",\"room\":\"r\",\"op\": \r\n{\"id\":\"o\",\"stamp\":{\"clock\":1,\"client\":\"c\"},\"action\":\"delete\",\"object\":\"x\"}}",
        ]
        .map(str::to_owned),
    );
    let mut accepted = 0;
    for text in &corpus {
        let derived = serde_json::from_str::<ClientMsg>(text).ok();
        let decoded = decode_client(text).ok();
        assert_eq!(decoded, derived, "{text}");
        accepted += usize::from(decoded.is_some());
    }
    assert!(
        accepted >= 20,
        "the corpus exercises both outcomes: {accepted} accepted"
    );
}
