//! Convergence of the CRDT-lite document under concurrent edits.
//!
//! The property test simulates 2 to 5 replicas. Each one edits its own `Doc` with honest ops
//! (built only from what it currently knows, stamped by its own Lamport clock), applies them at
//! once, and receives everybody else's ops in a random causal order, with duplicates, interleaved
//! with its own edits. Once every op has reached every replica, all replicas must hold
//! byte-equal documents. Further properties check idempotence and that `Doc::apply` is total for
//! arbitrary (garbage) ops. Hand-written tests pin the concurrent cases the design names.
//!
//! Failing seeds are saved in `protocol/proptest-regressions/convergence.txt`; commit that file.
//! `PROPTEST_CASES=N` overrides the case counts.

use std::collections::BTreeMap;

use plenary_protocol::schema::{self, FieldKind, TypeSchema, ROOT, ROOT_TYPE, SCHEMAS};
use plenary_protocol::templates::{self, progress};
use plenary_protocol::workshop::Template;
use plenary_protocol::{fractional, validate, Doc, ErrorCode, Op, OpKind, Stamp, Value};
use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use proptest::sample::Index;

mod common;

/// Cases from `cases`, seeds persisted in `proptest-regressions/convergence.txt`.
fn config(cases: u32) -> ProptestConfig {
    common::config(cases, "proptest-regressions/convergence.txt")
}

// ---------------------------------------------------------------------------------------------
// The replica simulation.
// ---------------------------------------------------------------------------------------------

/// Short strings, few enough that concurrent writers often pick the same one.
const TEXTS: &[&str] = &["", "alpha", "beta", "As a trainer", "naïve ✓"];

/// One step of a run. The numbers are interpreted against the state at that step, so a step
/// stays meaningful when shrinking removes the steps around it.
#[derive(Debug, Clone)]
enum Step {
    /// `replica` makes one op from its local document and applies it.
    Generate {
        replica: Index,
        action: u8,
        a: Index,
        b: Index,
        v: u16,
    },
    /// `replica` receives the next op of one author whose causal dependencies it has.
    Deliver { replica: Index, author: Index },
    /// `replica` receives an op it already applied, again.
    Redeliver { replica: Index, op: Index },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (any::<Index>(), any::<u8>(), any::<Index>(), any::<Index>(), any::<u16>())
            .prop_map(|(replica, action, a, b, v)| Step::Generate { replica, action, a, b, v }),
        4 => (any::<Index>(), any::<Index>())
            .prop_map(|(replica, author)| Step::Deliver { replica, author }),
        1 => (any::<Index>(), any::<Index>())
            .prop_map(|(replica, op)| Step::Redeliver { replica, op }),
    ]
}

/// An op as the network saw it.
struct Logged {
    op: Op,
    author: usize,
    /// The author's vector clock before it made the op: `deps[j]` ops of replica `j` applied.
    /// `deps[author]` is therefore this op's sequence number among the author's own ops.
    deps: Vec<usize>,
    /// Whether the op targets an id that never exists (deliberately invalid).
    ghost: bool,
}

struct Replica {
    name: String,
    doc: Doc,
    /// The Lamport clock: above every stamp this replica made or received.
    clock: u64,
    /// Vector clock: how many ops of each replica this one has applied. Causal delivery makes
    /// the applied ops of each author a prefix of that author's ops.
    seen: Vec<usize>,
    /// Log indices of every op applied here, own ones included.
    applied: Vec<usize>,
    counter: u64,
}

struct Sim {
    replicas: Vec<Replica>,
    log: Vec<Logged>,
    /// Log indices of each replica's own ops, in the order it made them.
    by_author: Vec<Vec<usize>>,
}

