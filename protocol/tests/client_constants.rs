//! The web client reads the protocol's limits, lists and schema table from
//! `web-client/js/lib/protocol.gen.js`, which this test writes from the crate's own constants:
//! one source of truth, and no build step for the client. The test fails when the checked-in
//! copy differs from what the crate says now; `UPDATE_GENERATED=1 cargo test -p
//! plenary-protocol --test client_constants` writes it again.

use std::fmt::Write as _;
use std::path::PathBuf;

use plenary_protocol::doc::MODEL_VERSION;
use plenary_protocol::schema::{self, FieldKind, SCHEMAS};
use plenary_protocol::{estimate, forecast};
use serde_json::{json, Value};

const GENERATED: &str = "web-client/js/lib/protocol.gen.js";

fn path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(GENERATED)
}

/// A field kind in the shape the client's `checkField` reads.
fn kind(kind: &FieldKind) -> Value {
    match *kind {
        FieldKind::Text(max) => json!({ "kind": "text", "max": max }),
        FieldKind::Prose(max) => json!({ "kind": "prose", "max": max }),
        FieldKind::Tally { max, budget } => {
            json!({ "kind": "tally", "max": max, "budget": budget })
        }
        FieldKind::Sealed(inner) => json!({ "kind": "sealed", "inner": self::kind(inner) }),
        FieldKind::Allocation => json!({ "kind": "allocation" }),
        FieldKind::Samples => json!({ "kind": "samples" }),
        FieldKind::Int(min, max) => json!({ "kind": "int", "min": min, "max": max }),
        FieldKind::Bool => json!({ "kind": "bool" }),
        FieldKind::Enum(values) => json!({ "kind": "enum", "values": values }),
    }
}

