//! Bad input against a real server: malformed and unknown messages, missing fields, ops for rooms
//! not joined, invalid ops, binary and oversized frames, broken handshakes, floods and seeded
//! random garbage. Every bad frame gets its typed error (or reject, or close code), nothing it
//! carries changes any document, and afterwards the server still serves everyone correctly.
//!
//! The garbage seed is printed and can be fixed with PLENARY_TEST_SEED.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use anyhow::Context;
use futures_util::{SinkExt, StreamExt};
use plenary_protocol::schema::{MAX_ID_CHARS, MAX_POS_CHARS, MAX_TITLE_CHARS};
use plenary_protocol::workshop::{Command, WorkshopView};
use plenary_protocol::{
    close, decode_client, ClientMsg, Doc, ErrorCode, Op, OpKind, ServerMsg, Value, PROTOCOL_VERSION,
};
use plenary_tests::{
    create, current_view, hello_text, next_error, ping, read_to_end, refused_first_frame, send_op,
    set, text, Client, Ended, TestServer,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value as Json};
use tokio_tungstenite::tungstenite::Message;

/// The server's default `max_frame_bytes` (server/src/config.rs).
const MAX_FRAME_BYTES: usize = 64 * 1024;
/// Garbage frames sent by the random part of the suite.
const GARBAGE_FRAMES: usize = 500;

/// One workshop: a facilitator, attendee A in room A (seeded with a few objects), attendee B in
/// room B, and the baseline of every document and the view.
struct Scene {
    server: TestServer,
    fac: Client,
    a: Client,
    a_token: String,
    b_id: String,
    fac_id: String,
    join_code: String,
    fac_token: String,
    plenary: String,
    room_a: String,
    room_b: String,
    /// The id of an op the facilitator made in room A.
    fac_op_id: String,
    /// Room id -> (seq, doc) before any bad input.
    baseline: HashMap<String, (u64, Doc)>,
    view: WorkshopView,
}

impl Scene {
    async fn start() -> anyhow::Result<Scene> {
        // Rate limits out of the way: the random part sends hundreds of frames at once, and
        // they must reach the decoder, not the rate limiter (which has its own test).
        let server = TestServer::start_with(|c| {
            c.rate_per_sec = 100_000;
            c.rate_burst = 100_000;
        })
        .await;
        let created = server.create_workshop("Bad input").await?;
        let mut fac = server.connect(&created.token).await?;
        let made = fac
            .command(Command::CreateBreakouts {
                names: vec!["Team A".into(), "Team B".into()],
            })
            .await?;
        assert_eq!(made, Ok(()));
        let view = current_view(&server, &created.token).await?;
        let plenary = view.rooms[0].id.clone();
        let (room_a, room_b) = (view.rooms[1].id.clone(), view.rooms[2].id.clone());
        let (a_id, a_token) = server.join(&created.join_code, "Ada").await?;
        let (b_id, _) = server.join(&created.join_code, "Bo").await?;
        for (who, room) in [(&a_id, &room_a), (&b_id, &room_b)] {
            let moved = fac
                .command(Command::MoveParticipant {
                    participant: who.clone(),
                    room: Some(room.clone()),
                })
                .await?;
            assert_eq!(moved, Ok(()));
        }
        // Seed documents: a plenary card; in room A three stories, a criterion and a deleted one.
        for room in [&plenary, &room_a, &room_b] {
            fac.join(room).await?;
        }
        let kind = create("welcome", "feedback", "root", "a0", &[("text", text("hi"))]);
        assert!(fac.apply(&plenary, kind).await?.is_ok());
        let first = fac.op(create(
            "seed-1",
            "backlog_item",
            "root",
            "a1",
            &[("title", text("Sign up"))],
        ));
        let fac_op_id = first.id.clone();
        assert!(send_op(&mut fac, &room_a, first).await?.is_ok());
        for (id, pos) in [("seed-2", "a2"), ("seed-3", "a3"), ("gone-1", "a4")] {
            let kind = create(id, "backlog_item", "root", pos, &[("title", text(id))]);
            assert!(fac.apply(&room_a, kind).await?.is_ok());
        }
        let kind = create(
            "seed-1-c1",
            "acceptance_criterion",
            "seed-1",
            "a0",
            &[("given", text("a visitor")), ("met", Value::Bool(false))],
        );
        assert!(fac.apply(&room_a, kind).await?.is_ok());
        let kind = OpKind::Delete {
            object: "gone-1".into(),
        };
        assert!(fac.apply(&room_a, kind).await?.is_ok());
        let mut a = server.connect(&a_token).await?;
        a.join(&room_a).await?;
        let mut scene = Scene {
            server,
            fac,
            a,
            a_token,
            b_id,
            fac_id: created.participant_id.clone(),
            join_code: created.join_code.clone(),
            fac_token: created.token.clone(),
            plenary,
            room_a,
            room_b,
            fac_op_id,
            baseline: HashMap::new(),
            view,
        };
        for room in scene.rooms() {
            let (_, seq, doc) = scene.fac.join(&room).await?;
            scene.baseline.insert(room, (seq, doc));
        }
        scene.view = current_view(&scene.server, &scene.fac_token).await?;
        Ok(scene)
    }

    fn rooms(&self) -> Vec<String> {
        vec![
            self.plenary.clone(),
            self.room_a.clone(),
            self.room_b.clone(),
        ]
    }

    /// Every document is still as it was before the bad input.
    async fn assert_unchanged(&mut self, after: &str) -> anyhow::Result<()> {
        for room in self.rooms() {
            let (_, seq, doc) = self.fac.join(&room).await?;
            let (base_seq, base) = &self.baseline[&room];
            assert_eq!(
                doc.canonical_json(),
                base.canonical_json(),
                "room {room} changed after {after}"
            );
            assert_eq!(seq, *base_seq, "room {room} ordered ops after {after}");
        }
        Ok(())
    }
}

/// Sends each text frame and expects its error code; the connection stays usable.
async fn expect_errors(client: &mut Client, cases: &[(String, ErrorCode)]) -> anyhow::Result<()> {
    for (frame, code) in cases {
        client.send_text(frame.clone()).await?;
        let got = next_error(client)
            .await
            .with_context(|| format!("an error for {frame:?}"))?;
        assert_eq!(got, *code, "frame {frame:?}");
        ping(client)
            .await
            .with_context(|| format!("connection usable after {frame:?}"))?;
    }
    Ok(())
}