/// Siblings under `parent` in document order (position key, then id), without `except`.
/// Walks `objects` directly: a replica also places objects under parents it cannot see.
fn sibling_keys<'d>(doc: &'d Doc, parent: &str, except: Option<&str>) -> Vec<&'d str> {
    let mut sibs: Vec<(&str, &str)> = doc
        .objects
        .iter()
        .filter(|(id, o)| o.parent == parent && Some(id.as_str()) != except)
        .map(|(id, o)| (o.pos.as_str(), id.as_str()))
        .collect();
    sibs.sort();
    sibs.into_iter().map(|(pos, _)| pos).collect()
}

/// A key for slot `slot` among the siblings, as a client computes it. Concurrent inserts can
/// leave two siblings with equal keys; a client then places after the lower one.
fn new_pos(doc: &Doc, parent: &str, except: Option<&str>, slot: Index) -> String {
    let keys = sibling_keys(doc, parent, except);
    let i = slot.index(keys.len() + 1);
    let lo = i.checked_sub(1).map(|j| keys[j]);
    let hi = keys.get(i).copied();
    fractional::between(lo, hi)
        .or_else(|_| fractional::between(lo, None))
        .expect("keys made by between are valid")
}

fn value_for(kind: FieldKind, v: u16) -> Value {
    if v % 7 == 0 {
        return Value::Null;
    }
    let v = usize::from(v);
    match kind {
        FieldKind::Text(max) | FieldKind::Prose(max) => {
            Value::Text(TEXTS[v % TEXTS.len()].chars().take(max).collect())
        }
        // Honest entries stay within the budget: see `honest_tallies`.
        FieldKind::Tally { max, .. } => Value::Int((v as i64).rem_euclid(max + 1)),
        FieldKind::Sealed(_) | FieldKind::Allocation => {
            unreachable!("fields_for leaves sealed fields out")
        }
        FieldKind::Samples => Value::Text(format!("{}, {}", v % 9, v % 13)),
        FieldKind::Int(min, max) => Value::Int(min + (v as i64).rem_euclid(max - min + 1)),
        FieldKind::Bool => Value::Bool(v % 2 == 0),
        FieldKind::Enum(allowed) => Value::Text(allowed[v % allowed.len()].to_owned()),
    }
}

/// `count` fields of `schema` with valid values, all derived from `v`.
/// Sealed fields are left out: seals and reveals are ordered by the server (a seal after a
/// reveal is refused), so they do not commute the way the rest of the model does; the server
/// tests cover them.
fn fields_for(schema: &TypeSchema, count: usize, v: u16) -> BTreeMap<String, Value> {
    let plain: Vec<_> = schema
        .fields
        .iter()
        .filter(|f| !matches!(f.kind, FieldKind::Sealed(_)))
        .collect();
    (0..count)
        .map(|k| {
            let f = plain[(usize::from(v) / 3 + k * 5) % plain.len()];
            (
                f.name.to_owned(),
                value_for(f.kind, v.rotate_left(k as u32 * 5)),
            )
        })
        .collect()
}

/// Lowers `member`'s tally entries in `fields` (for `object` of type `ty`) to what their
/// budget leaves, as an honest client does.
fn honest_tallies(
    doc: &Doc,
    object: &str,
    ty: &str,
    member: &str,
    fields: &mut BTreeMap<String, Value>,
) {
    let schema = schema::schema(ty).expect("honest types are known");
    for (name, value) in fields.iter_mut() {
        let Some(FieldKind::Tally { budget, .. }) = schema.field(name).map(|f| f.kind) else {
            continue;
        };
        let spent = plenary_protocol::validate::spent_elsewhere(doc, object, ty, name, member);
        if let Value::Int(n) = value {
            *n = (*n).min(budget - spent).max(0);
        }
    }
}

/// Root, if `schema` may live there, and every live object of a type `schema` may live under.
fn parent_candidates(doc: &Doc, schema: &TypeSchema, except: Option<&str>) -> Vec<String> {
    let mut out = Vec::new();
    if schema.parents.contains(&ROOT_TYPE) {
        out.push(ROOT.to_owned());
    }
    for (id, o) in &doc.objects {
        if schema.parents.contains(&o.ty.as_str())
            && Some(id.as_str()) != except
            && doc.is_visible(id)
        {
            out.push(id.clone());
        }
    }
    out
}

