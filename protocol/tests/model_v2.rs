//! Document model v2: mergeable text, tallies, tie-free keys, and the conversion of version 1
//! documents.
//!
//! * Text: 3 to 5 replicas type into one shared note (insert a word at a caret, delete a few
//!   characters, or both), apply their own ops at once and receive the others' in a random
//!   causal order. At the end every replica holds the same document, every inserted character
//!   is still there unless someone deleted it, and each typed word is still contiguous.
//! * Tallies: N members vote on one topic at the same instant; in any delivery order the total
//!   is exactly N.
//! * Keys: members inserting into one gap at the same instant never generate equal keys, and
//!   placing between equal keys puts the item where it was placed.
//!
//! Failing seeds are saved in `protocol/proptest-regressions/model_v2.txt`; commit that file.

use std::collections::{BTreeMap, BTreeSet};

use plenary_protocol::fractional::{self, client_suffix};
use plenary_protocol::schema::{LEAN_COFFEE_DOTS, ROOT};
use plenary_protocol::{validate, CharId, Doc, ErrorCode, Op, OpKind, Stamp, Value};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;

mod common;

fn config(cases: u32) -> ProptestConfig {
    common::config(cases, "proptest-regressions/model_v2.txt")
}

const WORDS: &[&str] = &["alpha", "beta", "naïve ✓", "x", "Given a trainer", "🙂ok"];

fn op(id: &str, clock: u64, client: &str, kind: OpKind) -> Op {
    Op {
        id: id.to_owned(),
        stamp: Stamp::new(clock, client),
        kind,
    }
}

/// A document with a vision section and one note in it, as every replica starts.
fn base() -> Doc {
    let mut doc = Doc::new();
    for o in [
        op(
            "s",
            1,
            "server",
            OpKind::Create {
                object: "sec".into(),
                ty: "vision_section".into(),
                parent: ROOT.into(),
                pos: "a0".into(),
                fields: BTreeMap::from([("section".into(), Value::Text("vision".into()))]),
            },
        ),
        op(
            "n",
            2,
            "server",
            OpKind::Create {
                object: "note".into(),
                ty: "vision_note".into(),
                parent: "sec".into(),
                pos: "a0".into(),
                fields: BTreeMap::from([("text".into(), Value::Text("start".into()))]),
            },
        ),
    ] {
        validate(&doc, &o).unwrap();
        doc.apply(&o);
    }
    doc
}

#[derive(Debug, Clone)]
enum Step {
    Type {
        replica: Index,
        caret: Index,
        word: Index,
        deletes: u8,
    },
    Deliver {
        replica: Index,
        author: Index,
    },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (any::<Index>(), any::<Index>(), any::<Index>(), 0u8..6).prop_map(
            |(replica, caret, word, deletes)| Step::Type {
                replica,
                caret,
                word,
                deletes
            }
        ),
        (any::<Index>(), any::<Index>())
            .prop_map(|(replica, author)| Step::Deliver { replica, author }),
    ]
}

struct Logged {
    op: Op,
    author: usize,
    deps: Vec<usize>,
}

struct Replica {
    name: String,
    doc: Doc,
    clock: u64,
    seen: Vec<usize>,
}

struct Sim {
    replicas: Vec<Replica>,
    log: Vec<Logged>,
    by_author: Vec<Vec<usize>>,
}

impl Sim {
    fn new(n: usize) -> Sim {
        let doc = base();
        Sim {
            replicas: (0..n)
                .map(|i| Replica {
                    name: format!("p-r{i}"),
                    clock: doc.clock,
                    doc: doc.clone(),
                    seen: vec![0; n],
                })
                .collect(),
            log: Vec::new(),
            by_author: vec![Vec::new(); n],
        }
    }

