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

criterion_group!(benches, bench_apply, bench_encode);
criterion_main!(benches);