fn op_frame(room: &str, op: Json) -> String {
    json!({ "type": "op", "room": room, "op": op }).to_string()
}

#[tokio::test]
async fn bad_input_is_refused_and_the_server_keeps_serving() -> anyhow::Result<()> {
    let seed = plenary_tests::test_seed();
    let mut s = Scene::start().await?;
    let room_a = s.room_a.clone();
    let me = s.a.participant.clone();

    // 1. Not JSON, not an object, no type, an unknown type: malformed or unknown_message.
    use ErrorCode::{Malformed, UnknownMessage};
    let mut cases: Vec<(String, ErrorCode)> = [
        ("{not json", Malformed),
        ("", Malformed),
        ("   ", Malformed),
        ("null", Malformed),
        ("42", Malformed),
        ("[1,2,3]", Malformed),
        ("\"ping\"", Malformed),
        ("{}", Malformed),
        ("{\"type\":5}", Malformed),
        ("{\"type\":null}", Malformed),
        ("{\"type\":\"ping\"", Malformed),
        ("{\"type\":\"ping\"}}", Malformed),
        ("{\"type\":\"dance\"}", UnknownMessage),
        ("{\"type\":\"Ping\"}", UnknownMessage),
        ("{\"type\":\"\"}", UnknownMessage),
        (
            "{\"type\":\"snapshot\",\"room\":\"plenary\"}",
            UnknownMessage,
        ),
        (
            "{\"type\":\"ack\",\"room\":\"room-1\",\"op_id\":\"x\",\"seq\":1}",
            UnknownMessage,
        ),
    ]
    .iter()
    .map(|(f, c)| ((*f).to_owned(), *c))
    .collect();
    // 2. Known types with missing or mistyped fields: malformed.
    let stamp = json!({ "clock": 1, "client": me });
    let good_create = json!({
        "id": "bad-1", "stamp": stamp, "action": "create", "object": "bad-obj",
        "type": "backlog_item", "parent": "root", "pos": "a0", "fields": {}
    });
    let without = |key: &str| {
        let mut op = good_create.clone();
        op.as_object_mut().expect("an object").remove(key);
        op_frame(&room_a, op)
    };
    let with = |key: &str, value: Json| {
        let mut op = good_create.clone();
        op[key] = value;
        op_frame(&room_a, op)
    };
    for frame in [
        json!({ "type": "join" }).to_string(),
        json!({ "type": "join", "room": 7 }).to_string(),
        json!({ "type": "join", "room": room_a, "seq": "one" }).to_string(),
        json!({ "type": "leave" }).to_string(),
        json!({ "type": "presence" }).to_string(),
        json!({ "type": "presence", "room": room_a, "focus": 3 }).to_string(),
        json!({ "type": "op" }).to_string(),
        json!({ "type": "op", "room": room_a }).to_string(),
        json!({ "type": "op", "op": good_create }).to_string(),
        without("id"),
        without("stamp"),
        without("action"),
        without("object"),
        without("type"),
        without("parent"),
        without("pos"),
        with("action", json!("explode")),
        with("stamp", json!({ "clock": -1, "client": me })),
        with("stamp", json!({ "clock": 1 })),
        with("stamp", json!(7)),
        with("id", json!(12)),
        with("fields", json!([1, 2])),
        with("fields", json!({ "title": { "nested": true } })),
        with("fields", json!({ "value": 1.5 })),
        with("fields", json!({ "title": ["a"] })),
        json!({ "type": "command" }).to_string(),
        json!({ "type": "command", "command": {} }).to_string(),
        json!({ "type": "command", "command": { "kind": "self_destruct" } }).to_string(),
        json!({ "type": "command", "command": { "kind": "move_participant" } }).to_string(),
        json!({ "type": "command", "command": { "kind": "extend_timer", "secs": -5 } }).to_string(),
        json!({ "type": "ping", "t": "soon" }).to_string(),
        json!({ "type": "ping", "t": -1 }).to_string(),
        json!({ "type": "hello" }).to_string(),
        json!({ "type": "hello", "protocol": "1", "token": s.a_token }).to_string(),
        // Presence focus is capped at 64 characters.
        json!({ "type": "presence", "room": room_a, "focus": "f".repeat(65) }).to_string(),
    ] {
        cases.push((frame, Malformed));
    }
    expect_errors(&mut s.a, &cases).await?;
    s.assert_unchanged("malformed frames").await?;

    // 3. Rooms this connection has not joined: not_in_room (unknown_room for a join of none).
    for room in [s.plenary.clone(), s.room_b.clone(), "nowhere".to_owned()] {
        let kind = create("stray", "backlog_item", "root", "a0", &[]);
        let result = s.a.apply(&room, kind).await?;
        assert_eq!(result, Err(ErrorCode::NotInRoom), "op for {room}");
        s.a.send(&ClientMsg::Leave { room: room.clone() }).await?;
        assert_eq!(
            next_error(&mut s.a).await?,
            ErrorCode::NotInRoom,
            "leave {room}"
        );
        let presence = ClientMsg::Presence {
            room: room.clone(),
            focus: Some("x".into()),
        };
        s.a.send(&presence).await?;
        assert_eq!(
            next_error(&mut s.a).await?,
            ErrorCode::NotInRoom,
            "presence {room}"
        );
    }
    let join = ClientMsg::Join {
        room: "nowhere".into(),
        epoch: None,
        seq: None,
    };
    s.a.send(&join).await?;
    assert_eq!(next_error(&mut s.a).await?, ErrorCode::UnknownRoom);
    s.assert_unchanged("ops for rooms not joined").await?;

    // 4. Invalid ops in the attendee's own room.
    // A title of 301 characters; a position key past the cap.
    let long = "x".repeat(MAX_TITLE_CHARS + 1);
    let too_long_pos = "a".repeat(MAX_POS_CHARS + 1);
    let mut invalid: Vec<(&str, Op, ErrorCode)> = Vec::new();
    let mut add = |what: &'static str, client: &mut Client, kind: OpKind, code: ErrorCode| {
        invalid.push((what, client.op(kind), code));
    };
    let a = &mut s.a;
    use ErrorCode::*;
    let item =
        |id: &str, fields: &[(&str, Value)]| create(id, "backlog_item", "root", "a5", fields);
    add(
        "unknown type",
        a,
        create("x", "spaceship", "root", "a5", &[]),
        UnknownType,
    );
    add(
        "unknown field",
        a,
        item("x", &[("colour", text("red"))]),
        UnknownField,
    );
    add(
        "unknown field in set",
        a,
        set("seed-1", &[("colour", text("red"))]),
        UnknownField,
    );
    add(
        "title of 301 chars",
        a,
        item("x", &[("title", text(&long))]),
        TooLong,
    );
    add(
        "title of 301 chars in set",
        a,
        set("seed-1", &[("title", text(&long))]),
        TooLong,
    );
    for pos in ["", "!!", "a 1", "a00", "z", "a0\u{e9}", &too_long_pos] {
        add(
            "bad position (the pos is in the op)",
            a,
            create("x", "backlog_item", "root", pos, &[]),
            InvalidPosition,
        );
    }
    let bad_move = OpKind::Move {
        object: "seed-1".into(),
        parent: "root".into(),
        pos: "a0/".into(),
    };
    add("bad position in move", a, bad_move, InvalidPosition);
    add(
        "title as a number",
        a,
        item("x", &[("title", Value::Int(5))]),
        InvalidValue,
    );
    add(
        "value as text",
        a,
        set("seed-1", &[("value", text("ten"))]),
        InvalidValue,
    );
    add(
        "value below range",
        a,
        set("seed-1", &[("value", Value::Int(-1))]),
        InvalidValue,
    );
    add(
        "status off the list",
        a,
        set("seed-1", &[("status", text("someday"))]),
        InvalidValue,
    );
    add(
        "estimate as a number",
        a,
        set("seed-1", &[("estimate", Value::Int(3))]),
        InvalidValue,
    );
    add(
        "met as text",
        a,
        set("seed-1-c1", &[("met", text("yes"))]),
        InvalidValue,
    );
    add(
        "flag as a number",
        a,
        set("seed-1-c1", &[("met", Value::Int(1))]),
        InvalidValue,
    );
    add("set of nothing", a, set("seed-1", &[]), InvalidOp);
    add(
        "object id root",
        a,
        create("root", "backlog_item", "root", "a5", &[]),
        InvalidOp,
    );
    add("object id with a space", a, item("a b", &[]), InvalidOp);
    add(
        "object id of 65 chars",
        a,
        item(&"o".repeat(MAX_ID_CHARS + 1), &[]),
        InvalidOp,
    );
    add(
        "create of an existing id",
        a,
        item("seed-2", &[]),
        AlreadyExists,
    );
    add(
        "create of a deleted id",
        a,
        item("gone-1", &[]),
        AlreadyExists,
    );
    add(
        "set of an unknown object",
        a,
        set("nobody", &[("title", text("t"))]),
        UnknownObject,
    );
    add(
        "delete of an unknown object",
        a,
        OpKind::Delete {
            object: "nobody".into(),
        },
        UnknownObject,
    );
    add(
        "set of a deleted object",
        a,
        set("gone-1", &[("title", text("t"))]),
        Deleted,
    );
    let criterion = create("x", "acceptance_criterion", "root", "a5", &[]);
    add("criterion at the top level", a, criterion, InvalidParent);
    let orphan = create("x", "acceptance_criterion", "nobody", "a5", &[]);
    add("criterion under nothing", a, orphan, InvalidParent);
    let nested = OpKind::Move {
        object: "seed-1".into(),
        parent: "seed-2".into(),
        pos: "a0".into(),
    };
    add("story under a story", a, nested, InvalidParent);
    // Stamps and op ids.
    let mut stamped = |what: &'static str, client: &mut Client, edit: &dyn Fn(&mut Op), code| {
        let mut op = client.op(create("x", "backlog_item", "root", "a5", &[]));
        edit(&mut op);
        invalid.push((what, op, code));
    };
    let (b_id, fac_id, fac_op_id) = (s.b_id.clone(), s.fac_id.clone(), s.fac_op_id.clone());
    stamped(
        "stamp of team B's attendee",
        a,
        &|op| op.stamp.client = b_id.clone(),
        InvalidOp,
    );
    stamped(
        "stamp of the facilitator",
        a,
        &|op| op.stamp.client = fac_id.clone(),
        InvalidOp,
    );
    stamped(
        "stamp of nobody",
        a,
        &|op| op.stamp.client = String::new(),
        InvalidOp,
    );
    stamped("stamp clock 0", a, &|op| op.stamp.clock = 0, InvalidOp);
    stamped(
        "stamp clock far ahead",
        a,
        &|op| op.stamp.clock = 1 << 40,
        InvalidOp,
    );
    stamped(
        "stamp clock beyond 2^53",
        a,
        &|op| op.stamp.clock = u64::MAX,
        InvalidOp,
    );
    stamped(
        "op id with a space",
        a,
        &|op| op.id = "op 1".into(),
        InvalidOp,
    );
    stamped("empty op id", a, &|op| op.id = String::new(), InvalidOp);
    stamped(
        "op id of 65 chars",
        a,
        &|op| op.id = "i".repeat(MAX_ID_CHARS + 1),
        InvalidOp,
    );
    stamped(
        "op id of the facilitator's op",
        a,
        &|op| op.id = fac_op_id.clone(),
        AlreadyExists,
    );
    for (what, op, code) in invalid {
        let result = send_op(&mut s.a, &room_a, op.clone()).await?;
        assert_eq!(result, Err(code), "{what}: {op:?}");
    }
    ping(&mut s.a).await?;
    s.assert_unchanged("invalid ops").await?;

    // 5. Binary frames: binary_not_supported, and the connection stays open.
    for bytes in [vec![1u8, 2, 3], Vec::new(), b"{\"type\":\"ping\"}".to_vec()] {
        s.a.ws.send(Message::binary(bytes)).await?;
        assert_eq!(next_error(&mut s.a).await?, ErrorCode::BinaryNotSupported);
        ping(&mut s.a).await?;
    }

    // 6. Handshakes that go wrong: the error, then the close code.
    let url = s.server.ws_url();
    let ping_text = json!({ "type": "ping", "t": 1 }).to_string();
    let join_text = json!({ "type": "join", "room": s.plenary }).to_string();
    let wrong_version = |v: u32| hello_text(v, &s.a_token);
    let handshakes: Vec<(&str, Message, ErrorCode, u16)> = vec![
        (
            "ping before hello",
            Message::text(ping_text),
            HelloRequired,
            close::PROTOCOL_ERROR,
        ),
        (
            "join before hello",
            Message::text(join_text),
            HelloRequired,
            close::PROTOCOL_ERROR,
        ),
        (
            "binary hello",
            Message::binary(vec![0u8; 4]),
            BinaryNotSupported,
            close::PROTOCOL_ERROR,
        ),
        (
            "malformed hello",
            Message::text("{\"type\":\"hello\""),
            Malformed,
            close::PROTOCOL_ERROR,
        ),
        (
            "hello without token",
            Message::text("{\"type\":\"hello\",\"protocol\":1}"),
            Malformed,
            close::PROTOCOL_ERROR,
        ),
        (
            "unknown first message",
            Message::text("{\"type\":\"hi\"}"),
            UnknownMessage,
            close::PROTOCOL_ERROR,
        ),
        (
            "protocol 4",
            Message::text(wrong_version(4)),
            UnsupportedProtocol,
            close::UNSUPPORTED_PROTOCOL,
        ),
        (
            "protocol 0",
            Message::text(wrong_version(0)),
            UnsupportedProtocol,
            close::UNSUPPORTED_PROTOCOL,
        ),
        (
            "protocol 2 (whole workshop views, before patches)",
            Message::text(wrong_version(2)),
            UnsupportedProtocol,
            close::UNSUPPORTED_PROTOCOL,
        ),
        (
            "protocol 1 (before document model v2) with a bad token",
            Message::text(hello_text(1, "garbage")),
            UnsupportedProtocol,
            close::UNSUPPORTED_PROTOCOL,
        ),
    ];
    for (what, first, code, close_code) in handshakes {
        let (seen, ended) = refused_first_frame(&url, first).await?;
        let codes: Vec<ErrorCode> = seen
            .iter()
            .filter_map(|m| match m {
                ServerMsg::Error { code, .. } => Some(*code),
                _ => None,
            })
            .collect();
        assert_eq!(
            seen.len(),
            codes.len(),
            "{what}: only an error before the close: {seen:?}"
        );
        assert_eq!(codes, vec![code], "{what}");
        assert_eq!(ended, Ended::Closed(Some(close_code)), "{what}");
    }
    assert_eq!(PROTOCOL_VERSION, 3, "the handshake cases assume protocol 3");

    // 7. Frame size: exactly max_frame_bytes is served; one byte more closes with 1009.
    let config = plenary_tests::plenary_server::Config::for_tests(std::env::temp_dir());
    assert_eq!(
        config.max_frame_bytes, MAX_FRAME_BYTES,
        "the default frame cap"
    );
    let mut big = s.server.connect(&s.a_token).await?;
    big.send_text(padded_ping(7, MAX_FRAME_BYTES)).await?;
    big.recv_until(|m| matches!(m, ServerMsg::Pong { t: Some(7), .. }).then_some(()))
        .await
        .context("a frame of exactly max_frame_bytes is served")?;
    big.send_text(padded_ping(8, MAX_FRAME_BYTES + 1)).await?;
    let ended = big.recv_close().await;
    assert_eq!(
        ended,
        Ended::Closed(Some(close::TOO_BIG)),
        "a frame above max_frame_bytes"
    );
    ping(&mut s.a).await?;
    s.assert_unchanged("handshakes, binary and oversized frames")
        .await?;

    // 8. Seeded random garbage on a second connection of attendee A, joined to room A.
    let report = garbage(&mut s, seed).await?;
    println!("garbage: {report}");

    // 9. Everything else is as before, and the server still serves everyone.
    for room in [s.plenary.clone(), s.room_b.clone()] {
        let (_, _, doc) = s.fac.join(&room).await?;
        let (_, base) = &s.baseline[&room];
        assert_eq!(
            doc.canonical_json(),
            base.canonical_json(),
            "{room} (seed {seed})"
        );
    }
    let view = current_view(&s.server, &s.fac_token).await?;
    let mut expected = s.view.clone();
    let mut actual = view.clone();
    if report.done > 0 {
        // Garbage may have raised or lowered attendee A's hand, which A may do.
        expected.help.clear();
        actual.help.clear();
    }
    assert_eq!(actual, expected, "the workshop view changed (seed {seed})");

    let (newt, newt_token) = s.server.join(&s.join_code, "Newt").await?;
    let moved = s
        .fac
        .command(Command::MoveParticipant {
            participant: newt.clone(),
            room: Some(room_a.clone()),
        })
        .await?;
    assert_eq!(moved, Ok(()));
    let mut fresh = s.server.connect(&newt_token).await?;
    fresh.join(&room_a).await?;
    let kind = create(
        "newt-story",
        "backlog_item",
        "root",
        "a9",
        &[("title", text("Still works"))],
    );
    let seq = fresh.apply(&room_a, kind).await?;
    assert!(seq.is_ok(), "{seq:?}");
    let seen =
        s.a.recv_until(|m| match m {
            ServerMsg::Op { room, op, seq }
                if *room == room_a && op.kind.object() == "newt-story" =>
            {
                Some(*seq)
            }
            _ => None,
        })
        .await
        .context("attendee A sees the new attendee's story")?;
    assert_eq!(Ok(seen), seq);
    let (_, _, doc) = s.fac.join(&room_a).await?;
    assert!(doc.objects.contains_key("newt-story"));
    s.server.stop().await;
    Ok(())
}