    /// A member types: deletes up to `deletes` characters at the caret and types a word there.
    fn type_at(&mut self, r: usize, caret: Index, word: Index, deletes: u8) {
        let rep = &mut self.replicas[r];
        let live = rep.doc.objects["note"].texts["text"].live_ids();
        let at = caret.index(live.len() + 1);
        let n = usize::from(deletes).min(live.len() - at);
        let insert = if deletes == 5 && n > 0 {
            String::new()
        } else {
            (*word.get(WORDS)).to_owned()
        };
        rep.clock += 1;
        let o = op(
            &format!("{}-{}", rep.name, rep.clock),
            rep.clock,
            &rep.name,
            OpKind::Text {
                object: "note".into(),
                field: "text".into(),
                after: at.checked_sub(1).map(|i| live[i].to_string()),
                insert,
                delete: live[at..at + n].iter().map(ToString::to_string).collect(),
            },
        );
        if let Err(e) = validate(&rep.doc, &o) {
            panic!("an honest text op failed validation: {e}: {o:?}");
        }
        assert!(rep.doc.apply(&o), "a local text op changed nothing: {o:?}");
        let deps = rep.seen.clone();
        rep.seen[r] += 1;
        self.by_author[r].push(self.log.len());
        self.log.push(Logged {
            op: o,
            author: r,
            deps,
        });
    }

    fn deliverable(&self, r: usize) -> Vec<usize> {
        let rep = &self.replicas[r];
        (0..self.replicas.len())
            .filter(|&a| a != r)
            .filter_map(|a| self.by_author[a].get(rep.seen[a]).copied())
            .filter(|&i| self.log[i].deps.iter().zip(&rep.seen).all(|(n, h)| n <= h))
            .collect()
    }

    fn deliver(&mut self, r: usize, i: usize) {
        let logged = &self.log[i];
        let rep = &mut self.replicas[r];
        rep.doc.apply(&logged.op);
        rep.clock = rep.clock.max(logged.op.stamp.clock);
        rep.seen[logged.author] += 1;
    }
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn concurrent_typing_converges_and_keeps_every_insert(
        n in 3usize..=5,
        steps in vec(step(), 1..120),
        seed in any::<u64>(),
    ) {
        let mut sim = Sim::new(n);
        for s in steps {
            match s {
                Step::Type { replica, caret, word, deletes } => {
                    sim.type_at(replica.index(n), caret, word, deletes);
                }
                Step::Deliver { replica, author } => {
                    let r = replica.index(n);
                    let ready = sim.deliverable(r);
                    if !ready.is_empty() {
                        sim.deliver(r, *author.get(&ready));
                    }
                }
            }
        }
        // Everything still in flight, in a random causal order.
        let mut x = seed | 1;
        loop {
            let ready: Vec<(usize, usize)> = (0..n)
                .flat_map(|r| sim.deliverable(r).into_iter().map(move |i| (r, i)))
                .collect();
            if ready.is_empty() {
                break;
            }
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let (r, i) = ready[(x % ready.len() as u64) as usize];
            sim.deliver(r, i);
        }
        let first = sim.replicas[0].doc.canonical_json();
        for rep in &sim.replicas[1..] {
            prop_assert_eq!(&first, &rep.doc.canonical_json(), "{} vs r0", &rep.name);
        }
        let text = &sim.replicas[0].doc.objects["note"].texts["text"];
        let live: Vec<CharId> = text.live_ids();
        let live_set: BTreeSet<&CharId> = live.iter().collect();
        let deleted: BTreeSet<CharId> = sim
            .log
            .iter()
            .flat_map(|l| match &l.op.kind {
                OpKind::Text { delete, .. } => delete.clone(),
                _ => Vec::new(),
            })
            .map(|d| CharId::parse(&d).unwrap())
            .collect();
        let rendered = text.render();
        prop_assert_eq!(
            sim.replicas[0].doc.objects["note"].get("text").and_then(Value::as_text).unwrap_or(""),
            rendered.as_str()
        );
        for l in &sim.log {
            let OpKind::Text { insert, .. } = &l.op.kind else { continue };
            let ids: Vec<CharId> = (0..insert.chars().count() as u32)
                .map(|index| CharId { clock: l.op.stamp.clock, client: l.op.stamp.client.clone(), index })
                .collect();
            for id in &ids {
                prop_assert!(
                    live_set.contains(id) != deleted.contains(id),
                    "character {} of {:?} is neither live nor deleted by an op", id, insert
                );
            }
            // A word typed in one op is never interleaved with concurrent typing: between its
            // surviving characters there are only characters of ops made after it was seen.
            let positions: Vec<usize> = ids
                .iter()
                .filter_map(|id| live.iter().position(|c| c == id))
                .collect();
            let own = l.deps[l.author];
            for w in positions.windows(2) {
                for c in &live[w[0] + 1..w[1]] {
                    let m = sim
                        .log
                        .iter()
                        .find(|m| m.op.stamp.clock == c.clock && m.op.stamp.client == c.client)
                        .expect("every character comes from a logged op");
                    prop_assert!(
                        m.deps[l.author] > own,
                        "{:?} was interleaved with concurrent {:?}", insert, m.op.kind
                    );
                }
            }
        }
    }

