//! Validation: one test per rule of validate.rs, each with the value just inside the limit
//! (accepted) and just outside (refused with the documented code). Also the templates module:
//! seeded ops validate, apply, and are not produced twice; `progress` counts what is visible.

use std::collections::BTreeMap;

use plenary_protocol::schema::{
    MAX_ID_CHARS, MAX_LABEL_CHARS, MAX_OBJECTS, MAX_POS_CHARS, MAX_TITLE_CHARS, ROOT, SCHEMAS,
    VISION_SECTIONS,
};
use plenary_protocol::templates::{progress, seed_ops, Progress, SERVER_CLIENT};
use plenary_protocol::validate::{MAX_CLOCK, MAX_CLOCK_JUMP, MAX_FIELDS_PER_OP};
use plenary_protocol::workshop::Template;
use plenary_protocol::{validate, Doc, ErrorCode, Op, OpKind, Stamp, Value};

fn op(clock: u64, kind: OpKind) -> Op {
    Op {
        id: format!("op-{clock}"),
        stamp: Stamp::new(clock, "alice"),
        kind,
    }
}

fn create(object: &str, ty: &str, parent: &str, pos: &str) -> OpKind {
    OpKind::Create {
        object: object.into(),
        ty: ty.into(),
        parent: parent.into(),
        pos: pos.into(),
        fields: BTreeMap::new(),
    }
}

fn set(object: &str, name: &str, value: Value) -> OpKind {
    OpKind::Set {
        object: object.into(),
        fields: BTreeMap::from([(name.into(), value)]),
    }
}

fn text(s: impl Into<String>) -> Value {
    Value::Text(s.into())
}

/// A document with a story (with a criterion), a vision section, and a deleted story.
fn doc() -> Doc {
    let mut doc = Doc::new();
    for (i, kind) in [
        create("story", "backlog_item", ROOT, "a0"),
        create("crit", "acceptance_criterion", "story", "a0"),
        create("section", "vision_section", ROOT, "a1"),
        create("gone", "backlog_item", ROOT, "a2"),
        OpKind::Delete {
            object: "gone".into(),
        },
    ]
    .into_iter()
    .enumerate()
    {
        let op = op(i as u64 + 1, kind);
        assert_eq!(validate(&doc, &op), Ok(()), "{op:?}");
        assert!(doc.apply(&op));
    }
    doc
}

/// Validates `kind` at the next clock; `None` means accepted.
fn check(doc: &Doc, kind: OpKind) -> Option<ErrorCode> {
    validate(doc, &op(doc.clock + 1, kind))
        .err()
        .map(|e| e.code)
}

#[test]
fn title_length_counts_characters() {
    let doc = doc();
    // Multi-byte characters: 300 of them are 600 bytes and still fit.
    let at_limit = "é".repeat(MAX_TITLE_CHARS);
    assert_eq!(check(&doc, set("story", "title", text(at_limit))), None);
    let over = "é".repeat(MAX_TITLE_CHARS + 1);
    assert_eq!(
        check(&doc, set("story", "title", text(over))),
        Some(ErrorCode::TooLong)
    );
    assert_eq!(
        check(
            &doc,
            set("story", "tag", text("x".repeat(MAX_LABEL_CHARS + 1)))
        ),
        Some(ErrorCode::TooLong)
    );
    // The same limit on a create.
    let mut kind = create("new", "lean_coffee_topic", ROOT, "a5");
    if let OpKind::Create { fields, .. } = &mut kind {
        fields.insert("title".into(), text("x".repeat(301)));
    }
    assert_eq!(check(&doc, kind), Some(ErrorCode::TooLong));
}

#[test]
fn unknown_type() {
    let doc = doc();
    assert_eq!(
        check(&doc, create("new", "spaceship", ROOT, "a5")),
        Some(ErrorCode::UnknownType)
    );
    assert_eq!(
        check(&doc, create("new", "", ROOT, "a5")),
        Some(ErrorCode::UnknownType)
    );
    // An object of an unknown type can only exist through apply; sets and moves on it are
    // refused rather than guessed at.
    let mut doc = doc;
    doc.apply(&op(10, create("alien", "spaceship", ROOT, "a9")));
    assert_eq!(
        check(&doc, set("alien", "title", text("x"))),
        Some(ErrorCode::UnknownType)
    );
    let mv = OpKind::Move {
        object: "alien".into(),
        parent: ROOT.into(),
        pos: "a8".into(),
    };
    assert_eq!(check(&doc, mv), Some(ErrorCode::UnknownType));
}