/// The next server message, or how the connection ended.
async fn next_frame(client: &mut Client) -> Result<ServerMsg, Ended> {
    loop {
        match tokio::time::timeout(plenary_tests::RECV_TIMEOUT, client.ws.next()).await {
            Err(_) => return Err(Ended::Error("timed out".into())),
            Ok(Some(Ok(Message::Text(t)))) => match serde_json::from_str(&t) {
                Ok(msg) => return Ok(msg),
                Err(e) => return Err(Ended::Error(format!("undecodable {t}: {e}"))),
            },
            Ok(Some(Ok(Message::Close(frame)))) => {
                return Err(Ended::Closed(frame.map(|f| f.code.into())))
            }
            Ok(Some(Ok(_))) => continue,
            Ok(Some(Err(e))) => return Err(Ended::Error(e.to_string())),
            Ok(None) => return Err(Ended::Closed(None)),
        }
    }
}

/// A ping frame of exactly `len` bytes (unknown fields are ignored).
fn padded_ping(t: u64, len: usize) -> String {
    let head = format!("{{\"type\":\"ping\",\"t\":{t},\"pad\":\"");
    let tail = "\"}";
    let pad = len - head.len() - tail.len();
    let frame = format!("{head}{}{tail}", "p".repeat(pad));
    assert_eq!(frame.len(), len);
    frame
}