    #[test]
    fn concurrent_votes_are_never_lost(
        n in 1usize..=12,
        order in Just(()).prop_perturb(|_, mut rng| rng.random::<u64>()),
    ) {
        let mut doc = Doc::new();
        let create = op("c", 1, "p-host", OpKind::Create {
            object: "topic".into(),
            ty: "lean_coffee_topic".into(),
            parent: ROOT.into(),
            pos: "a0".into(),
            fields: BTreeMap::from([("title".into(), Value::Text("Estimates".into()))]),
        });
        doc.apply(&create);
        // Every member votes from the same state (all at clock 2): concurrent writes.
        let votes: Vec<Op> = (0..n)
            .map(|i| op(&format!("v{i}"), 2, &format!("p-m{i}"), OpKind::Set {
                object: "topic".into(),
                fields: BTreeMap::from([("votes".into(), Value::Int(1))]),
            }))
            .collect();
        for v in &votes {
            prop_assert!(validate(&doc, v).is_ok());
        }
        let mut shuffled = votes.clone();
        let mut x = order | 1;
        for i in (1..shuffled.len()).rev() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            shuffled.swap(i, (x % (i as u64 + 1)) as usize);
        }
        let mut a = doc.clone();
        let mut b = doc.clone();
        for v in &votes {
            a.apply(v);
        }
        for v in &shuffled {
            b.apply(v);
            b.apply(v);
        }
        prop_assert_eq!(a.canonical_json(), b.canonical_json());
        prop_assert_eq!(a.objects["topic"].get("votes"), Some(&Value::Int(n as i64)));
    }

    #[test]
    fn keys_generated_at_one_place_by_different_members_never_tie(
        members in 2usize..=8,
        lo in prop::option::of(Just("a5")),
        hi in prop::option::of(Just("a6")),
    ) {
        let keys: BTreeSet<String> = (0..members)
            .map(|i| {
                let suffix = client_suffix(&format!("p-{:010}", i * 7919));
                fractional::between_with(lo, hi, &suffix).unwrap()
            })
            .collect();
        prop_assert_eq!(keys.len(), members);
        for k in &keys {
            prop_assert!(fractional::validate(k).is_ok());
            prop_assert!(lo.is_none_or(|lo| lo < k.as_str()));
            prop_assert!(hi.is_none_or(|hi| k.as_str() < hi));
        }
    }

    #[test]
    fn placing_between_equal_keys_lands_in_the_slot(
        before in 0usize..3,
        tied in 2usize..6,
        after in 0usize..3,
        slot in any::<Index>(),
    ) {
        // Siblings as stored: some keys, then a run of equal keys (an older client's
        // concurrent inserts), then more keys; ordered by (key, id).
        let mut keys: Vec<String> = Vec::new();
        let mut k: Option<String> = None;
        for _ in 0..before {
            k = Some(fractional::between(k.as_deref(), None).unwrap());
            keys.push(k.clone().unwrap());
        }
        let tie = fractional::between(k.as_deref(), None).unwrap();
        keys.extend(std::iter::repeat_n(tie.clone(), tied));
        k = Some(tie);
        for _ in 0..after {
            k = Some(fractional::between(k.as_deref(), None).unwrap());
            keys.push(k.clone().unwrap());
        }
        let index = slot.index(keys.len() + 1);
        let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        let placed = fractional::place(&refs, index, "me1").unwrap();
        let mut items: Vec<(String, usize)> = keys.iter().cloned().zip(0..).collect();
        for (i, key) in &placed.rekey {
            items[*i].0 = key.clone();
        }
        items.push((placed.key.clone(), usize::MAX));
        items.sort();
        let landed = items.iter().position(|(_, id)| *id == usize::MAX).unwrap();
        prop_assert_eq!(landed, index, "{:?} -> {:?}", keys, placed);
        // Nobody else changed order.
        let others: Vec<usize> = items.iter().map(|(_, id)| *id).filter(|id| *id != usize::MAX).collect();
        prop_assert_eq!(others, (0..keys.len()).collect::<Vec<_>>());
    }
}