fn render() -> String {
    let mut out = String::new();
    out.push_str(
        "// Generated from the protocol crate by protocol/tests/client_constants.rs: do not edit.\n\
         // UPDATE_GENERATED=1 cargo test -p plenary-protocol --test client_constants writes it again.\n\
         // The names and values are those of protocol/src (schema.rs, estimate.rs, forecast.rs,\n\
         // doc.rs); see the doc comments there for what each one bounds.\n\n",
    );
    let constants: Vec<(&str, &str, Value)> = vec![
        (
            "ROOT",
            "The parent id of top-level objects.",
            json!(schema::ROOT),
        ),
        (
            "PROTOCOL_VERSION",
            "The wire protocol version a hello states.",
            json!(plenary_protocol::PROTOCOL_VERSION),
        ),
        (
            "MODEL_VERSION",
            "The document model version.",
            json!(MODEL_VERSION),
        ),
        (
            "MAX_TITLE_CHARS",
            "Longest title-like field, in characters.",
            json!(schema::MAX_TITLE_CHARS),
        ),
        (
            "MAX_TEXT_CHARS",
            "Longest free-text field, in characters.",
            json!(schema::MAX_TEXT_CHARS),
        ),
        (
            "MAX_LABEL_CHARS",
            "Longest short label, in characters.",
            json!(schema::MAX_LABEL_CHARS),
        ),
        (
            "MAX_TEXT_HISTORY",
            "Most characters ever inserted into one mergeable text field.",
            json!(schema::MAX_TEXT_HISTORY),
        ),
        (
            "MAX_ROOM_TEXT_HISTORY",
            "Most characters ever inserted into a room's mergeable text.",
            json!(schema::MAX_ROOM_TEXT_HISTORY),
        ),
        (
            "MAX_OBJECTS",
            "Most live objects in one room.",
            json!(schema::MAX_OBJECTS),
        ),
        (
            "MAX_ID_CHARS",
            "Longest object or op id.",
            json!(schema::MAX_ID_CHARS),
        ),
        (
            "MAX_POS_CHARS",
            "Longest position key the server accepts.",
            json!(schema::MAX_POS_CHARS),
        ),
        (
            "LEAN_COFFEE_DOTS",
            "Dots each member may spread over a room's Lean Coffee topics.",
            json!(schema::LEAN_COFFEE_DOTS),
        ),
        (
            "MAX_BUDGET",
            "Largest value-scoring budget.",
            json!(schema::MAX_BUDGET),
        ),
        (
            "VISION_SECTIONS",
            "The five sections of a Product Vision Board.",
            json!(schema::VISION_SECTIONS),
        ),
        (
            "ESTIMATES",
            "A backlog item's estimates.",
            json!(schema::ESTIMATES),
        ),
        (
            "ITEM_STATUSES",
            "A backlog item's statuses.",
            json!(schema::ITEM_STATUSES),
        ),
        (
            "DECISIONS",
            "An experiment's decisions.",
            json!(schema::DECISIONS),
        ),
        (
            "LEAN_COFFEE_COLUMNS",
            "A Lean Coffee topic's columns.",
            json!(schema::LEAN_COFFEE_COLUMNS),
        ),
        (
            "CARDS",
            "What an estimation card can say.",
            json!(schema::CARDS),
        ),
        ("SCALES", "Estimation scales.", json!(schema::SCALES)),
        (
            "FIXED_ONCE_SEALED",
            "Fields fixed once a member has sealed an entry.",
            json!(schema::FIXED_ONCE_SEALED),
        ),
        (
            "FIBONACCI",
            "The Fibonacci scale's cards.",
            json!(estimate::FIBONACCI),
        ),
        (
            "TSHIRT",
            "The T-shirt scale's cards.",
            json!(estimate::TSHIRT),
        ),
        (
            "NOT_A_SIZE",
            "Cards that are not a size.",
            json!(estimate::NOT_A_SIZE),
        ),
        (
            "DEFAULT_BUDGET",
            "Points each member spreads in a value-scoring round unless it says otherwise.",
            json!(estimate::DEFAULT_BUDGET),
        ),
        (
            "MAX_ALLOCATION_ITEMS",
            "Most items one allocation may name.",
            json!(estimate::MAX_ALLOCATION_ITEMS),
        ),
        (
            "CONFIDENCES",
            "The confidence levels (in percent) at which a forecast is read.",
            json!(forecast::CONFIDENCES),
        ),
        (
            "DEFAULT_TRIALS",
            "Trials a caller should run when it has no reason to choose.",
            json!(forecast::DEFAULT_TRIALS),
        ),
        (
            "MAX_TRIALS",
            "Most trials one forecast may run.",
            json!(forecast::MAX_TRIALS),
        ),
        (
            "MAX_SPRINTS",
            "Sprints after which an unfinished trial stops and counts as capped.",
            json!(forecast::MAX_SPRINTS),
        ),
        (
            "MAX_SAMPLES",
            "Most throughput samples a forecast accepts.",
            json!(forecast::MAX_SAMPLES),
        ),
        (
            "MAX_SAMPLE",
            "Largest throughput of one sprint, in items.",
            json!(forecast::MAX_SAMPLE),
        ),
        (
            "MAX_ITEMS",
            "Largest backlog a forecast accepts, in items.",
            json!(forecast::MAX_ITEMS),
        ),
    ];
    for (name, doc, value) in constants {
        writeln!(out, "/** {doc} */\nexport const {name} = {value};").expect("write to a string");
    }
    out.push_str(
        "\n/** Every object type: the types it may live under and its fields, in schema.rs order. */\n\
         export const SCHEMAS = {\n",
    );
    for ty in SCHEMAS {
        writeln!(
            out,
            "  {}: {{\n    parents: {},\n    fields: {{",
            ty.name,
            json!(ty.parents)
        )
        .expect("write to a string");
        for field in ty.fields {
            writeln!(out, "      {}: {},", field.name, kind(&field.kind))
                .expect("write to a string");
        }
        out.push_str("    },\n  },\n");
    }
    out.push_str("};\n");
    out
}

#[test]
fn the_web_clients_copy_is_current() {
    let want = render();
    let path = path();
    if std::env::var_os("UPDATE_GENERATED").is_some() {
        std::fs::write(&path, &want).expect("write the generated file");
        return;
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "{GENERATED} is stale: run UPDATE_GENERATED=1 cargo test -p plenary-protocol --test \
         client_constants and commit it"
    );
}

#[test]
fn every_schema_type_and_field_is_rendered() {
    let rendered = render();
    for ty in SCHEMAS {
        assert!(
            rendered.contains(&format!("\n  {}: {{\n", ty.name)),
            "{}",
            ty.name
        );
        for field in ty.fields {
            assert!(
                rendered.contains(&format!("\n      {}: {{", field.name)),
                "{}.{}",
                ty.name,
                field.name
            );
        }
    }
}