impl Sim {
    fn new(n: usize) -> Self {
        Sim {
            replicas: (0..n)
                .map(|i| Replica {
                    name: format!("r{i}"),
                    doc: Doc::new(),
                    clock: 0,
                    seen: vec![0; n],
                    applied: Vec::new(),
                    counter: 0,
                })
                .collect(),
            log: Vec::new(),
            by_author: vec![Vec::new(); n],
        }
    }

    /// Replica `r` makes one op from what it knows and applies it at once.
    fn generate(&mut self, r: usize, action: u8, a: Index, b: Index, v: u16) {
        let rep = &mut self.replicas[r];
        rep.counter += 1;
        let fresh_id = format!("{}.o{}", rep.name, rep.counter);
        let doc = &rep.doc;
        // An honest client only edits what it can see: live objects whose ancestors are live.
        let visible: Vec<&String> = doc.objects.keys().filter(|id| doc.is_visible(id)).collect();
        let target = (!visible.is_empty()).then(|| (*a.get(&visible)).clone());
        let honest = match (action % 24, &target) {
            (8..=12, Some(id)) => {
                let ty = &doc.objects[id].ty;
                let schema = schema::schema(ty).expect("honest types are known");
                let mut fields = fields_for(schema, 1 + usize::from(v % 2), v);
                honest_tallies(doc, id, ty, &rep.name, &mut fields);
                Some(OpKind::Set {
                    object: id.clone(),
                    fields,
                })
            }
            (20..=23, Some(id)) => text_edit(doc, id, b, v),
            (13..=15, Some(id)) => {
                let obj = &doc.objects[id];
                let schema = schema::schema(&obj.ty).expect("honest types are known");
                let candidates = parent_candidates(doc, schema, Some(id));
                // Mostly a reorder within the same parent, sometimes a move elsewhere.
                let parent = if v % 3 != 0 && candidates.contains(&obj.parent) {
                    Some(obj.parent.clone())
                } else if candidates.is_empty() {
                    None
                } else {
                    Some(b.get(&candidates).clone())
                };
                parent.map(|parent| OpKind::Move {
                    object: id.clone(),
                    pos: new_pos(doc, &parent, Some(id), b),
                    parent,
                })
            }
            (16..=17, Some(id)) => Some(OpKind::Delete { object: id.clone() }),
            (18..=19, _) => None,
            _ => Some(create(doc, fresh_id.clone(), a, b, v)),
        };
        let ghost = honest.is_none() && (18..=19).contains(&(action % 24));
        let mut kind = honest.unwrap_or_else(|| {
            if ghost {
                ghost_op(format!("ghost.{fresh_id}"), v)
            } else {
                create(doc, fresh_id, a, b, v)
            }
        });
        if let OpKind::Create {
            object, ty, fields, ..
        } = &mut kind
        {
            honest_tallies(doc, object, ty, &rep.name, fields);
        }

        rep.clock += 1;
        let op = Op {
            id: format!("{}.op{}", rep.name, rep.counter),
            stamp: Stamp::new(rep.clock, rep.name.clone()),
            kind,
        };
        match validate(&rep.doc, &op) {
            Ok(()) => assert!(!ghost, "an op on a missing object validated: {op:?}"),
            Err(e) if ghost => assert_eq!(e.code, ErrorCode::UnknownObject, "{op:?}"),
            Err(e) => panic!("an honest op failed validation: {e}: {op:?}"),
        }
        // The stamp is above everything this replica has seen, so an honest op always wins.
        assert_eq!(rep.doc.apply(&op), !ghost, "local apply of {op:?}");

        let deps = rep.seen.clone();
        rep.seen[r] += 1;
        rep.applied.push(self.log.len());
        self.by_author[r].push(self.log.len());
        self.log.push(Logged {
            op,
            author: r,
            deps,
            ghost,
        });
    }

