//! The mergeable-text choice, measured: Plenary's own RGA (`plenary_protocol::text`) against yrs
//! (the Rust port of Yjs, wire-compatible with it), on the same editing session.
//!
//! Three members write a 10,000-character text together: bursts of 1-8 characters (what an 80 ms
//! flush carries while typing) at the caret, the caret jumping now and then, and one edit in ten
//! deleting 1-3 characters. Both models get the same edits. Reported:
//! * wire bytes per typed character: each edit as the room's `op` frame (for yrs, the update
//!   base64-encoded inside the same JSON envelope, since the protocol is JSON text frames);
//! * memory: heap bytes held by the document after the session (a counting allocator);
//! * snapshot bytes: the document as stored and sent to a joining client;
//! * apply: time to apply the whole session's ops to a fresh replica (median of 5).
//!
//! Run: `cargo bench -p plenary-tests --bench text_model`

use std::collections::BTreeMap;
use std::time::Instant;

use base64::Engine;
use plenary_protocol::schema::ROOT;
use plenary_protocol::{Doc, Op, OpKind, ServerMsg, Stamp, Value};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};
use yrs::updates::decoder::Decode;
use yrs::{GetString, ReadTxn, StateVector, Text, Transact, Update};

#[global_allocator]
static GLOBAL: &StatsAlloc<std::alloc::System> = &INSTRUMENTED_SYSTEM;

const TARGET_CHARS: usize = 10_000;
const MEMBERS: [&str; 3] = ["p-ann0000000", "p-bob0000000", "p-cyd0000000"];

/// One edit at a live-character offset: delete `delete` characters there, then insert `insert`.
struct Edit {
    member: usize,
    at: usize,
    delete: usize,
    insert: String,
}

fn session(seed: u64) -> Vec<Edit> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut len = 0usize;
    let mut carets = [0usize; 3];
    let mut edits = Vec::new();
    while len + 8 < TARGET_CHARS {
        let member = rng.random_range(0..MEMBERS.len());
        if rng.random_bool(0.05) {
            carets[member] = rng.random_range(0..=len);
        }
        let at = carets[member].min(len);
        if rng.random_bool(0.1) && at >= 3 {
            let n = rng.random_range(1..=3);
            edits.push(Edit {
                member,
                at: at - n,
                delete: n,
                insert: String::new(),
            });
            len -= n;
            carets[member] = at - n;
        } else {
            let n = rng.random_range(1..=8);
            let insert: String = (0..n)
                .map(|_| char::from(b"abcdefghijklmnopqrstuvwxyz  ."[rng.random_range(0..29)]))
                .collect();
            edits.push(Edit {
                member,
                at,
                delete: 0,
                insert,
            });
            len += n;
            carets[member] = at + n;
        }
    }
    edits
}

fn frame(seq: u64, op: &Op) -> String {
    ServerMsg::op_frame("room-1", seq, &serde_json::to_string(op).unwrap())
}

/// The session as Plenary ops on a document, and the frames they make.
fn plenary(edits: &[Edit]) -> (Doc, Vec<Op>, usize) {
    let mut doc = Doc::new();
    let create = Op {
        id: "c".into(),
        stamp: Stamp::new(1, "server"),
        kind: OpKind::Create {
            object: "sec".into(),
            ty: "vision_section".into(),
            parent: ROOT.into(),
            pos: "a0".into(),
            fields: BTreeMap::from([("section".into(), Value::Text("vision".into()))]),
        },
    };
    doc.apply(&create);
    let note = Op {
        id: "n".into(),
        stamp: Stamp::new(2, "server"),
        kind: OpKind::Create {
            object: "note".into(),
            ty: "vision_note".into(),
            parent: "sec".into(),
            pos: "a0".into(),
            fields: BTreeMap::new(),
        },
    };
    doc.apply(&note);
    let mut ops = Vec::new();
    let mut bytes = 0;
    for (i, e) in edits.iter().enumerate() {
        let live = doc.objects["note"]
            .texts
            .get("text")
            .map(|t| t.live_ids())
            .unwrap_or_default();
        let op = Op {
            id: format!("{}:s:{i}", MEMBERS[e.member]),
            stamp: Stamp::new(doc.clock + 1, MEMBERS[e.member]),
            kind: OpKind::Text {
                object: "note".into(),
                field: "text".into(),
                after: e.at.checked_sub(1).map(|j| live[j].to_string()),
                insert: e.insert.clone(),
                delete: live[e.at..e.at + e.delete]
                    .iter()
                    .map(ToString::to_string)
                    .collect(),
            },
        };
        plenary_protocol::validate(&doc, &op).expect("a valid edit");
        doc.apply(&op);
        bytes += frame(i as u64 + 3, &op).len();
        ops.push(op);
    }
    (doc, ops, bytes)
}

/// The same session in yrs: one document per member, each edit made on its author's document and
/// sent as an update to the others.
fn yjs(edits: &[Edit]) -> (yrs::Doc, Vec<Vec<u8>>, usize) {
    let docs: Vec<yrs::Doc> = (0..MEMBERS.len())
        .map(|i| yrs::Doc::with_client_id(i as u64 + 1))
        .collect();
    let texts: Vec<yrs::TextRef> = docs.iter().map(|d| d.get_or_insert_text("text")).collect();
    let mut updates = Vec::new();
    let mut bytes = 0;
    for (i, e) in edits.iter().enumerate() {
        let update = {
            let mut txn = docs[e.member].transact_mut();
            if e.delete > 0 {
                texts[e.member].remove_range(&mut txn, e.at as u32, e.delete as u32);
            }
            if !e.insert.is_empty() {
                texts[e.member].insert(&mut txn, e.at as u32, &e.insert);
            }
            txn.encode_update_v1()
        };
        for (j, d) in docs.iter().enumerate() {
            if j != e.member {
                d.transact_mut()
                    .apply_update(Update::decode_v1(&update).unwrap())
                    .unwrap();
            }
        }
        // The update inside the room's JSON envelope, as it would travel and be stored.
        let op = serde_json::json!({
            "id": format!("{}:s:{i}", MEMBERS[e.member]),
            "stamp": { "clock": i + 3, "client": MEMBERS[e.member] },
            "action": "ytext",
            "object": "note",
            "field": "text",
            "update": base64::engine::general_purpose::STANDARD.encode(&update),
        });
        bytes += frame_json(i as u64 + 3, &op).len();
        updates.push(update);
    }
    let first = docs.into_iter().next().unwrap();
    (first, updates, bytes)
}

