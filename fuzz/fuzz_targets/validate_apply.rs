//! Validation and apply on a room document, the way the server uses them: every op is
//! validated, and only a valid one is applied. Ops are built from a small vocabulary (a few
//! object ids, every type and field of the schema, values that hit the limits and enums, keys
//! valid and not) so that most inputs reach deep into the rules.
//!
//! Checked after every applied op: the document keeps its own invariants (every field value is
//! one its validation would accept again, derived text and tally values match their state, the
//! canonical form reads back to itself, applying the op again changes nothing). Checked for
//! every op, valid or not: `Doc::apply` never panics.
#![no_main]

use std::collections::BTreeMap;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use plenary_protocol::schema::{self, FieldKind, SCHEMAS};
use plenary_protocol::{doc::tally_total, validate, Doc, Op, OpKind, Stamp, Value};

const OBJECTS: &[&str] = &["o0", "o1", "o2", "o3", "o4", "o5", "root"];
const CLIENTS: &[&str] = &["p-a", "p-b", "p-c"];
const KEYS: &[&str] = &["a0", "a1", "a0V", "Zz", "b00", "a0Va", "", "a", "!!", "a0 "];
const TEXTS: &[&str] = &[
    "",
    "x",
    "Export the report",
    "5",
    "13",
    "coffee",
    "?",
    "M",
    "XL",
    "done",
    "fibonacci",
    "tshirt",
    "needs",
    "to_discuss",
    "pivot",
    "o0=60,o1=40",
    "o0=101",
    "o1=5,o1=5",
    "3, 5 4,6",
    "1001",
    "line\r\nbreak",
    "é🙂",
];
const INTS: &[i64] = &[-1, 0, 1, 3, 4, 100, 10_000, 10_001, 1_000_000, i64::MAX];

#[derive(Arbitrary, Debug)]
enum Val {
    Null,
    Bool(bool),
    Int(u8),
    Text(u8),
    Long(u16),
}

impl Val {
    fn value(&self) -> Value {
        match self {
            Val::Null => Value::Null,
            Val::Bool(b) => Value::Bool(*b),
            Val::Int(i) => Value::Int(INTS[*i as usize % INTS.len()]),
            Val::Text(i) => Value::Text(TEXTS[*i as usize % TEXTS.len()].to_owned()),
            // Around the limits: a title (300), one past it, and one past a text field (10,000).
            Val::Long(n) => Value::Text("y".repeat([299, 301, 10_001][*n as usize % 3])),
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Action {
    Create {
        object: u8,
        ty: u8,
        parent: u8,
        pos: u8,
        fields: Vec<(u8, Val)>,
    },
    Set {
        object: u8,
        fields: Vec<(u8, Val)>,
    },
    Delete {
        object: u8,
    },
    Move {
        object: u8,
        parent: u8,
        pos: u8,
    },
    Text {
        object: u8,
        field: u8,
        after: Option<u8>,
        insert: u8,
        delete: Vec<u8>,
    },
    Seal {
        object: u8,
        field: u8,
        value: Option<Val>,
        withdraw: bool,
    },
    Reveal {
        object: u8,
    },
}

#[derive(Arbitrary, Debug)]
struct Step {
    client: u8,
    /// How far above the document's clock the op is stamped (0: a stale stamp).
    clock: u8,
    action: Action,
}

fn pick<'a>(list: &[&'a str], i: u8) -> &'a str {
    list[i as usize % list.len()]
}

/// The type of `object` in `doc`, or the first type if it does not exist.
fn type_of<'a>(doc: &'a Doc, object: &str) -> &'a str {
    doc.objects
        .get(object)
        .map_or(SCHEMAS[0].name, |o| o.ty.as_str())
}

fn field_name(ty: &str, i: u8) -> String {
    schema::schema(ty).map_or_else(
        || "title".to_owned(),
        |s| s.fields[i as usize % s.fields.len()].name.to_owned(),
    )
}

fn fields_of(ty: &str, fields: &[(u8, Val)]) -> BTreeMap<String, Value> {
    fields
        .iter()
        .map(|(f, v)| (field_name(ty, *f), v.value()))
        .collect()
}