    /// Log indices of the ops `r` may receive now: the next op of each other author, if `r`
    /// already has everything that author had when making it.
    fn deliverable(&self, r: usize) -> Vec<usize> {
        let rep = &self.replicas[r];
        (0..self.replicas.len())
            .filter(|&author| author != r)
            .filter_map(|author| self.by_author[author].get(rep.seen[author]).copied())
            .filter(|&i| {
                let deps = &self.log[i].deps;
                deps.iter().zip(&rep.seen).all(|(need, have)| need <= have)
            })
            .collect()
    }

    fn deliver(&mut self, r: usize, i: usize) {
        let logged = &self.log[i];
        let rep = &mut self.replicas[r];
        debug_assert_eq!(rep.seen[logged.author], logged.deps[logged.author]);
        rep.doc.apply(&logged.op);
        rep.clock = rep.clock.max(logged.op.stamp.clock);
        rep.seen[logged.author] += 1;
        rep.applied.push(i);
    }

    /// Receives an already applied op again: nothing may change, not even much later.
    fn redeliver(&mut self, r: usize, pick: usize) {
        let rep = &mut self.replicas[r];
        if rep.applied.is_empty() {
            return;
        }
        let op = &self.log[rep.applied[pick % rep.applied.len()]].op;
        let before = rep.doc.canonical_json();
        let changed = rep.doc.apply(op);
        assert!(!changed, "re-delivery of {op:?} reported a change");
        assert_eq!(before, rep.doc.canonical_json(), "re-delivery of {op:?}");
    }