#[derive(Debug, Default)]
struct GarbageReport {
    sent: usize,
    done: usize,
    acked: usize,
    errors: BTreeMap<String, usize>,
    rejects: BTreeMap<String, usize>,
}

impl std::fmt::Display for GarbageReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} frames, {} ops acked, {} commands done, errors {:?}, rejects {:?}",
            self.sent, self.acked, self.done, self.errors, self.rejects
        )
    }
}

/// What a pong with this `t` answers: the end of a chunk of garbage.
const SENTINEL: u64 = 7 << 56;

/// Sends seeded garbage on a second connection of attendee A and checks that room A's document
/// is its baseline plus exactly the ops the server acknowledged.
async fn garbage(s: &mut Scene, seed: u64) -> anyhow::Result<GarbageReport> {
    let mut rng = StdRng::seed_from_u64(seed);
    let room_a = s.room_a.clone();
    let mut g = s.server.connect(&s.a_token).await?;
    g.join(&room_a).await?;
    let ctx = Ctx {
        me: g.participant.clone(),
        b: s.b_id.clone(),
        rooms: vec![room_a.clone(), s.plenary.clone(), s.room_b.clone()],
    };
    let mut report = GarbageReport::default();
    let mut used_ids: HashSet<String> = HashSet::new();
    // Op ids sent to room A -> the op, to apply the acknowledged ones.
    let mut sent_ops: HashMap<String, Op> = HashMap::new();
    let mut acked: BTreeMap<u64, Op> = BTreeMap::new();
    let mut chunk = 0u64;
    let mut n = 0usize;
    while report.sent < GARBAGE_FRAMES {
        n += 1;
        let frame = garbage_frame(&mut rng, n, &ctx);
        if frame.len() > MAX_FRAME_BYTES {
            // Oversized frames close the connection (section 7 covers them).
            continue;
        }
        match decode_client(&frame) {
            // Op ids stay unique, so that every ack names exactly one op.
            Ok(ClientMsg::Op { op, .. }) if used_ids.contains(&op.id) => continue,
            Ok(ClientMsg::Op { room, op }) => {
                used_ids.insert(op.id.clone());
                if room == room_a {
                    sent_ops.insert(op.id.clone(), op);
                }
            }
            _ => {}
        }
        g.send_text(frame).await?;
        report.sent += 1;
        if report.sent % 50 == 0 || report.sent == GARBAGE_FRAMES {
            // The end of a chunk: wait for a pong, collecting the answers meanwhile.
            chunk += 1;
            let t = SENTINEL + chunk;
            g.send(&ClientMsg::Ping { t: Some(t) }).await?;
            loop {
                let msg = g
                    .recv()
                    .await
                    .with_context(|| format!("garbage chunk {chunk} (seed {seed})"))?;
                if matches!(msg, ServerMsg::Pong { t: Some(x), .. } if x == t) {
                    break;
                }
                tally(&msg, &room_a, &sent_ops, &mut acked, &mut report, seed);
            }
        }
    }
    // A barrier: a valid op of the garbage connection. Its ack comes after the answers to every
    // op sent before it (pongs and snapshots may overtake those, acks of one connection may not).
    g.send(&ClientMsg::Join {
        room: room_a.clone(),
        epoch: None,
        seq: None,
    })
    .await?;
    let mut barrier = g.op(create("barrier", "feedback", "root", "a0", &[]));
    barrier.id = "garbage-barrier".into();
    sent_ops.insert(barrier.id.clone(), barrier.clone());
    g.send(&ClientMsg::Op {
        room: room_a.clone(),
        op: barrier,
    })
    .await?;
    loop {
        let msg = g.recv().await.context("the barrier's ack")?;
        tally(&msg, &room_a, &sent_ops, &mut acked, &mut report, seed);
        match &msg {
            ServerMsg::Ack { op_id, .. } if op_id == "garbage-barrier" => break,
            ServerMsg::Reject { op_id, code, .. } if op_id == "garbage-barrier" => {
                panic!("the barrier op was rejected: {code} (seed {seed})")
            }
            _ => {}
        }
    }
    ping(&mut g)
        .await
        .context("the garbage connection is open")?;
    // The facilitator's join comes after the barrier: its snapshot is the final document.
    let (_, seq, doc) = s.fac.join(&room_a).await?;
    let (base_seq, base) = &s.baseline[&room_a];
    let mut expected = base.clone();
    let mut next = *base_seq;
    for (acked_seq, op) in &acked {
        next += 1;
        assert_eq!(*acked_seq, next, "acked seqs are contiguous (seed {seed})");
        expected.apply(op);
    }
    assert_eq!(
        seq, next,
        "every ordered op was acked to its sender (seed {seed})"
    );
    assert_eq!(
        doc.canonical_json(),
        expected.canonical_json(),
        "room {room_a} is not its baseline plus the acked garbage ops (seed {seed})"
    );
    // Later checks compare against the document including the acked garbage.
    s.baseline.insert(room_a, (seq, doc));
    Ok(report)
}

