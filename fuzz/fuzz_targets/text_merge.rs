//! Convergence of the model v2 merge: up to four members type into one mergeable note and put
//! dots on one Lean Coffee topic, each against their own replica (every op validated there
//! first, as the server would), and ops reach the other replicas in any causal order the input
//! picks. Once everything is delivered, every replica holds the same document.
#![no_main]

use std::collections::BTreeMap;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use plenary_protocol::schema::ROOT;
use plenary_protocol::{validate, Doc, Op, OpKind, Stamp, Value};

const WORDS: &[&str] = &["a", "bc", "déf", " ", "\n", "🙂x", "long words here"];

#[derive(Arbitrary, Debug)]
enum Step {
    Type {
        replica: u8,
        caret: u8,
        word: u8,
        deletes: u8,
    },
    Vote {
        replica: u8,
        dots: u8,
    },
    Deliver {
        replica: u8,
        pick: u8,
    },
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

/// Records replica `r`'s own op `o` (applied locally already) for delivery to the others, with
/// what it had seen from each member as its causal dependencies.
fn publish(
    rep: &mut Replica,
    r: usize,
    o: Op,
    log: &mut Vec<Logged>,
    by_author: &mut [Vec<usize>],
) {
    let deps = rep.seen.clone();
    rep.seen[r] += 1;
    by_author[r].push(log.len());
    log.push(Logged {
        op: o,
        author: r,
        deps,
    });
}

fn op(id: String, clock: u64, client: &str, kind: OpKind) -> Op {
    Op {
        id,
        stamp: Stamp::new(clock, client),
        kind,
    }
}

fn base() -> Doc {
    let mut doc = Doc::new();
    let create = |object: &str, ty: &str, parent: &str, fields: &[(&str, &str)]| OpKind::Create {
        object: object.into(),
        ty: ty.into(),
        parent: parent.into(),
        pos: "a0".into(),
        fields: fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Value::Text((*v).to_owned())))
            .collect(),
    };
    let ops = [
        create("sec", "vision_section", ROOT, &[("section", "vision")]),
        create("note", "vision_note", "sec", &[("text", "start")]),
        create(
            "topic",
            "lean_coffee_topic",
            ROOT,
            &[("title", "Remote retros")],
        ),
    ];
    for (i, kind) in ops.into_iter().enumerate() {
        let o = op(format!("s{i}"), i as u64 + 1, "server", kind);
        validate(&doc, &o).expect("the base document is valid");
        doc.apply(&o);
    }
    doc
}

fuzz_target!(|input: (u8, Vec<Step>)| {
    let n = 2 + usize::from(input.0 % 3);
    let start = base();
    let mut replicas: Vec<Replica> = (0..n)
        .map(|i| Replica {
            name: format!("p-r{i}"),
            clock: start.clock,
            doc: start.clone(),
            seen: vec![0; n],
        })
        .collect();
    let mut log: Vec<Logged> = Vec::new();
    let mut by_author: Vec<Vec<usize>> = vec![Vec::new(); n];
    let deliverable =
        |replicas: &[Replica], log: &[Logged], by_author: &[Vec<usize>], r: usize| -> Vec<usize> {
            let rep = &replicas[r];
            (0..replicas.len())
                .filter(|&a| a != r)
                .filter_map(|a| by_author[a].get(rep.seen[a]).copied())
                .filter(|&i| {
                    log[i]
                        .deps
                        .iter()
                        .zip(&rep.seen)
                        .all(|(need, have)| need <= have)
                })
                .collect()
        };
    for step in input.1.iter().take(48) {
        match *step {
            Step::Type {
                replica,
                caret,
                word,
                deletes,
            } => {
                let r = usize::from(replica) % n;
                let rep = &mut replicas[r];
                let live = rep.doc.objects["note"].texts["text"].live_ids();
                let at = usize::from(caret) % (live.len() + 1);
                let del = usize::from(deletes % 6).min(live.len() - at);
                let insert = if deletes % 6 == 5 && del > 0 {
                    String::new()
                } else {
                    WORDS[usize::from(word) % WORDS.len()].to_owned()
                };
                rep.clock += 1;
                let o = op(
                    format!("{}-{}", rep.name, rep.clock),
                    rep.clock,
                    &rep.name,
                    OpKind::Text {
                        object: "note".into(),
                        field: "text".into(),
                        after: at.checked_sub(1).map(|i| live[i].to_string()),
                        insert,
                        delete: live[at..at + del].iter().map(ToString::to_string).collect(),
                    },
                );
                if validate(&rep.doc, &o).is_err() {
                    // Over the length cap: a member's box refuses the typing, nothing is sent.
                    rep.clock -= 1;
                    continue;
                }
                assert!(rep.doc.apply(&o), "a valid local text op changed nothing");
                publish(rep, r, o, &mut log, &mut by_author);
            }
            Step::Vote { replica, dots } => {
                let r = usize::from(replica) % n;
                let rep = &mut replicas[r];
                rep.clock += 1;
                let o = op(
                    format!("{}-{}", rep.name, rep.clock),
                    rep.clock,
                    &rep.name,
                    OpKind::Set {
                        object: "topic".into(),
                        fields: BTreeMap::from([(
                            "votes".to_owned(),
                            Value::Int(i64::from(dots % 4)),
                        )]),
                    },
                );
                validate(&rep.doc, &o).expect("a member's own dots within the budget are valid");
                rep.doc.apply(&o);
                publish(rep, r, o, &mut log, &mut by_author);
            }
            Step::Deliver { replica, pick } => {
                let r = usize::from(replica) % n;
                let ready = deliverable(&replicas, &log, &by_author, r);
                if let Some(&i) = ready.get(usize::from(pick) % ready.len().max(1)) {
                    let (o, author) = (log[i].op.clone(), log[i].author);
                    let rep = &mut replicas[r];
                    rep.doc.apply(&o);
                    rep.clock = rep.clock.max(o.stamp.clock);
                    rep.seen[author] += 1;
                }
            }
        }
    }
    // Deliver the rest, in causal order.
    for r in 0..n {
        loop {
            let ready = deliverable(&replicas, &log, &by_author, r);
            let Some(&i) = ready.first() else { break };
            let (o, author) = (log[i].op.clone(), log[i].author);
            replicas[r].doc.apply(&o);
            replicas[r].seen[author] += 1;
        }
    }
    for rep in &replicas {
        for (author, ops) in by_author.iter().enumerate() {
            assert_eq!(
                rep.seen[author],
                ops.len(),
                "{} is missing ops of member {author}",
                rep.name
            );
        }
    }
    let first = replicas[0].doc.canonical_json();
    for rep in &replicas[1..] {
        assert_eq!(rep.doc.canonical_json(), first, "{} diverged", rep.name);
    }
    let votes = replicas[0].doc.objects["topic"]
        .fields
        .get("votes")
        .map_or(Value::Int(0), |f| f.value.clone());
    let want: i64 = replicas
        .iter()
        .map(|rep| {
            log.iter()
                .rev()
                .find(|l| l.op.stamp.client == rep.name && matches!(l.op.kind, OpKind::Set { .. }))
                .map_or(0, |l| match &l.op.kind {
                    OpKind::Set { fields, .. } => match fields["votes"] {
                        Value::Int(v) => v,
                        _ => 0,
                    },
                    _ => 0,
                })
        })
        .sum();
    assert_eq!(
        votes,
        Value::Int(want),
        "the total is every member's last entry, none lost"
    );
});