    /// Delivers everything still in flight, in a random causal order with duplicates.
    fn flush(&mut self, mut seed: u64) {
        let mut next = move || {
            // xorshift64*: enough randomness to shuffle deliveries, reproducible from the seed.
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        loop {
            let ready: Vec<(usize, usize)> = (0..self.replicas.len())
                .flat_map(|r| self.deliverable(r).into_iter().map(move |i| (r, i)))
                .collect();
            if ready.is_empty() {
                break;
            }
            let (r, i) = ready[(next() % ready.len() as u64) as usize];
            self.deliver(r, i);
            if next() % 4 == 0 {
                let pick = next() as usize;
                self.redeliver((next() % self.replicas.len() as u64) as usize, pick);
            }
        }
        for rep in &self.replicas {
            assert_eq!(rep.applied.len(), self.log.len(), "{} missed ops", rep.name);
        }
    }
}

fn create(doc: &Doc, object: String, a: Index, b: Index, v: u16) -> OpKind {
    let choices: Vec<(&TypeSchema, String)> = SCHEMAS
        .iter()
        .flat_map(|s| {
            parent_candidates(doc, s, None)
                .into_iter()
                .map(move |p| (s, p))
        })
        .collect();
    let (schema, parent) = a.get(&choices);
    OpKind::Create {
        object,
        ty: schema.name.to_owned(),
        pos: new_pos(doc, parent, None, b),
        parent: parent.clone(),
        fields: fields_for(schema, usize::from(v % 3), v),
    }
}

/// An edit of one of `id`'s text fields as a client makes it from a caret position: delete a
/// few characters and type a word there, or one of the two.
fn text_edit(doc: &Doc, id: &str, at: Index, v: u16) -> Option<OpKind> {
    let obj = &doc.objects[id];
    let schema = schema::schema(&obj.ty).expect("honest types are known");
    let prose: Vec<&str> = schema
        .fields
        .iter()
        .filter(|f| matches!(f.kind, FieldKind::Prose(_)))
        .map(|f| f.name)
        .collect();
    if prose.is_empty() {
        return None;
    }
    let field = prose[usize::from(v) % prose.len()];
    let live = obj
        .texts
        .get(field)
        .map(|t| t.live_ids())
        .unwrap_or_default();
    let caret = at.index(live.len() + 1);
    let deletes = if v % 3 == 0 {
        (usize::from(v >> 4) % 4).min(live.len() - caret)
    } else {
        0
    };
    let insert = if v % 5 == 1 && deletes > 0 {
        String::new()
    } else {
        TEXTS[1 + usize::from(v >> 2) % (TEXTS.len() - 1)].to_owned()
    };
    Some(OpKind::Text {
        object: id.to_owned(),
        field: field.to_owned(),
        after: caret.checked_sub(1).map(|i| live[i].to_string()),
        insert,
        delete: live[caret..caret + deletes]
            .iter()
            .map(|c| c.to_string())
            .collect(),
    })
}

fn ghost_op(object: String, v: u16) -> OpKind {
    match v % 3 {
        0 => OpKind::Delete { object },
        1 => OpKind::Set {
            object,
            fields: BTreeMap::from([("title".to_owned(), Value::Text("boo".to_owned()))]),
        },
        _ => OpKind::Move {
            object,
            parent: ROOT.to_owned(),
            pos: "a0".to_owned(),
        },
    }
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn replicas_converge(
        n in 2usize..=5,
        steps in vec(step(), 0..160),
        seed in any::<u64>().prop_map(|s| s | 1),
    ) {
        let mut sim = Sim::new(n);
        for step in steps {
            match step {
                Step::Generate { replica, action, a, b, v } => {
                    sim.generate(replica.index(n), action, a, b, v);
                }
                Step::Deliver { replica, author } => {
                    let r = replica.index(n);
                    let ready = sim.deliverable(r);
                    if !ready.is_empty() {
                        sim.deliver(r, *author.get(&ready));
                    }
                }
                Step::Redeliver { replica, op } => {
                    let r = replica.index(n);
                    sim.redeliver(r, op.index(sim.replicas[r].applied.len().max(1)));
                }
            }
        }
        sim.flush(seed);

        let first = sim.replicas[0].doc.canonical_json();
        for rep in &sim.replicas[1..] {
            prop_assert_eq!(&first, &rep.doc.canonical_json(), "{} vs r0", rep.name);
        }
        // The generation order is itself causal: replaying the log in it gives the same doc.
        let mut reference = Doc::new();
        for logged in &sim.log {
            reference.apply(&logged.op);
        }
        prop_assert_eq!(&first, &reference.canonical_json());
        let max_clock = sim.log.iter().map(|l| l.op.stamp.clock).max().unwrap_or(0);
        prop_assert_eq!(sim.replicas[0].doc.clock, max_clock);
        // Ghost ops never bring an object into being.
        for logged in sim.log.iter().filter(|l| l.ghost) {
            prop_assert!(!reference.objects.contains_key(logged.op.kind.object()));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Arbitrary ops: totality and idempotence.
// ---------------------------------------------------------------------------------------------

/// Ids from a small pool (so ops meet each other), including `root` and the empty string,
/// or arbitrary strings.
fn any_id() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec!["a", "b", "c", "d", "root", "", "tpl.vision.needs"])
            .prop_map(str::to_owned),
        1 => ".{0,12}",
    ]
}

fn any_key() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec!["a0", "a1", "a0V", "Zz", "b00", "a0", ""])
            .prop_map(str::to_owned),
        "[0-9A-Za-z]{0,6}",
        ".{0,8}",
    ]
}

fn any_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::Int),
        prop_oneof![Just("x".to_owned()), ".{0,6}".prop_map(String::from)].prop_map(Value::Text),
    ]
}

fn any_fields() -> impl Strategy<Value = BTreeMap<String, Value>> {
    let name = prop_oneof![
        prop::sample::select(vec!["title", "text", "votes", "met", "status"])
            .prop_map(str::to_owned),
        ".{0,6}",
    ];
    btree_map(name, any_value(), 0..4)
}