fn frame_json(seq: u64, op: &serde_json::Value) -> String {
    ServerMsg::op_frame("room-1", seq, &op.to_string())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    let edits = session(7);
    let typed: usize = edits.iter().map(|e| e.insert.chars().count()).sum();
    let deleted: usize = edits.iter().map(|e| e.delete).sum();
    println!(
        "session: {} edits, {typed} characters typed, {deleted} deleted",
        edits.len()
    );

    let (doc, ops, ours_bytes) = plenary(&edits);
    let (ydoc, updates, y_bytes) = yjs(&edits);
    let ours_text = doc.objects["note"].texts["text"].render();
    let y_text = ydoc.get_or_insert_text("text").get_string(&ydoc.transact());
    assert_eq!(ours_text, y_text, "both models end with the same text");

    // Memory: build each document again from its ops inside a measured region. The replica's
    // note sits at the top level (no section): the text is what is measured.
    let setup = Op {
        id: "c".into(),
        stamp: Stamp::new(1, "server"),
        kind: OpKind::Create {
            object: "note".into(),
            ty: "vision_note".into(),
            parent: ROOT.into(),
            pos: "a0".into(),
            fields: BTreeMap::new(),
        },
    };
    let region = Region::new(GLOBAL);
    let mut replica = Doc::new();
    replica.apply(&setup);
    for op in &ops {
        replica.apply(op);
    }
    let stats = region.change();
    let ours_heap = stats.bytes_allocated as i64 - stats.bytes_deallocated as i64;
    assert_eq!(replica.objects["note"].texts["text"].render(), ours_text);

    let region = Region::new(GLOBAL);
    let yreplica = yrs::Doc::with_client_id(99);
    let ytext = yreplica.get_or_insert_text("text");
    for u in &updates {
        yreplica
            .transact_mut()
            .apply_update(Update::decode_v1(u).unwrap())
            .unwrap();
    }
    let stats = region.change();
    let y_heap = stats.bytes_allocated as i64 - stats.bytes_deallocated as i64;
    assert_eq!(ytext.get_string(&yreplica.transact()), ours_text);

    let ours_snapshot = replica.canonical_json().len();
    let y_state = yreplica
        .transact()
        .encode_state_as_update_v1(&StateVector::default());
    let y_snapshot = base64::engine::general_purpose::STANDARD
        .encode(&y_state)
        .len();

    let mut ours_times = Vec::new();
    let mut y_times = Vec::new();
    for _ in 0..5 {
        let start = Instant::now();
        let mut d = Doc::new();
        d.apply(&setup);
        for op in &ops {
            d.apply(op);
        }
        ours_times.push(start.elapsed().as_secs_f64() * 1e3);
        let start = Instant::now();
        let y = yrs::Doc::with_client_id(98);
        let _t = y.get_or_insert_text("text");
        for u in &updates {
            y.transact_mut()
                .apply_update(Update::decode_v1(u).unwrap())
                .unwrap();
        }
        y_times.push(start.elapsed().as_secs_f64() * 1e3);
    }

    // One typed character as its own op (slow typing: one character per 80 ms flush).
    let single = {
        let mut d = replica.clone();
        let live = d.objects["note"].texts["text"].live_ids();
        let op = Op {
            id: "p-ann0000000:s:99999".into(),
            stamp: Stamp::new(d.clock + 1, MEMBERS[0]),
            kind: OpKind::Text {
                object: "note".into(),
                field: "text".into(),
                after: Some(live[live.len() / 2].to_string()),
                insert: "x".into(),
                delete: vec![],
            },
        };
        d.apply(&op);
        frame(99_999, &op).len()
    };

    let chars = ours_text.chars().count();
    println!("| measure | Plenary RGA | yrs (Yjs) |");
    println!("|---|---|---|");
    println!(
        "| wire bytes per typed character, whole session (JSON `op` frames) | {:.1} | {:.1} |",
        ours_bytes as f64 / typed as f64,
        y_bytes as f64 / typed as f64
    );
    println!("| wire bytes of a one-character op | {single} | — |");
    println!(
        "| heap bytes of the document ({chars} characters live, {} written) | {} ({:.1} per character written) | {} ({:.1}) |",
        typed,
        ours_heap,
        ours_heap as f64 / typed as f64,
        y_heap,
        y_heap as f64 / typed as f64
    );
    println!("| snapshot bytes | {ours_snapshot} | {y_snapshot} (base64) |");
    println!(
        "| apply the session's {} ops to a fresh replica, median of 5 | {:.1} ms ({:.2} µs/op) | {:.1} ms ({:.2} µs/op) |",
        ops.len(),
        median(ours_times.clone()),
        median(ours_times) * 1e3 / ops.len() as f64,
        median(y_times.clone()),
        median(y_times) * 1e3 / updates.len() as f64
    );
}