fn tally(
    msg: &ServerMsg,
    room_a: &str,
    sent_ops: &HashMap<String, Op>,
    acked: &mut BTreeMap<u64, Op>,
    report: &mut GarbageReport,
    seed: u64,
) {
    match msg {
        ServerMsg::Ack { room, op_id, seq } => {
            assert_eq!(room, room_a, "an op was acked outside room A (seed {seed})");
            let op = sent_ops
                .get(op_id)
                .unwrap_or_else(|| panic!("ack for an op never sent: {op_id} (seed {seed})"));
            assert!(
                acked.insert(*seq, op.clone()).is_none(),
                "seq {seq} acked twice (seed {seed})"
            );
            report.acked += 1;
        }
        ServerMsg::Reject { code, .. } => *report.rejects.entry(code.to_string()).or_default() += 1,
        ServerMsg::Error { code, .. } => *report.errors.entry(code.to_string()).or_default() += 1,
        ServerMsg::Done { .. } => report.done += 1,
        _ => {}
    }
}

/// What valid messages of the garbage refer to.
struct Ctx {
    me: String,
    b: String,
    /// Room A first.
    rooms: Vec<String>,
}

/// Keys the random JSON is built from.
const KEYS: &[&str] = &[
    "type",
    "room",
    "op",
    "id",
    "stamp",
    "clock",
    "client",
    "action",
    "object",
    "parent",
    "pos",
    "fields",
    "command",
    "kind",
    "req",
    "protocol",
    "token",
    "resume",
    "epoch",
    "seq",
    "focus",
    "t",
    "title",
    "names",
    "participant",
    "note",
    "secs",
    "allow",
    "value",
    "status",
    "met",
];
const TYPES: &[&str] = &[
    "hello", "join", "leave", "op", "presence", "command", "ping", "ack", "snapshot", "dance", "",
];