fn any_stamp() -> impl Strategy<Value = Stamp> {
    let clock = prop_oneof![0u64..6, any::<u64>()];
    let client = prop::sample::select(vec!["x", "y", "", "server"]).prop_map(str::to_owned);
    (clock, client).prop_map(|(clock, client)| Stamp { clock, client })
}

fn any_op() -> impl Strategy<Value = Op> {
    let ty = prop_oneof![
        prop::sample::select(SCHEMAS.iter().map(|s| s.name).collect::<Vec<_>>())
            .prop_map(str::to_owned),
        ".{0,8}",
    ];
    let kind = prop_oneof![
        (any_id(), ty, any_id(), any_key(), any_fields()).prop_map(
            |(object, ty, parent, pos, fields)| {
                OpKind::Create {
                    object,
                    ty,
                    parent,
                    pos,
                    fields,
                }
            }
        ),
        (any_id(), any_fields()).prop_map(|(object, fields)| OpKind::Set { object, fields }),
        any_id().prop_map(|object| OpKind::Delete { object }),
        (any_id(), any_id(), any_key()).prop_map(|(object, parent, pos)| OpKind::Move {
            object,
            parent,
            pos
        }),
    ];
    (any_id(), any_stamp(), kind).prop_map(|(id, stamp, kind)| Op { id, stamp, kind })
}

/// Ops drawn from tiny pools, so that two of them often hit the same object and field with
/// equal stamps: the case where only the value tie-break keeps replicas in step.
fn colliding_op() -> impl Strategy<Value = Op> {
    let object = || prop::sample::select(vec!["a", "b"]).prop_map(str::to_owned);
    let key = || prop::sample::select(vec!["a0", "a1"]).prop_map(str::to_owned);
    let ty = prop::sample::select(vec!["backlog_item", "feedback"]).prop_map(str::to_owned);
    let value = prop::sample::select(vec![
        Value::Null,
        Value::Int(1),
        Value::Text("x".into()),
        Value::Text("y".into()),
    ]);
    let fields = btree_map(
        prop::sample::select(vec!["title", "tag"]).prop_map(str::to_owned),
        value,
        1..3,
    );
    let stamp = prop::sample::select(vec![(1, "x"), (1, "y"), (2, "x")])
        .prop_map(|(clock, client)| Stamp::new(clock, client));
    let kind = prop_oneof![
        (object(), ty, object(), key(), fields.clone()).prop_map(
            |(object, ty, parent, pos, fields)| OpKind::Create {
                object,
                ty,
                parent,
                pos,
                fields
            }
        ),
        (object(), fields).prop_map(|(object, fields)| OpKind::Set { object, fields }),
        object().prop_map(|object| OpKind::Delete { object }),
        (object(), object(), key()).prop_map(|(object, parent, pos)| OpKind::Move {
            object,
            parent,
            pos
        }),
    ];
    (stamp, kind).prop_map(|(stamp, kind)| Op {
        id: "op".into(),
        stamp,
        kind,
    })
}

/// Every read of a document, none of which may panic; checks that `tree` agrees with
/// `children` and `is_visible`.
fn read_everything(doc: &Doc) {
    let tree = doc.tree();
    for (id, _) in doc.objects.iter() {
        let in_tree = tree
            .values()
            .flatten()
            .any(|(child, _)| *child == id.as_str());
        assert_eq!(
            doc.is_visible(id),
            in_tree,
            "visibility of {id:?} in {doc:?}"
        );
    }
    for parent in doc
        .objects
        .keys()
        .map(String::as_str)
        .chain([ROOT, "nowhere"])
    {
        let listed: Vec<&str> = doc.children(parent).iter().map(|(id, _)| *id).collect();
        let treed: Vec<&str> = tree
            .get(parent)
            .map(|l| l.iter().map(|(id, _)| *id).collect())
            .unwrap_or_default();
        assert_eq!(listed, treed, "children of {parent:?} in {doc:?}");
    }
    let _ = progress(doc);
    for template in [
        Template::VisionBoard,
        Template::Backlog,
        Template::Experiment,
    ] {
        let _ = templates::seed_ops(doc, template);
    }
    let back: Doc = serde_json::from_str(&doc.canonical_json()).expect("a doc round-trips");
    assert_eq!(&back, doc);
}