#[test]
fn every_schema_type_can_be_created_with_every_field() {
    let doc = doc();
    for schema in SCHEMAS {
        let parent = match schema.parents[0] {
            "root" => ROOT,
            "backlog_item" => "story",
            "vision_section" => "section",
            other => panic!("no parent of type {other} in the test doc"),
        };
        let fields = schema
            .fields
            .iter()
            .map(|f| (f.name.to_owned(), Value::Null))
            .collect();
        let kind = OpKind::Create {
            object: format!("new-{}", schema.name),
            ty: schema.name.into(),
            parent: parent.into(),
            pos: "a5".into(),
            fields,
        };
        assert_eq!(check(&doc, kind), None, "{}", schema.name);
    }
}

#[test]
fn unknown_field() {
    let doc = doc();
    assert_eq!(
        check(&doc, set("story", "colour", text("red"))),
        Some(ErrorCode::UnknownField)
    );
    // A field of another type is unknown here: `met` belongs to acceptance criteria.
    assert_eq!(
        check(&doc, set("story", "met", Value::Bool(true))),
        Some(ErrorCode::UnknownField)
    );
    assert_eq!(check(&doc, set("crit", "met", Value::Bool(true))), None);
}

#[test]
fn wrong_value_kind() {
    let doc = doc();
    let cases = [
        ("story", "title", Value::Int(1)),
        ("story", "title", Value::Bool(true)),
        ("story", "value", text("12")),
        ("story", "estimate", Value::Int(5)),
        ("crit", "met", Value::Int(1)),
        ("crit", "met", text("true")),
    ];
    for (object, field, value) in cases {
        assert_eq!(
            check(&doc, set(object, field, value.clone())),
            Some(ErrorCode::InvalidValue),
            "{field} = {value:?}"
        );
    }
    // Null clears a field of any kind.
    for (object, field) in [("story", "title"), ("story", "value"), ("crit", "met")] {
        assert_eq!(check(&doc, set(object, field, Value::Null)), None);
    }
}

#[test]
fn enum_value_not_allowed() {
    let doc = doc();
    assert_eq!(check(&doc, set("story", "estimate", text("13"))), None);
    assert_eq!(check(&doc, set("story", "estimate", text("XL"))), None);
    for bad in ["4", "xl", "", "13 "] {
        assert_eq!(
            check(&doc, set("story", "estimate", text(bad))),
            Some(ErrorCode::InvalidValue),
            "{bad:?}"
        );
    }
    assert_eq!(
        check(&doc, set("story", "status", text("blocked"))),
        Some(ErrorCode::InvalidValue)
    );
    assert_eq!(
        check(&doc, set("story", "status", text("in_progress"))),
        None
    );
}

#[test]
fn int_out_of_range() {
    let doc = doc();
    for ok in [0, 1_000_000] {
        assert_eq!(check(&doc, set("story", "value", Value::Int(ok))), None);
    }
    for bad in [-1, 1_000_001, i64::MIN, i64::MAX] {
        assert_eq!(
            check(&doc, set("story", "value", Value::Int(bad))),
            Some(ErrorCode::InvalidValue),
            "{bad}"
        );
    }
}

#[test]
fn invalid_parent() {
    let doc = doc();
    let cases = [
        // Wrong parent type.
        create("n", "vision_note", ROOT, "a5"),
        create("n", "acceptance_criterion", "section", "a5"),
        create("n", "backlog_item", "story", "a5"),
        create("n", "vision_section", "section", "a5"),
        // Missing and deleted parents.
        create("n", "acceptance_criterion", "nowhere", "a5"),
        create("n", "acceptance_criterion", "gone", "a5"),
        OpKind::Move {
            object: "crit".into(),
            parent: "section".into(),
            pos: "a5".into(),
        },
        OpKind::Move {
            object: "crit".into(),
            parent: "gone".into(),
            pos: "a5".into(),
        },
        OpKind::Move {
            object: "story".into(),
            parent: "story".into(),
            pos: "a5".into(),
        },
    ];
    for kind in cases {
        assert_eq!(
            check(&doc, kind.clone()),
            Some(ErrorCode::InvalidParent),
            "{kind:?}"
        );
    }
    assert_eq!(
        check(&doc, create("n", "feedback", "story", "a5")),
        None,
        "feedback may sit under a story"
    );
    assert_eq!(check(&doc, create("n", "feedback", ROOT, "a5")), None);
}