fn random_string(rng: &mut StdRng) -> String {
    let len = rng.random_range(0..24);
    (0..len)
        .map(|_| match rng.random_range(0..10) {
            0 => char::from_u32(rng.random_range(0..0x11_0000)).unwrap_or('\u{fffd}'),
            1 => [
                '"', '\\', '{', '}', '[', ']', ':', ',', '\0', '\n', '\u{7f}', '\u{feff}',
            ][rng.random_range(0..12)],
            _ => (b'a' + rng.random_range(0..26u8)) as char,
        })
        .collect()
}

fn random_json(rng: &mut StdRng, depth: u32) -> Json {
    let kinds = if depth > 3 { 6 } else { 8 };
    match rng.random_range(0..kinds) {
        0 => Json::Null,
        1 => Json::Bool(rng.random()),
        2 => json!(rng.random::<i64>()),
        3 => json!(rng.random::<u64>() >> rng.random_range(0..64)),
        4 => json!(rng.random::<f64>() * 2e6 - 1e6),
        5 => Json::String(random_string(rng)),
        6 => Json::Array(
            (0..rng.random_range(0..5))
                .map(|_| random_json(rng, depth + 1))
                .collect(),
        ),
        _ => {
            let mut map = serde_json::Map::new();
            for _ in 0..rng.random_range(0..6) {
                let key = if rng.random_bool(0.8) {
                    KEYS[rng.random_range(0..KEYS.len())].to_owned()
                } else {
                    random_string(rng)
                };
                map.insert(key, random_json(rng, depth + 1));
            }
            if rng.random_bool(0.5) {
                map.insert(
                    "type".into(),
                    json!(TYPES[rng.random_range(0..TYPES.len())]),
                );
            }
            Json::Object(map)
        }
    }
}

fn pick<'a>(rng: &mut StdRng, items: &[&'a str]) -> &'a str {
    items[rng.random_range(0..items.len())]
}

/// A valid message of some kind, before mutation.
fn valid_message(rng: &mut StdRng, n: usize, ctx: &Ctx) -> Json {
    let room = if rng.random_bool(0.7) {
        ctx.rooms[0].clone()
    } else {
        ctx.rooms[rng.random_range(0..ctx.rooms.len())].clone()
    };
    let new_obj = format!("g{n}");
    let object = pick(
        rng,
        &[
            "seed-1",
            "seed-2",
            "seed-3",
            "seed-1-c1",
            "gone-1",
            &new_obj,
        ],
    );
    let stamp = json!({ "clock": rng.random_range(1..200u64), "client": ctx.me });
    let id = format!("gop{n}");
    let op = |body: Json| {
        let mut op = json!({ "id": id, "stamp": stamp });
        for (k, v) in body.as_object().expect("an object") {
            op[k] = v.clone();
        }
        json!({ "type": "op", "room": room, "op": op })
    };
    match rng.random_range(0..14) {
        0 => json!({ "type": "ping", "t": n }),
        1 | 2 => json!({ "type": "join", "room": room }),
        3 => json!({ "type": "leave", "room": room }),
        4 => json!({ "type": "presence", "room": room, "focus": object }),
        5 | 6 => {
            let ty = pick(
                rng,
                &[
                    "backlog_item",
                    "feedback",
                    "experiment",
                    "acceptance_criterion",
                ],
            );
            let parent = pick(rng, &["root", "seed-1", "seed-2", "gone-1"]);
            let pos = pick(rng, &["a0", "a5", "b0", "Zz", "a0V", "a00"]);
            let field = pick(rng, FIELDS);
            op(json!({
                "action": "create", "object": new_obj, "type": ty, "parent": parent,
                "pos": pos, "fields": { field: plausible_value(rng) },
            }))
        }
        7..=9 => {
            let field = pick(rng, FIELDS);
            op(json!({
                "action": "set", "object": object, "fields": { field: plausible_value(rng) },
            }))
        }
        10 => op(json!({ "action": "delete", "object": object })),
        11 => {
            let parent = pick(rng, &["root", "seed-2"]);
            op(json!({ "action": "move", "object": object, "parent": parent, "pos": "a7" }))
        }
        _ => {
            let command = match rng.random_range(0..7) {
                0 => json!({ "kind": "set_stage", "room": room }),
                1 => json!({ "kind": "lower_hand" }),
                2 => json!({ "kind": "raise_hand", "note": "garbage" }),
                3 => json!({ "kind": "choose_room", "room": room }),
                4 => json!({ "kind": "resolve_help", "id": 1 }),
                5 => json!({ "kind": "remove_participant", "participant": ctx.b }),
                _ => json!({ "kind": "create_breakouts", "names": ["Garbage"] }),
            };
            json!({ "type": "command", "req": format!("g{n}"), "command": command })
        }
    }
}