fn build(doc: &Doc, n: usize, step: &Step) -> Op {
    let client = pick(CLIENTS, step.client);
    let kind = match &step.action {
        Action::Create {
            object,
            ty,
            parent,
            pos,
            fields,
        } => {
            let ty = SCHEMAS[*ty as usize % SCHEMAS.len()].name;
            OpKind::Create {
                object: pick(OBJECTS, *object).to_owned(),
                ty: ty.to_owned(),
                parent: pick(OBJECTS, *parent).to_owned(),
                pos: pick(KEYS, *pos).to_owned(),
                fields: fields_of(ty, fields),
            }
        }
        Action::Set { object, fields } => {
            let object = pick(OBJECTS, *object);
            OpKind::Set {
                object: object.to_owned(),
                fields: fields_of(type_of(doc, object), fields),
            }
        }
        Action::Delete { object } => OpKind::Delete {
            object: pick(OBJECTS, *object).to_owned(),
        },
        Action::Move {
            object,
            parent,
            pos,
        } => OpKind::Move {
            object: pick(OBJECTS, *object).to_owned(),
            parent: pick(OBJECTS, *parent).to_owned(),
            pos: pick(KEYS, *pos).to_owned(),
        },
        Action::Text {
            object,
            field,
            after,
            insert,
            delete,
        } => {
            let object = pick(OBJECTS, *object);
            let field = field_name(type_of(doc, object), *field);
            let ids: Vec<String> = doc
                .objects
                .get(object)
                .and_then(|o| o.texts.get(&field))
                .map(|t| t.live_ids().iter().map(ToString::to_string).collect())
                .unwrap_or_default();
            let id = |i: u8| {
                ids.get(i as usize % ids.len().max(1))
                    .cloned()
                    .unwrap_or_else(|| "1.0.p-x".into())
            };
            OpKind::Text {
                object: object.to_owned(),
                field,
                after: after.map(id),
                insert: pick(TEXTS, *insert).to_owned(),
                delete: delete.iter().map(|i| id(*i)).collect(),
            }
        }
        Action::Seal {
            object,
            field,
            value,
            withdraw,
        } => {
            let object = pick(OBJECTS, *object);
            OpKind::Seal {
                object: object.to_owned(),
                field: field_name(type_of(doc, object), *field),
                value: value.as_ref().map(Val::value),
                withdraw: *withdraw,
            }
        }
        Action::Reveal { object } => OpKind::Reveal {
            object: pick(OBJECTS, *object).to_owned(),
            values: BTreeMap::new(),
        },
    };
    Op {
        id: format!("op-{n}"),
        stamp: Stamp::new(doc.clock + u64::from(step.clock % 4), client),
        kind,
    }
}

/// The canonical form reads back to the same document.
fn round_trip(doc: &Doc) {
    let json = doc.canonical_json();
    let back: Doc = serde_json::from_str(&json).expect("the canonical form reads back");
    assert_eq!(back.canonical_json(), json, "canonical form round trip");
}

/// The document's own invariants, after a valid op was applied.
fn check(doc: &Doc) {
    for (id, obj) in &doc.objects {
        for (name, field) in &obj.fields {
            let kind = schema::field_kind(&obj.ty, name).expect("only schema fields are stored");
            match kind {
                FieldKind::Prose(max) => {
                    let text = obj.texts.get(name).map(|t| t.as_str().to_owned());
                    if let Some(text) = &text {
                        // The derived value: the live text, `null` when it is empty.
                        let want = if text.is_empty() {
                            Value::Null
                        } else {
                            Value::Text(text.clone())
                        };
                        assert_eq!(field.value, want, "{id}.{name} derived");
                        assert!(text.chars().count() <= max, "{id}.{name} too long");
                    }
                }
                FieldKind::Tally { .. } => {
                    let entries = obj.tallies.get(name).cloned().unwrap_or_default();
                    assert_eq!(
                        field.value,
                        Value::Int(tally_total(&entries)),
                        "{id}.{name} total"
                    );
                }
                FieldKind::Sealed(_) | FieldKind::Allocation => {}
                _ if schema::FIXED_ONCE_SEALED.contains(&name.as_str()) => {}
                _ => {
                    // Setting the value the field holds again must be valid.
                    let op = Op {
                        id: "check".into(),
                        stamp: Stamp::new(doc.clock + 1, "p-check"),
                        kind: OpKind::Set {
                            object: id.clone(),
                            fields: BTreeMap::from([(name.clone(), field.value.clone())]),
                        },
                    };
                    if doc.is_visible(id) {
                        if let Err(e) = validate(doc, &op) {
                            panic!(
                                "{id}.{name} holds {:?}, which validation refuses: {e}",
                                field.value
                            );
                        }
                    }
                }
            }
        }
    }
}

fuzz_target!(|steps: Vec<Step>| {
    let mut doc = Doc::new();
    for (n, step) in steps.iter().take(64).enumerate() {
        let op = build(&doc, n, step);
        // Apply is total: any op that decodes, valid or not, must not make it panic.
        let valid = validate(&doc, &op).is_ok();
        if !valid {
            let mut raw = doc.clone();
            raw.apply(&op);
            continue;
        }
        doc.apply(&op);
        check(&doc);
        let before = doc.clone();
        doc.apply(&op);
        assert_eq!(doc, before, "applying {op:?} twice changed the document");
    }
    round_trip(&doc);
});