#[test]
fn unknown_or_deleted_target() {
    let doc = doc();
    let on = |object: &str| {
        [
            set(object, "title", text("x")),
            OpKind::Delete {
                object: object.into(),
            },
            OpKind::Move {
                object: object.into(),
                parent: ROOT.into(),
                pos: "a5".into(),
            },
        ]
    };
    for kind in on("nowhere") {
        assert_eq!(
            check(&doc, kind.clone()),
            Some(ErrorCode::UnknownObject),
            "{kind:?}"
        );
    }
    for kind in on("gone") {
        assert_eq!(
            check(&doc, kind.clone()),
            Some(ErrorCode::Deleted),
            "{kind:?}"
        );
    }
    for kind in on("story") {
        assert_eq!(check(&doc, kind.clone()), None, "{kind:?}");
    }
}

#[test]
fn already_exists() {
    let doc = doc();
    for id in ["story", "gone"] {
        assert_eq!(
            check(&doc, create(id, "backlog_item", ROOT, "a5")),
            Some(ErrorCode::AlreadyExists),
            "{id}"
        );
    }
}

#[test]
fn invalid_ids() {
    let doc = doc();
    let longest = "x".repeat(MAX_ID_CHARS);
    assert_eq!(
        check(&doc, create(&longest, "backlog_item", ROOT, "a5")),
        None
    );
    for bad in [
        "",
        "root",
        "has space",
        "slash/id",
        "é",
        &"x".repeat(MAX_ID_CHARS + 1),
    ] {
        assert_eq!(
            check(&doc, create(bad, "backlog_item", ROOT, "a5")),
            Some(ErrorCode::InvalidOp),
            "object id {bad:?}"
        );
    }
    let mut bad_op_id = op(doc.clock + 1, create("n", "backlog_item", ROOT, "a5"));
    for bad in ["", "a b", &"x".repeat(MAX_ID_CHARS + 1)] {
        bad_op_id.id = bad.into();
        assert_eq!(
            validate(&doc, &bad_op_id).unwrap_err().code,
            ErrorCode::InvalidOp,
            "op id {bad:?}"
        );
    }
}

#[test]
fn too_many_objects() {
    let mut doc = Doc::new();
    for i in 0..MAX_OBJECTS as u64 {
        doc.apply(&op(
            i + 1,
            create(&format!("o{i}"), "lean_coffee_topic", ROOT, "a0"),
        ));
    }
    assert_eq!(doc.live_count(), MAX_OBJECTS);
    let one_more = create("one-more", "lean_coffee_topic", ROOT, "a1");
    assert_eq!(
        check(&doc, one_more.clone()),
        Some(ErrorCode::TooManyObjects)
    );
    // Edits of existing objects are still allowed; a delete frees a slot (tombstones do not
    // count).
    assert_eq!(check(&doc, set("o1", "votes", Value::Int(2))), None);
    let delete = op(
        doc.clock + 1,
        OpKind::Delete {
            object: "o0".into(),
        },
    );
    assert!(doc.apply(&delete));
    assert_eq!(check(&doc, one_more), None);
}

#[test]
fn invalid_position_key() {
    let doc = doc();
    let longest = format!("a0{}", "V".repeat(MAX_POS_CHARS - 2));
    assert_eq!(
        check(&doc, create("n", "backlog_item", ROOT, &longest)),
        None
    );
    let reserved = format!("A{}", "0".repeat(26));
    for bad in [
        "",
        "a",
        "a00",
        "a0-",
        " a0",
        "!0",
        &reserved,
        &format!("{longest}V"),
    ] {
        assert_eq!(
            check(&doc, create("n", "backlog_item", ROOT, bad)),
            Some(ErrorCode::InvalidPosition),
            "create at {bad:?}"
        );
        let mv = OpKind::Move {
            object: "story".into(),
            parent: ROOT.into(),
            pos: bad.into(),
        };
        assert_eq!(
            check(&doc, mv),
            Some(ErrorCode::InvalidPosition),
            "move to {bad:?}"
        );
    }
}