/// Field names of the schema (and one that is in none).
const FIELDS: &[&str] = &[
    "title",
    "value",
    "status",
    "met",
    "estimate",
    "text",
    "given",
    "hypothesis",
    "decision",
    "colour",
];

/// A field value that often is valid for some field: text up to past the title cap, integers
/// around the ranges, flags, enum values, null; sometimes any JSON.
fn plausible_value(rng: &mut StdRng) -> Json {
    match rng.random_range(0..8) {
        0 => json!("t".repeat(rng.random_range(0..=MAX_TITLE_CHARS + 2))),
        1 => json!(random_string(rng)),
        2 => json!(rng.random_range(-5..2_000_000i64)),
        3 => json!(rng.random_bool(0.5)),
        4 => json!(pick(rng, &["ready", "done", "5", "XL", "pivot", "someday"])),
        5 => Json::Null,
        _ => random_json(rng, 3),
    }
}

/// A JSON pointer to a random node of `v`.
fn random_pointer(rng: &mut StdRng, v: &Json) -> String {
    let mut pointer = String::new();
    let mut node = v;
    while rng.random_bool(0.85) {
        match node {
            Json::Object(map) if !map.is_empty() => {
                let (k, child) = map
                    .iter()
                    .nth(rng.random_range(0..map.len()))
                    .expect("in range");
                pointer.push('/');
                pointer.push_str(&k.replace('~', "~0").replace('/', "~1"));
                node = child;
            }
            Json::Array(items) if !items.is_empty() => {
                let i = rng.random_range(0..items.len());
                pointer.push_str(&format!("/{i}"));
                node = &items[i];
            }
            _ => break,
        }
    }
    pointer
}

fn mutate(rng: &mut StdRng, v: &mut Json) {
    let pointer = random_pointer(rng, v);
    let Some(node) = v.pointer_mut(&pointer) else {
        return;
    };
    match rng.random_range(0..10) {
        0 => *node = random_json(rng, 2),
        1 => match node {
            Json::Object(map) if !map.is_empty() => {
                let key = map.keys().nth(rng.random_range(0..map.len())).cloned();
                if let Some(key) = key {
                    map.remove(&key);
                }
            }
            _ => *node = Json::Null,
        },
        2 => {
            if let Json::Object(map) = node {
                let key = KEYS[rng.random_range(0..KEYS.len())];
                map.insert(key.into(), random_json(rng, 2));
            } else {
                *node = json!({ "x": node.take() });
            }
        }
        3 | 7 | 8 | 9 => match node {
            Json::String(s) => match rng.random_range(0..4) {
                0 => {
                    let keep = rng.random_range(0..=s.chars().count());
                    *s = s.chars().take(keep).collect();
                }
                1 => s.push_str(&random_string(rng)),
                2 => *s = s.to_uppercase(),
                _ => *s = s.repeat(rng.random_range(2..400)),
            },
            Json::Number(num) => {
                *node = match rng.random_range(0..5) {
                    0 => json!(-num.as_f64().unwrap_or(1.0)),
                    1 => json!(u64::MAX),
                    2 => json!(0),
                    3 => json!(num.to_string()),
                    _ => json!(i64::MIN),
                }
            }
            _ => *node = Json::String(random_string(rng)),
        },
        4 => *node = json!([node.take()]),
        5 => {
            if let Json::Object(map) = node {
                map.insert(
                    "type".into(),
                    json!(TYPES[rng.random_range(0..TYPES.len())]),
                );
            }
        }
        _ => {
            *node = match node {
                Json::String(_) => json!(rng.random::<i32>()),
                Json::Number(_) | Json::Bool(_) | Json::Null => json!("a string"),
                _ => Json::Bool(true),
            }
        }
    }
}

/// Edits the text itself: truncates, splices in random characters or drops a range.
fn mutate_text(rng: &mut StdRng, s: &mut String) {
    let bounds: Vec<usize> = s.char_indices().map(|(i, _)| i).chain([s.len()]).collect();
    let at = bounds[rng.random_range(0..bounds.len())];
    match rng.random_range(0..3) {
        0 => s.truncate(at),
        1 => s.insert_str(at, &random_string(rng)),
        _ => {
            let to = bounds[rng.random_range(0..bounds.len())].max(at);
            s.replace_range(at..to, "");
        }
    }
}

/// One garbage frame: random text (a fifth), random JSON (a fifth), or a valid message with
/// zero to three structural mutations and sometimes a textual one.
fn garbage_frame(rng: &mut StdRng, n: usize, ctx: &Ctx) -> String {
    match rng.random_range(0..10) {
        0 | 1 => {
            let mut s = random_string(rng);
            if rng.random_bool(0.3) {
                s.insert_str(0, "{\"type\":\"");
            }
            s
        }
        2 | 3 => random_json(rng, 0).to_string(),
        _ => {
            let mut v = valid_message(rng, n, ctx);
            let mutations = match rng.random_range(0..10) {
                0 => 0,
                1..=6 => 1,
                _ => rng.random_range(2..=3),
            };
            for _ in 0..mutations {
                mutate(rng, &mut v);
            }
            let mut s = v.to_string();
            if rng.random_bool(0.15) {
                mutate_text(rng, &mut s);
            }
            s
        }
    }
}

#[tokio::test]
async fn no_hello_before_the_deadline_closes_with_4001() -> anyhow::Result<()> {
    let server = TestServer::start_with(|c| c.hello_timeout_ms = 300).await;
    let created = server.create_workshop("Deadline").await?;
    // Silent, and with WebSocket pings only: neither is a hello.
    for send_pings in [false, true] {
        let started = Instant::now();
        let mut ws = Client::raw(&server.ws_url()).await?;
        if send_pings {
            ws.send(Message::Ping(Default::default())).await?;
            tokio::time::sleep(Duration::from_millis(100)).await;
            ws.send(Message::Ping(Default::default())).await?;
        }
        let (seen, ended) = read_to_end(&mut ws).await;
        let elapsed = started.elapsed();
        assert_eq!(
            ended,
            Ended::Closed(Some(close::HELLO_TIMEOUT)),
            "pings: {send_pings}"
        );
        let codes: Vec<_> = seen
            .iter()
            .map(|m| match m {
                ServerMsg::Error { code, .. } => *code,
                other => panic!("only an error before the close, got {other:?}"),
            })
            .collect();
        assert_eq!(codes, vec![ErrorCode::HelloRequired]);
        assert!(
            elapsed >= Duration::from_millis(250),
            "closed after {elapsed:?}"
        );
        assert!(elapsed < Duration::from_secs(5), "closed after {elapsed:?}");
    }
    // A hello in time is served.
    let mut fac = server.connect(&created.token).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    ping(&mut fac).await?;
    server.stop().await;
    Ok(())
}

