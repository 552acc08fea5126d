//! Test vectors shared with the web client (`web-client/test/vectors.test.js` reads the same
//! file): ops of the version 2 model applied in two causal orders and the document they give,
//! and position keys made with member suffixes. The Rust side checks that the file matches what
//! this crate computes; `PLENARY_UPDATE_VECTORS=1 cargo test -p plenary-protocol --test vectors`
//! rewrites it after an intended change.

mod common;

use std::collections::BTreeMap;

use plenary_protocol::fractional::{between_with, client_suffix, place};
use plenary_protocol::{validate, Doc, Op, OpKind, Stamp, Value};
use serde_json::{json, Value as Json};

const FILE: &str = "tests/vectors/model_v2.json";

fn op(id: &str, clock: u64, client: &str, kind: OpKind) -> Op {
    Op {
        id: id.into(),
        stamp: Stamp::new(clock, client),
        kind,
    }
}

fn fields(pairs: &[(&str, Value)]) -> BTreeMap<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

fn text(object: &str, after: Option<&str>, insert: &str, delete: &[&str]) -> OpKind {
    OpKind::Text {
        object: object.into(),
        field: "text".into(),
        after: after.map(str::to_owned),
        insert: insert.into(),
        delete: delete.iter().map(|d| (*d).to_owned()).collect(),
    }
}

/// The ops, in the order a server could have ordered them, and a second causal order.
fn scenario() -> (Vec<Op>, Vec<usize>) {
    let t = |s: &str| Value::Text(s.into());
    let ops = vec![
        op(
            "s",
            1,
            "p-host",
            OpKind::Create {
                object: "sec".into(),
                ty: "vision_section".into(),
                parent: "root".into(),
                pos: "a0".into(),
                fields: fields(&[("section", t("needs"))]),
            },
        ),
        op(
            "n",
            2,
            "p-host",
            OpKind::Create {
                object: "note".into(),
                ty: "vision_note".into(),
                parent: "sec".into(),
                pos: "a0".into(),
                fields: fields(&[("text", t("héllo"))]),
            },
        ),
        // Three members type after the same character at once.
        op(
            "a",
            3,
            "p-ann",
            text("note", Some("2.4.p-host"), " wörld", &[]),
        ),
        op(
            "b",
            3,
            "p-bob",
            text("note", Some("2.4.p-host"), " there", &[]),
        ),
        op(
            "c",
            4,
            "p-cy",
            text("note", Some("2.4.p-host"), "!", &["2.0.p-host"]),
        ),
        // Ann goes on typing inside her own word; Bob deletes part of it concurrently.
        op("a2", 5, "p-ann", text("note", Some("3.2.p-ann"), "🙂", &[])),
        op(
            "b2",
            5,
            "p-bob",
            text("note", None, "", &["3.3.p-ann", "3.4.p-ann"]),
        ),
        op(
            "t",
            6,
            "p-host",
            OpKind::Create {
                object: "topic".into(),
                ty: "lean_coffee_topic".into(),
                parent: "root".into(),
                pos: "a1".into(),
                fields: fields(&[("title", t("Estimates")), ("votes", Value::Int(1))]),
            },
        ),
        op(
            "v1",
            7,
            "p-ann",
            OpKind::Set {
                object: "topic".into(),
                fields: fields(&[("votes", Value::Int(2))]),
            },
        ),
        op(
            "v2",
            7,
            "p-bob",
            OpKind::Set {
                object: "topic".into(),
                fields: fields(&[("votes", Value::Int(3))]),
            },
        ),
        op(
            "v3",
            8,
            "p-ann",
            OpKind::Set {
                object: "topic".into(),
                fields: fields(&[("votes", Value::Null)]),
            },
        ),
        // A second note replaced by a set, with an older concurrent edit that arrives later.
        op(
            "n2",
            9,
            "p-host",
            OpKind::Create {
                object: "note2".into(),
                ty: "vision_note".into(),
                parent: "sec".into(),
                pos: "a1".into(),
                fields: fields(&[("text", t("draft"))]),
            },
        ),
        op(
            "e",
            10,
            "p-ann",
            text("note2", Some("9.4.p-host"), " one", &[]),
        ),
        op(
            "r",
            11,
            "p-bob",
            OpKind::Set {
                object: "note2".into(),
                fields: fields(&[("text", t("final"))]),
            },
        ),
        // Sealed votes as the server orders them (no values), then the reveal it filled in.
        op(
            "i",
            12,
            "p-host",
            OpKind::Create {
                object: "item".into(),
                ty: "backlog_item".into(),
                parent: "root".into(),
                pos: "a2".into(),
                fields: fields(&[("title", t("Export"))]),
            },
        ),
        op(
            "rd",
            13,
            "p-host",
            OpKind::Create {
                object: "round".into(),
                ty: "estimation_round".into(),
                parent: "item".into(),
                pos: "a0".into(),
                fields: fields(&[("scale", t("fibonacci"))]),
            },
        ),
        op("s1", 14, "p-ann", seal(false)),
        op("s2", 14, "p-bob", seal(false)),
        op("s3", 15, "p-bob", seal(true)),
        op("s4", 16, "p-bob", seal(false)),
        op(
            "rv",
            17,
            "p-cy",
            OpKind::Reveal {
                object: "round".into(),
                values: BTreeMap::from([(
                    "votes".into(),
                    BTreeMap::from([("p-ann".into(), t("8")), ("p-bob".into(), t("coffee"))]),
                )]),
            },
        ),
    ];
    // Another causal order: each member's own ops stay in order, concurrent ones swap. Seals
    // and the reveal are ordered by the server and keep their order.
    let order = vec![
        0, 1, 4, 3, 2, 6, 5, 7, 9, 8, 10, 11, 13, 12, 14, 15, 17, 16, 18, 19, 20,
    ];
    (ops, order)
}