#[test]
fn budget_is_enforced_per_member_across_topics() {
    let mut doc = Doc::new();
    for (i, t) in ["t1", "t2"].iter().enumerate() {
        doc.apply(&op(
            t,
            1 + i as u64,
            "p-host",
            OpKind::Create {
                object: (*t).into(),
                ty: "lean_coffee_topic".into(),
                parent: ROOT.into(),
                pos: format!("a{i}"),
                fields: BTreeMap::new(),
            },
        ));
    }
    let vote = |clock, who: &str, topic: &str, n: i64| {
        op(
            &format!("{who}{clock}"),
            clock,
            who,
            OpKind::Set {
                object: topic.into(),
                fields: BTreeMap::from([("votes".into(), Value::Int(n))]),
            },
        )
    };
    let two = vote(5, "p-a", "t1", 2);
    validate(&doc, &two).unwrap();
    doc.apply(&two);
    // One dot left for p-a; p-b has all three.
    let over = vote(6, "p-a", "t2", 2);
    assert_eq!(
        validate(&doc, &over).unwrap_err().code,
        ErrorCode::OverBudget
    );
    validate(&doc, &vote(6, "p-a", "t2", 1)).unwrap();
    validate(&doc, &vote(6, "p-b", "t2", LEAN_COFFEE_DOTS)).unwrap();
    // Taking dots back frees them; moving them on one topic counts the new value only.
    validate(&doc, &vote(6, "p-a", "t1", 3)).unwrap();
    let back = vote(7, "p-a", "t1", 0);
    doc.apply(&back);
    assert_eq!(doc.objects["t1"].get("votes"), Some(&Value::Int(0)));
    validate(&doc, &vote(8, "p-a", "t2", 3)).unwrap();
    assert_eq!(
        validate(&doc, &vote(8, "p-a", "t2", 4)).unwrap_err().code,
        ErrorCode::InvalidValue
    );
}