#[test]
fn stamp_clock_limits() {
    let doc = doc();
    let kind = set("story", "title", text("x"));
    let at = |clock: u64| {
        validate(
            &doc,
            &Op {
                id: "o".into(),
                stamp: Stamp::new(clock, "alice"),
                kind: kind.clone(),
            },
        )
        .err()
        .map(|e| e.code)
    };
    assert_eq!(at(0), Some(ErrorCode::InvalidOp));
    // Old clocks are fine (a slow client), however far behind.
    assert_eq!(at(1), None);
    assert_eq!(at(doc.clock + MAX_CLOCK_JUMP), None);
    assert_eq!(
        at(doc.clock + MAX_CLOCK_JUMP + 1),
        Some(ErrorCode::InvalidOp)
    );
    assert_eq!(at(u64::MAX), Some(ErrorCode::InvalidOp));

    // Near the top of the range, the 2^53 - 1 ceiling applies on its own.
    let mut high = doc.clone();
    high.clock = MAX_CLOCK - 1;
    let near_top = |clock: u64| {
        validate(
            &high,
            &Op {
                id: "o".into(),
                stamp: Stamp::new(clock, "alice"),
                kind: kind.clone(),
            },
        )
        .err()
        .map(|e| e.code)
    };
    assert_eq!(near_top(MAX_CLOCK), None);
    assert_eq!(near_top(MAX_CLOCK + 1), Some(ErrorCode::InvalidOp));
}

#[test]
fn empty_set_and_too_many_fields() {
    let doc = doc();
    let empty = OpKind::Set {
        object: "story".into(),
        fields: BTreeMap::new(),
    };
    assert_eq!(check(&doc, empty), Some(ErrorCode::InvalidOp));
    let fields = |n: usize| -> BTreeMap<String, Value> {
        (0..n).map(|i| (format!("f{i}"), Value::Null)).collect()
    };
    let too_many = OpKind::Set {
        object: "story".into(),
        fields: fields(MAX_FIELDS_PER_OP + 1),
    };
    assert_eq!(check(&doc, too_many), Some(ErrorCode::InvalidOp));
    // At the limit, the count passes and the unknown names are what is refused.
    let at_limit = OpKind::Set {
        object: "story".into(),
        fields: fields(MAX_FIELDS_PER_OP),
    };
    assert_eq!(check(&doc, at_limit), Some(ErrorCode::UnknownField));
}

// ---------------------------------------------------------------------------------------------
// Templates.
// ---------------------------------------------------------------------------------------------

const TEMPLATES: [Template; 4] = [
    Template::VisionBoard,
    Template::Backlog,
    Template::Experiment,
    Template::LeanCoffee,
];

/// Seeds `template` into `doc`: every op must validate against the doc as it is at that point,
/// and change it.
fn seed(doc: &mut Doc, template: Template) -> usize {
    let ops = seed_ops(doc, template);
    for op in &ops {
        assert_eq!(validate(doc, op), Ok(()), "{op:?}");
        assert_eq!(op.stamp.client, SERVER_CLIENT);
        assert!(
            op.stamp.clock > doc.clock,
            "stamps start above the doc clock"
        );
        assert!(doc.apply(op), "{op:?}");
    }
    ops.len()
}

#[test]
fn templates_seed_validate_apply_and_are_idempotent() {
    let expected = [5, 1, 1, 0];
    for (template, n) in TEMPLATES.into_iter().zip(expected) {
        let mut doc = Doc::new();
        assert_eq!(seed(&mut doc, template), n, "{template:?}");
        let once = doc.canonical_json();
        assert!(seed_ops(&doc, template).is_empty(), "{template:?} twice");
        assert_eq!(once, doc.canonical_json());
    }
}

#[test]
fn vision_board_sections_come_in_order_after_existing_items() {
    let mut doc = doc();
    let before: Vec<String> = doc
        .children(ROOT)
        .iter()
        .map(|(id, _)| id.to_string())
        .collect();
    seed(&mut doc, Template::VisionBoard);
    let after: Vec<String> = doc
        .children(ROOT)
        .iter()
        .map(|(id, _)| id.to_string())
        .collect();
    let seeded: Vec<String> = VISION_SECTIONS
        .iter()
        .map(|s| format!("tpl.vision.{s}"))
        .collect();
    assert_eq!(after, [before, seeded].concat());
    for s in VISION_SECTIONS {
        let obj = &doc.objects[&format!("tpl.vision.{s}")];
        assert_eq!(obj.get("section"), Some(&text(*s)));
    }
}

