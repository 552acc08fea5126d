//! The per-op costs a room pays: apply, validate + apply, and encoding the broadcast frame.
//!
//! Run: `cargo bench -p plenary-protocol --bench apply -- --quick`

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use plenary_protocol::schema::ROOT;
use plenary_protocol::{fractional, validate, Doc, Op, OpKind, ServerMsg, Stamp, Value};

/// Objects in the benchmark document: a busy team's room.
const OBJECTS: usize = 1_000;
/// Ops per measured batch.
const BATCH: usize = 1_000;

/// A room with `OBJECTS` backlog items, each with a few fields set.
fn room() -> Doc {
    let mut doc = Doc::new();
    let mut pos: Option<String> = None;
    for i in 0..OBJECTS {
        let key = fractional::between(pos.as_deref(), None).unwrap();
        doc.apply(&Op {
            id: format!("seed-{i}"),
            stamp: Stamp::new(i as u64 + 1, "seed"),
            kind: OpKind::Create {
                object: format!("item-{i:04}"),
                ty: "backlog_item".into(),
                parent: ROOT.into(),
                pos: key.clone(),
                fields: BTreeMap::from([
                    ("title".into(), Value::Text(format!("Story {i}"))),
                    ("status".into(), Value::Text("new".into())),
                    ("value".into(), Value::Int(i as i64)),
                ]),
            },
        });
        pos = Some(key);
    }
    doc
}

/// `BATCH` set ops spread over the objects, each stamped above the document so that it wins.
fn set_ops(doc: &Doc) -> Vec<Op> {
    (0..BATCH)
        .map(|i| Op {
            id: format!("bench-{i}"),
            stamp: Stamp::new(doc.clock + 1 + i as u64, "client-7"),
            kind: OpKind::Set {
                object: format!("item-{:04}", (i * 7) % OBJECTS),
                fields: BTreeMap::from([
                    ("title".into(), Value::Text(format!("Edited story {i}"))),
                    ("estimate".into(), Value::Text("5".into())),
                ]),
            },
        })
        .collect()
}

fn bench_apply(c: &mut Criterion) {
    let doc = room();
    let ops = set_ops(&doc);
    let mut group = c.benchmark_group("doc");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Elements(BATCH as u64));

    // Each batch starts from a fresh copy so that every op wins its fields; the copy is setup,
    // not measured.
    group.bench_function("apply_set_1000_objects", |b| {
        b.iter_batched_ref(
            || doc.clone(),
            |doc| {
                for op in &ops {
                    black_box(doc.apply(op));
                }
            },
            BatchSize::LargeInput,
        );
    });

    group.bench_function("validate_and_apply_set_1000_objects", |b| {
        b.iter_batched_ref(
            || doc.clone(),
            |doc| {
                for op in &ops {
                    validate(doc, op).unwrap();
                    black_box(doc.apply(op));
                }
            },
            BatchSize::LargeInput,
        );
    });
    group.finish();
}

fn bench_encode(c: &mut Criterion) {
    let doc = room();
    let op = set_ops(&doc).swap_remove(0);
    let msg = ServerMsg::Op {
        room: "breakout-3".into(),
        seq: 12_345,
        op,
    };
    let mut group = c.benchmark_group("wire");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Elements(1));
    group.bench_function("encode_broadcast_op", |b| {
        b.iter(|| black_box(&msg).to_json());
    });
    let ServerMsg::Op { op, .. } = &msg else {
        unreachable!()
    };
    let incoming = plenary_protocol::ClientMsg::Op {
        room: "breakout-3".into(),
        op: op.clone(),
    };
    let text = serde_json::to_string(&incoming).unwrap();
    group.bench_function("decode_client_op", |b| {
        b.iter(|| plenary_protocol::decode_client(black_box(&text)).unwrap());
    });
    group.finish();
}