#[tokio::test]
async fn a_flood_is_rate_limited_then_closed_with_4005() -> anyhow::Result<()> {
    let server = TestServer::start_with(|c| {
        c.rate_per_sec = 5;
        c.rate_burst = 10;
    })
    .await;
    let created = server.create_workshop("Flood").await?;
    let mut fac = server.connect(&created.token).await?;
    let mut bystander = server.connect(&created.token).await?;
    // 40 pings, a command and an op at once: the bucket holds 10.
    for t in 0..40 {
        fac.send(&ClientMsg::Ping { t: Some(t) }).await?;
    }
    fac.send(&ClientMsg::Command {
        req: Some("late".into()),
        command: Command::AllowChoice { allow: true },
    })
    .await?;
    let op = fac.op(create("late", "backlog_item", "root", "a0", &[]));
    let op_id = op.id.clone();
    fac.send(&ClientMsg::Op {
        room: "plenary".into(),
        op,
    })
    .await?;
    let (mut pongs, mut limited) = (0, 0);
    let (mut command_limited, mut op_limited) = (false, false);
    while pongs + limited < 40 || !command_limited || !op_limited {
        match fac.recv().await? {
            ServerMsg::Pong { t: Some(_), .. } => pongs += 1,
            ServerMsg::Error {
                code: ErrorCode::RateLimited,
                req: None,
                ..
            } => limited += 1,
            ServerMsg::Error {
                code: ErrorCode::RateLimited,
                req: Some(r),
                ..
            } if r == "late" => command_limited = true,
            ServerMsg::Reject {
                code: ErrorCode::RateLimited,
                op_id: id,
                ..
            } if id == op_id => op_limited = true,
            other => panic!("unexpected answer in the burst: {other:?}"),
        }
    }
    assert!(limited > 0, "some pings are rate limited");
    assert!((10..40).contains(&pongs), "{pongs} pongs");
    println!("burst: {pongs} pongs, {limited} rate limited");
    // Nothing the limited command would have changed did change.
    assert!(!current_view(&server, &created.token).await?.allow_choice);
    // Once the bucket refills the connection is served again.
    tokio::time::sleep(Duration::from_millis(2_200)).await;
    ping(&mut fac).await?;
    // A flood past FLOOD_STRIKES (500) rate-limited messages: closed with 4005. Each ping is
    // sent once the previous one is answered, so that the server has read everything when it
    // closes (see `a_blasting_flood_still_sees_4005` for a client that does not wait).
    let flood = r#"{"type":"ping"}"#;
    let (mut sent, mut limited) = (0, 0);
    let ended = loop {
        assert!(
            sent < 1_000,
            "no close after {sent} pings ({limited} rate limited)"
        );
        fac.ws.send(Message::text(flood)).await?;
        sent += 1;
        match next_frame(&mut fac).await {
            Ok(ServerMsg::Error {
                code: ErrorCode::RateLimited,
                ..
            }) => limited += 1,
            Ok(ServerMsg::Pong { .. }) => {}
            Ok(other) => panic!("unexpected answer in the flood: {other:?}"),
            Err(ended) => break ended,
        }
    };
    println!("flood: {sent} sent, {limited} rate limited, then {ended:?}");
    assert!(
        limited > 500,
        "{limited} rate-limited errors before the close"
    );
    assert_eq!(ended, Ended::Closed(Some(close::FLOOD)));
    // Other connections are not affected.
    ping(&mut bystander).await?;
    server.stop().await;
    Ok(())
}

/// A second hello gets `already_hello` and the connection stays open (docs/PROTOCOL.md 6.1 and
/// ws.rs). The doc comment of `close::PROTOCOL_ERROR` reads "for example a second hello", which
/// disagrees; see the report.
#[tokio::test]
async fn a_second_hello_is_refused_and_the_connection_stays_open() -> anyhow::Result<()> {
    let server = TestServer::start().await;
    let created = server.create_workshop("Two hellos").await?;
    let mut fac = server.connect(&created.token).await?;
    for token in [created.token.clone(), "garbage".into()] {
        fac.send_text(hello_text(PROTOCOL_VERSION, &token)).await?;
        assert_eq!(next_error(&mut fac).await?, ErrorCode::AlreadyHello);
        ping(&mut fac).await?;
    }
    let made = fac
        .command(Command::CreateBreakouts {
            names: vec!["Still here".into()],
        })
        .await?;
    assert_eq!(made, Ok(()));
    server.stop().await;
    Ok(())
}

/// A client that blasts frames without reading: the server must still deliver its flood close
/// (4005) rather than reset the connection. docs/PROTOCOL.md 16.2: "the server sends `error`
/// `rate_limited` (`too many messages; closing`) and closes with 4005".
#[tokio::test]
async fn a_blasting_flood_still_sees_4005() -> anyhow::Result<()> {
    let server = TestServer::start_with(|c| {
        c.rate_per_sec = 5;
        c.rate_burst = 10;
    })
    .await;
    let created = server.create_workshop("Blast").await?;
    let mut fac = server.connect(&created.token).await?;
    let flood = r#"{"type":"ping"}"#;
    let mut sent = 0;
    for _ in 0..600 {
        if fac.ws.send(Message::text(flood)).await.is_err() {
            break;
        }
        sent += 1;
    }
    let (seen, ended) = read_to_end(&mut fac.ws).await;
    let limited = seen
        .iter()
        .filter(|m| {
            matches!(
                m,
                ServerMsg::Error {
                    code: ErrorCode::RateLimited,
                    ..
                }
            )
        })
        .count();
    println!("blast: {sent} sent, {limited} rate-limited errors read, then {ended:?}");
    assert_eq!(ended, Ended::Closed(Some(close::FLOOD)));
    assert!(
        limited > 500,
        "{limited} rate-limited errors before the close"
    );
    server.stop().await;
    Ok(())
}