proptest! {
    #![proptest_config(config(256))]

    /// Applying an op a second time in a row changes nothing and says so.
    #[test]
    fn apply_is_idempotent(ops in vec(any_op(), 0..24), last in any_op()) {
        let mut doc = Doc::new();
        for op in &ops {
            doc.apply(op);
        }
        doc.apply(&last);
        let once = doc.canonical_json();
        prop_assert!(!doc.apply(&last), "second apply reported a change");
        prop_assert_eq!(once, doc.canonical_json());
    }

    /// `apply` is total: arbitrary decoded ops never panic it, nor any read afterwards.
    #[test]
    fn apply_never_panics(ops in vec(any_op(), 0..32)) {
        let mut doc = Doc::new();
        for op in &ops {
            let decoded: Op = serde_json::from_str(&serde_json::to_string(op).unwrap()).unwrap();
            prop_assert_eq!(&decoded, op);
            let _ = validate(&doc, &decoded);
            doc.apply(&decoded);
        }
        read_everything(&doc);
    }

    /// Two concurrent ops give byte-equal documents in either order, even with equal stamps.
    /// Excluded: a create and a non-create of an object the base lacks. Honest replicas never
    /// see those concurrently: the other op was made by someone who had the create.
    #[test]
    fn concurrent_ops_commute(
        base in vec(colliding_op(), 0..8),
        x in colliding_op(),
        y in colliding_op(),
    ) {
        let doc = base_with_any(&base);
        let causal = |p: &Op, q: &Op| {
            let o = p.kind.object();
            matches!(p.kind, OpKind::Create { .. })
                && !matches!(q.kind, OpKind::Create { .. })
                && o == q.kind.object()
                && !doc.objects.contains_key(o)
                && !doc.tombstones.contains(o)
        };
        prop_assume!(!causal(&x, &y) && !causal(&y, &x));
        both_orders(&doc, &x, &y);
    }
}

fn base_with_any(ops: &[Op]) -> Doc {
    let mut doc = Doc::new();
    for op in ops {
        doc.apply(op);
    }
    doc
}

// ---------------------------------------------------------------------------------------------
// Hand-written concurrent scenarios.
// ---------------------------------------------------------------------------------------------

fn op(id: &str, clock: u64, client: &str, kind: OpKind) -> Op {
    Op {
        id: id.to_owned(),
        stamp: Stamp::new(clock, client),
        kind,
    }
}

fn create_op(clock: u64, client: &str, object: &str, ty: &str, parent: &str, pos: &str) -> Op {
    op(
        &format!("c.{object}"),
        clock,
        client,
        OpKind::Create {
            object: object.to_owned(),
            ty: ty.to_owned(),
            parent: parent.to_owned(),
            pos: pos.to_owned(),
            fields: BTreeMap::new(),
        },
    )
}

/// Applies two concurrent ops to `base` in both orders, asserts byte-equal results, and
/// returns one of them.
fn both_orders(base: &Doc, x: &Op, y: &Op) -> Doc {
    let mut xy = base.clone();
    xy.apply(x);
    xy.apply(y);
    let mut yx = base.clone();
    yx.apply(y);
    yx.apply(x);
    assert_eq!(xy.canonical_json(), yx.canonical_json(), "{x:?} vs {y:?}");
    xy
}

fn base_with(ops: &[Op]) -> Doc {
    let mut doc = Doc::new();
    for op in ops {
        assert!(doc.apply(op), "{op:?}");
    }
    doc
}