#[test]
fn all_templates_seed_into_one_room() {
    let mut doc = Doc::new();
    let total: usize = TEMPLATES.into_iter().map(|t| seed(&mut doc, t)).sum();
    assert_eq!(total, 7);
    assert_eq!(doc.children(ROOT).len(), 7);
    for t in TEMPLATES {
        assert!(seed_ops(&doc, t).is_empty());
    }
}

#[test]
fn deleted_template_objects_are_not_seeded_again() {
    let mut doc = Doc::new();
    seed(&mut doc, Template::Backlog);
    let delete = op(
        doc.clock + 1,
        OpKind::Delete {
            object: "tpl.backlog.example".into(),
        },
    );
    assert!(doc.apply(&delete));
    assert!(seed_ops(&doc, Template::Backlog).is_empty());
}

/// A Vision Board section deleted by a member comes back when the template is broadcast again
/// (under a new id: a deleted id stays deleted), and a section of that kind that a member made
/// counts as present.
#[test]
fn vision_board_sections_are_seeded_in_full_again() {
    let mut doc = Doc::new();
    seed(&mut doc, Template::VisionBoard);
    let delete = op(
        doc.clock + 1,
        OpKind::Delete {
            object: "tpl.vision.needs".into(),
        },
    );
    assert!(doc.apply(&delete));
    assert_eq!(seed(&mut doc, Template::VisionBoard), 1);
    assert_eq!(
        doc.objects["tpl.vision.needs.2"].get("section"),
        Some(&text("needs"))
    );
    assert!(
        seed_ops(&doc, Template::VisionBoard).is_empty(),
        "in full again"
    );

    let mut doc = Doc::new();
    let mine = OpKind::Create {
        object: "my-needs".into(),
        ty: "vision_section".into(),
        parent: ROOT.into(),
        pos: "a0".into(),
        fields: BTreeMap::from([("section".to_owned(), text("needs"))]),
    };
    assert!(doc.apply(&op(1, mine)));
    assert_eq!(seed(&mut doc, Template::VisionBoard), 4);
    assert!(!doc.objects.contains_key("tpl.vision.needs"));
}

#[test]
fn progress_counts_visible_objects() {
    let mut doc = Doc::new();
    assert_eq!(progress(&doc), Progress::default());
    let kinds = [
        create("v1", "vision_section", ROOT, "a0"),
        create("v2", "vision_section", ROOT, "a1"),
        create("n1", "vision_note", "v1", "a0"),
        create("n2", "vision_note", "v1", "a1"),
        create("s1", "backlog_item", ROOT, "a2"),
        create("s2", "backlog_item", ROOT, "a3"),
        create("s3", "backlog_item", ROOT, "a4"),
        create("c1", "acceptance_criterion", "s1", "a0"),
        create("c2", "acceptance_criterion", "s1", "a1"),
        create("f1", "feedback", "s2", "a0"),
        create("f2", "feedback", ROOT, "a5"),
        create("e1", "experiment", ROOT, "a6"),
        create("t1", "lean_coffee_topic", ROOT, "a7"),
        // Gone: a deleted story with a criterion, a deleted criterion, a deleted section
        // with a note.
        create("s4", "backlog_item", ROOT, "a8"),
        create("c4", "acceptance_criterion", "s4", "a0"),
        create("c3", "acceptance_criterion", "s3", "a0"),
        create("v3", "vision_section", ROOT, "a9"),
        create("n3", "vision_note", "v3", "a0"),
        OpKind::Delete {
            object: "s4".into(),
        },
        OpKind::Delete {
            object: "c3".into(),
        },
        OpKind::Delete {
            object: "v3".into(),
        },
    ];
    for kind in kinds {
        let op = op(doc.clock + 1, kind);
        assert_eq!(validate(&doc, &op), Ok(()), "{op:?}");
        doc.apply(&op);
    }
    assert_eq!(
        progress(&doc),
        Progress {
            vision_sections_filled: 1,
            vision_sections: 2,
            stories: 3,
            stories_with_criteria: 1,
            experiments: 1,
            feedback: 2,
        }
    );
}