#[test]
fn version_1_documents_are_converted_on_load() {
    let v1 = r#"{"clock":9,"objects":{
        "n":{"type":"vision_note","created":{"clock":3,"client":"p-a"},"parent":"root","pos":"a0",
             "placed":{"clock":3,"client":"p-a"},
             "fields":{"text":{"value":"héllo","stamp":{"clock":7,"client":"p-b"}},
                       "author":{"value":"Ann","stamp":{"clock":3,"client":"p-a"}}}},
        "t":{"type":"lean_coffee_topic","created":{"clock":4,"client":"p-a"},"parent":"root","pos":"a1",
             "placed":{"clock":4,"client":"p-a"},
             "fields":{"votes":{"value":5,"stamp":{"clock":8,"client":"p-c"}}}}},
        "tombstones":[]}"#;
    let mut doc: Doc = serde_json::from_str(v1).unwrap();
    assert_eq!(
        doc.objects["n"].get("text"),
        Some(&Value::Text("héllo".into()))
    );
    assert_eq!(doc.objects["n"].texts["text"].render(), "héllo");
    assert_eq!(doc.objects["t"].get("votes"), Some(&Value::Int(5)));
    // The converted text takes edits; the converted count keeps counting.
    let last = doc.objects["n"].texts["text"].live_ids()[4].to_string();
    let edit = op(
        "e",
        10,
        "p-a",
        OpKind::Text {
            object: "n".into(),
            field: "text".into(),
            after: Some(last),
            insert: " world".into(),
            delete: vec![],
        },
    );
    validate(&doc, &edit).unwrap();
    doc.apply(&edit);
    doc.apply(&op(
        "v",
        11,
        "p-d",
        OpKind::Set {
            object: "t".into(),
            fields: BTreeMap::from([("votes".into(), Value::Int(1))]),
        },
    ));
    assert_eq!(
        doc.objects["n"].get("text"),
        Some(&Value::Text("héllo world".into()))
    );
    assert_eq!(doc.objects["t"].get("votes"), Some(&Value::Int(6)));
    // A converted document written back reads as version 2, unchanged.
    let json = doc.canonical_json();
    assert!(json.contains(r#""model":2"#));
    let again: Doc = serde_json::from_str(&json).unwrap();
    assert_eq!(again, doc);
}

#[test]
fn invalid_text_ops_are_refused_with_a_code() {
    let doc = base();
    let ids = doc.objects["note"].texts["text"].live_ids();
    let text = |clock, after: Option<String>, insert: &str, delete: Vec<String>| {
        op(
            "t",
            clock,
            "p-a",
            OpKind::Text {
                object: "note".into(),
                field: "text".into(),
                after,
                insert: insert.into(),
                delete,
            },
        )
    };
    let code = |o: &Op| validate(&doc, o).unwrap_err().code;
    assert_eq!(code(&text(9, None, "", vec![])), ErrorCode::InvalidOp);
    assert_eq!(
        code(&text(9, Some("nope".into()), "x", vec![])),
        ErrorCode::InvalidOp
    );
    assert_eq!(
        code(&text(9, Some("1.0.p-zz".into()), "x", vec![])),
        ErrorCode::InvalidOp
    );
    assert_eq!(
        code(&text(9, None, "", vec!["5.0.p-zz".into()])),
        ErrorCode::InvalidOp
    );
    // Stamped at or below its anchor: would break the placement rule.
    assert_eq!(
        code(&text(2, Some(ids[0].to_string()), "x", vec![])),
        ErrorCode::InvalidOp
    );
    assert_eq!(
        code(&text(9, None, &"x".repeat(10_001), vec![])),
        ErrorCode::TooLong
    );
    let mut wrong = text(9, None, "x", vec![]);
    if let OpKind::Text { field, .. } = &mut wrong.kind {
        *field = "author".into();
    }
    assert_eq!(code(&wrong), ErrorCode::InvalidValue);
    validate(
        &doc,
        &text(9, Some(ids[4].to_string()), "!", vec![ids[0].to_string()]),
    )
    .unwrap();
}

#[test]
fn seals_follow_stamps_and_reveals_show_only_sealed_entries() {
    let mut doc = Doc::new();
    for o in [
        op(
            "i",
            1,
            "p-host",
            OpKind::Create {
                object: "item".into(),
                ty: "backlog_item".into(),
                parent: ROOT.into(),
                pos: "a0".into(),
                fields: BTreeMap::new(),
            },
        ),
        op(
            "r",
            2,
            "p-host",
            OpKind::Create {
                object: "round".into(),
                ty: "estimation_round".into(),
                parent: "item".into(),
                pos: "a0".into(),
                fields: BTreeMap::new(),
            },
        ),
    ] {
        doc.apply(&o);
    }
    let seal = |clock, who: &str, value: Option<&str>| {
        op(
            &format!("{who}{clock}"),
            clock,
            who,
            OpKind::Seal {
                object: "round".into(),
                field: "votes".into(),
                value: value.map(|v| Value::Text(v.into())),
                withdraw: value.is_none(),
            },
        )
    };
    for o in [seal(20, "p-a", None), seal(21, "p-b", Some("5"))] {
        validate(&doc, &o).unwrap();
        doc.apply(&o.clone());
    }
    // An older seal of p-a (a stale tab's resend) is refused: it would revive a withdrawn vote.
    let stale = seal(15, "p-a", Some("3"));
    assert_eq!(
        validate(&doc, &stale).unwrap_err().code,
        ErrorCode::Conflict
    );
    // A reveal carrying a value for p-a (who withdrew) shows only p-b's.
    let reveal = op(
        "rv",
        30,
        "p-c",
        OpKind::Reveal {
            object: "round".into(),
            values: BTreeMap::from([(
                "votes".into(),
                BTreeMap::from([
                    ("p-a".into(), Value::Text("3".into())),
                    ("p-b".into(), Value::Text("5".into())),
                ]),
            )]),
        },
    );
    let public = doc.public_reveal(reveal.clone());
    let OpKind::Reveal { values, .. } = &public.kind else {
        unreachable!()
    };
    assert_eq!(values["votes"].keys().collect::<Vec<_>>(), ["p-b"]);
    let mut other = doc.clone();
    doc.apply(&reveal);
    other.apply(&public);
    assert_eq!(doc.canonical_json(), other.canonical_json());
    let entries = &doc.objects["round"].sealed["votes"];
    assert_eq!(entries["p-a"].value, Value::Null);
    assert_eq!(entries["p-b"].value, Value::Text("5".into()));
}

#[test]
fn text_input_limits() {
    let doc = base();
    let ids = doc.objects["note"].texts["text"].live_ids();
    let text = |insert: &str, delete: Vec<String>| {
        op(
            "t",
            9,
            "p-a",
            OpKind::Text {
                object: "note".into(),
                field: "text".into(),
                after: None,
                insert: insert.into(),
                delete,
            },
        )
    };
    let code = |o: &Op| validate(&doc, o).unwrap_err().code;
    // A character listed twice would count twice against the length limit.
    let twice = vec![ids[0].to_string(), ids[0].to_string()];
    assert_eq!(code(&text("", twice)), ErrorCode::InvalidOp);
    // Text boxes use \n: a \r would never match what they show.
    assert_eq!(code(&text("a\rb", vec![])), ErrorCode::InvalidValue);
    let set_cr = op(
        "s",
        9,
        "p-a",
        OpKind::Set {
            object: "note".into(),
            fields: BTreeMap::from([("text".into(), Value::Text("a\r\nb".into()))]),
        },
    );
    assert_eq!(code(&set_cr), ErrorCode::InvalidValue);
    // Many deletes at once are found in one pass (and all of them are checked).
    let all: Vec<String> = ids.iter().map(ToString::to_string).collect();
    validate(&doc, &text("", all.clone())).unwrap();
    let mut with_ghost = all;
    with_ghost.push("99.0.p-nobody".into());
    assert_eq!(code(&text("", with_ghost)), ErrorCode::InvalidOp);
}

#[test]
fn replacing_text_counts_toward_the_history_cap() {
    use plenary_protocol::schema::{MAX_TEXT_CHARS, MAX_TEXT_HISTORY};
    let mut doc = base();
    let big = "x".repeat(MAX_TEXT_CHARS);
    let mut clock = 10;
    let mut refused = None;
    for _ in 0..=(MAX_TEXT_HISTORY / MAX_TEXT_CHARS) {
        clock += 1;
        let o = op(
            &format!("s{clock}"),
            clock,
            "p-a",
            OpKind::Set {
                object: "note".into(),
                fields: BTreeMap::from([("text".into(), Value::Text(big.clone()))]),
            },
        );
        match validate(&doc, &o) {
            Ok(()) => {
                doc.apply(&o);
            }
            Err(e) => {
                refused = Some(e.code);
                break;
            }
        }
    }
    assert_eq!(refused, Some(ErrorCode::TooLong));
    assert!(doc.objects["note"].texts["text"].total_len() <= MAX_TEXT_HISTORY);
}