#[test]
fn concurrent_set_and_delete_tombstone_wins() {
    let base = base_with(&[create_op(1, "alice", "item", "backlog_item", ROOT, "a0")]);
    let delete = op(
        "d",
        2,
        "alice",
        OpKind::Delete {
            object: "item".into(),
        },
    );
    // A set with an older, an equal and a newer clock: the tombstone wins every time.
    for clock in [2, 3, 99] {
        let set = op(
            "s",
            clock,
            "bob",
            OpKind::Set {
                object: "item".into(),
                fields: BTreeMap::from([("title".into(), Value::Text("mine".into()))]),
            },
        );
        let doc = both_orders(&base, &set, &delete);
        assert!(!doc.objects.contains_key("item"));
        assert!(doc.tombstones.contains("item"));
        assert!(doc.children(ROOT).is_empty());
    }
}

#[test]
fn concurrent_moves_pick_the_same_winner() {
    let base = base_with(&[
        create_op(1, "alice", "item", "backlog_item", ROOT, "a0"),
        create_op(2, "alice", "other", "backlog_item", ROOT, "a1"),
    ]);
    let mv = |clock, client: &str, pos: &str| {
        op(
            &format!("m.{client}"),
            clock,
            client,
            OpKind::Move {
                object: "item".into(),
                parent: ROOT.into(),
                pos: pos.into(),
            },
        )
    };
    // Equal clocks: the greater client id wins.
    let doc = both_orders(&base, &mv(3, "alice", "a5"), &mv(3, "bob", "a0V"));
    assert_eq!(doc.objects["item"].pos, "a0V");
    assert_eq!(doc.objects["item"].placed, Stamp::new(3, "bob"));
    // A greater clock beats a greater client id.
    let doc = both_orders(&base, &mv(4, "alice", "a5"), &mv(3, "bob", "a0V"));
    assert_eq!(doc.objects["item"].pos, "a5");
    let order: Vec<&str> = doc.children(ROOT).iter().map(|(id, _)| *id).collect();
    assert_eq!(order, ["other", "item"]);
}

#[test]
fn concurrent_inserts_with_equal_keys_order_by_id() {
    let base = base_with(&[create_op(1, "alice", "first", "backlog_item", ROOT, "a0")]);
    // Both clients append after the same last item and compute the same key.
    let key = fractional::between(Some("a0"), None).unwrap();
    let from_bob = create_op(2, "bob", "b.item", "backlog_item", ROOT, &key);
    let from_alice = create_op(2, "alice", "a.item", "backlog_item", ROOT, &key);
    let doc = both_orders(&base, &from_bob, &from_alice);
    let order: Vec<&str> = doc.children(ROOT).iter().map(|(id, _)| *id).collect();
    assert_eq!(order, ["first", "a.item", "b.item"]);
}

#[test]
fn child_created_under_concurrently_deleted_parent_is_invisible() {
    let base = base_with(&[create_op(
        1,
        "alice",
        "section",
        "vision_section",
        ROOT,
        "a0",
    )]);
    let delete = op(
        "d",
        2,
        "alice",
        OpKind::Delete {
            object: "section".into(),
        },
    );
    let note = create_op(2, "bob", "note", "vision_note", "section", "a0");
    let doc = both_orders(&base, &delete, &note);
    assert!(!doc.is_visible("note"));
    assert!(!doc.is_visible("section"));
    assert!(doc.children("section").is_empty());
    assert!(doc.children(ROOT).is_empty());
    assert!(doc.tree().values().flatten().all(|(id, _)| *id != "note"));
    assert_eq!(progress(&doc).vision_sections_filled, 0);
}

#[test]
fn late_duplicate_create_does_not_resurrect() {
    let create = create_op(1, "alice", "item", "backlog_item", ROOT, "a0");
    let mut doc = base_with(std::slice::from_ref(&create));
    assert!(doc.apply(&op(
        "d",
        2,
        "bob",
        OpKind::Delete {
            object: "item".into()
        }
    )));
    let before = doc.canonical_json();
    assert!(!doc.apply(&create));
    assert_eq!(before, doc.canonical_json());
    assert!(!doc.is_visible("item"));
}