/// A seal as ordered: without its value.
fn seal(withdraw: bool) -> OpKind {
    OpKind::Seal {
        object: "round".into(),
        field: "votes".into(),
        value: None,
        withdraw,
    }
}

fn compute() -> Json {
    let (ops, order) = scenario();
    let mut doc = Doc::new();
    for o in &ops {
        // Validated as the client sent it: a seal with a value, a reveal without values.
        let mut sent = o.clone();
        match &mut sent.kind {
            OpKind::Seal {
                value,
                withdraw: false,
                ..
            } => *value = Some(Value::Text("5".into())),
            OpKind::Reveal { values, .. } => values.clear(),
            _ => {}
        }
        validate(&doc, &sent).unwrap_or_else(|e| panic!("{}: {e}", o.id));
        doc.apply(o);
    }
    let mut other = Doc::new();
    for &i in &order {
        other.apply(&ops[i]);
    }
    assert_eq!(
        doc.canonical_json(),
        other.canonical_json(),
        "orders disagree"
    );
    let suffixes = ["p-aaaaaaaaaa", "p-zz00000009", "p-0123456789"].map(client_suffix);
    let key_cases: Vec<(Option<&str>, Option<&str>)> = vec![
        (None, None),
        (Some("a0"), None),
        (None, Some("a0")),
        (Some("a0"), Some("a1")),
        (Some("a0"), Some("a0V")),
        (Some("a0V"), Some("a0V1")),
        (Some("Zz"), Some("a0")),
    ];
    let mut keys = Vec::new();
    for (lo, hi) in &key_cases {
        for s in &suffixes {
            keys.push(json!([lo, hi, s, between_with(*lo, *hi, s).unwrap()]));
        }
    }
    let place_cases: Vec<(Vec<&str>, usize)> = vec![
        (vec!["a0", "a1", "a1", "a1", "a2"], 2),
        (vec!["a0", "a1", "a1", "a1", "a2"], 3),
        (vec!["a6", "a6", "a6"], 1),
        (vec!["a6", "a6", "a6"], 0),
        (vec!["a6", "a6", "a6"], 3),
        (vec!["a0", "a1"], 1),
    ];
    let mut placements = Vec::new();
    for (list, index) in &place_cases {
        let p = place(list, *index, &suffixes[0]).unwrap();
        placements.push(json!([list, index, suffixes[0], p.key, p.rekey]));
    }
    json!({
        "ops": ops,
        "order": order,
        "doc": serde_json::from_str::<Json>(&doc.canonical_json()).unwrap(),
        "keys": keys,
        "place": placements,
    })
}

#[test]
fn vectors_match_the_committed_file() {
    common::check_vectors(FILE, &compute());
}