/// A note whose text was typed by three members in bursts of 5 to just under 10,000 characters
/// (the field's limit, so that one more character still validates).
fn typed_note() -> Doc {
    let mut doc = Doc::new();
    doc.apply(&Op {
        id: "n".into(),
        stamp: Stamp::new(1, "seed"),
        kind: OpKind::Create {
            object: "note".into(),
            ty: "vision_note".into(),
            parent: ROOT.into(),
            pos: "a0".into(),
            fields: BTreeMap::new(),
        },
    });
    let members = ["p-a", "p-b", "p-c"];
    let mut caret = 0usize;
    let mut i = 0u64;
    while doc.objects["note"]
        .get("text")
        .and_then(Value::as_text)
        .map_or(0, |t| t.chars().count())
        < 9_990
    {
        let live = doc.objects["note"]
            .texts
            .get("text")
            .map(|t| t.live_ids())
            .unwrap_or_default();
        // A member jumps elsewhere every 40 bursts; bursts of 5 characters.
        if i % 40 == 0 {
            caret = (i as usize * 7919) % (live.len() + 1);
        }
        caret = caret.min(live.len());
        doc.apply(&text_op(
            &doc,
            members[(i % 3) as usize],
            caret.checked_sub(1).map(|j| live[j].to_string()),
            "typed",
        ));
        caret += 5;
        i += 1;
    }
    doc
}

fn text_op(doc: &Doc, who: &str, after: Option<String>, insert: &str) -> Op {
    Op {
        id: format!("{who}-{}", doc.clock + 1),
        stamp: Stamp::new(doc.clock + 1, who),
        kind: OpKind::Text {
            object: "note".into(),
            field: "text".into(),
            after,
            insert: insert.into(),
            delete: vec![],
        },
    }
}

fn bench_text(c: &mut Criterion) {
    let doc = typed_note();
    let live = doc.objects["note"].texts["text"].live_ids();
    // One character typed after the middle character: the common case while typing.
    let middle = text_op(&doc, "p-d", Some(live[live.len() / 2].to_string()), "x");
    let at_end = text_op(&doc, "p-d", Some(live[live.len() - 1].to_string()), "x");
    let mut group = c.benchmark_group("text_10k");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Elements(1));
    for (name, op) in [("apply_char_middle", &middle), ("apply_char_end", &at_end)] {
        group.bench_function(name, |b| {
            b.iter_batched_ref(
                || doc.clone(),
                |doc| black_box(doc.apply(op)),
                BatchSize::LargeInput,
            );
        });
    }
    group.bench_function("validate_char_middle", |b| {
        b.iter(|| validate(black_box(&doc), black_box(&middle)).unwrap());
    });
    group.finish();

    // Tally: a member's vote on a topic among 100 (validation sums the member's dots).
    let mut board = Doc::new();
    for t in 0..100 {
        board.apply(&Op {
            id: format!("t{t}"),
            stamp: Stamp::new(t + 1, "seed"),
            kind: OpKind::Create {
                object: format!("topic-{t}"),
                ty: "lean_coffee_topic".into(),
                parent: ROOT.into(),
                pos: "a0".into(),
                fields: BTreeMap::from([("title".into(), Value::Text(format!("Topic {t}")))]),
            },
        });
    }
    let vote = Op {
        id: "v".into(),
        stamp: Stamp::new(board.clock + 1, "p-a"),
        kind: OpKind::Set {
            object: "topic-50".into(),
            fields: BTreeMap::from([("votes".into(), Value::Int(1))]),
        },
    };
    let mut group = c.benchmark_group("tally_100_topics");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Elements(1));
    group.bench_function("validate_and_apply_vote", |b| {
        b.iter_batched_ref(
            || board.clone(),
            |board| {
                validate(board, &vote).unwrap();
                black_box(board.apply(&vote))
            },
            BatchSize::LargeInput,
        );
    });
    group.finish();
}

criterion_group!(benches, bench_apply, bench_encode, bench_text);
criterion_main!(benches);
