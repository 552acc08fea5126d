//! Estimation: planning-poker statistics, value-scoring allocations, the value-per-point order,
//! and the validation rules of rounds (cards on the round's scale, points within the budget,
//! scale and budget fixed once a member has voted). The statistics and orders are also test
//! vectors for the web client (`web-client/test/estimate.test.js`);
//! `PLENARY_UPDATE_VECTORS=1 cargo test -p plenary-protocol --test estimate` rewrites them.

mod common;

use std::collections::BTreeMap;

use plenary_protocol::estimate::{
    allocation_totals, parse_allocation, stats, value_per_point_order, AllocationError, Candidate,
    Stats,
};
use plenary_protocol::{validate, Doc, ErrorCode, Op, OpKind, Stamp, Value};
use serde_json::{json, Value as Json};

const FILE: &str = "tests/vectors/estimate.json";

fn s(v: &str) -> Value {
    Value::Text(v.into())
}

fn op(clock: u64, client: &str, kind: OpKind) -> Op {
    Op {
        id: format!("op-{clock}-{client}"),
        stamp: Stamp::new(clock, client),
        kind,
    }
}

fn create(object: &str, ty: &str, parent: &str, fields: &[(&str, Value)]) -> OpKind {
    OpKind::Create {
        object: object.into(),
        ty: ty.into(),
        parent: parent.into(),
        pos: "a0".into(),
        fields: fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect(),
    }
}

fn seal(object: &str, field: &str, value: Value) -> OpKind {
    OpKind::Seal {
        object: object.into(),
        field: field.into(),
        value: Some(value),
        withdraw: false,
    }
}

fn set(object: &str, field: &str, value: Value) -> OpKind {
    OpKind::Set {
        object: object.into(),
        fields: BTreeMap::from([(field.to_owned(), value)]),
    }
}

/// A room with two stories, a T-shirt round on the first and a value round of 100 points.
fn room() -> Doc {
    let mut doc = Doc::new();
    let ops = [
        create("s1", "backlog_item", "root", &[("title", s("Export"))]),
        create("s2", "backlog_item", "root", &[("title", s("Import"))]),
        create(
            "r1",
            "estimation_round",
            "s1",
            &[("scale", s("tshirt")), ("auto_reveal", Value::Bool(true))],
        ),
        create("v1", "value_round", "root", &[("budget", Value::Int(100))]),
    ];
    for (i, kind) in ops.into_iter().enumerate() {
        let op = op(i as u64 + 1, "p-ann", kind);
        validate(&doc, &op).unwrap();
        doc.apply(&op);
    }
    doc
}

fn refused(doc: &Doc, clock: u64, kind: OpKind) -> ErrorCode {
    validate(doc, &op(clock, "p-bob", kind)).unwrap_err().code
}

#[test]
fn cards_must_be_on_the_rounds_scale() {
    let doc = room();
    assert!(validate(&doc, &op(10, "p-bob", seal("r1", "votes", s("M")))).is_ok());
    assert!(validate(&doc, &op(10, "p-bob", seal("r1", "votes", s("coffee")))).is_ok());
    assert_eq!(
        refused(&doc, 10, seal("r1", "votes", s("5"))),
        ErrorCode::InvalidValue
    );
    assert_eq!(
        refused(&doc, 10, seal("r1", "votes", s("XXL"))),
        ErrorCode::InvalidValue
    );
    assert_eq!(
        refused(&doc, 10, seal("r1", "votes", Value::Int(5))),
        ErrorCode::InvalidValue
    );
}

#[test]
fn scale_and_budget_are_fixed_once_someone_voted() {
    let mut doc = room();
    // Before any vote the scale may change.
    assert!(validate(&doc, &op(10, "p-bob", set("r1", "scale", s("fibonacci")))).is_ok());
    let vote = op(10, "p-bob", seal("r1", "votes", s("M")));
    doc.apply(&vote);
    assert_eq!(
        refused(&doc, 11, set("r1", "scale", s("fibonacci"))),
        ErrorCode::Conflict
    );
    let points = op(12, "p-bob", seal("v1", "points", s("s1=60,s2=40")));
    validate(&doc, &points).unwrap();
    doc.apply(&points);
    assert_eq!(
        refused(&doc, 13, set("v1", "budget", Value::Int(200))),
        ErrorCode::Conflict
    );
    // Other fields of the round still change.
    assert!(validate(&doc, &op(13, "p-bob", set("r1", "accepted", s("M")))).is_ok());
}

#[test]
fn allocations_stay_within_the_budget_and_name_live_items() {
    let mut doc = room();
    let ok = |doc: &Doc, text: &str| validate(doc, &op(10, "p-bob", seal("v1", "points", s(text))));
    assert!(ok(&doc, "s1=100").is_ok());
    assert!(ok(&doc, "s1=30,s2=20").is_ok(), "spending less is allowed");
    assert_eq!(
        refused(&doc, 10, seal("v1", "points", s("s1=60,s2=41"))),
        ErrorCode::OverBudget
    );
    assert_eq!(
        refused(&doc, 10, seal("v1", "points", s("s1=60,nope=1"))),
        ErrorCode::NotFound
    );
    assert_eq!(
        refused(&doc, 10, seal("v1", "points", s("r1=5"))),
        ErrorCode::NotFound,
        "only backlog items take points"
    );
    for bad in [
        "s1",
        "s1=0",
        "s1=-5",
        "s1=+5",
        "=5",
        "s1=5,s1=5",
        "s1=5,",
        "s1=10001",
    ] {
        assert_eq!(
            refused(&doc, 10, seal("v1", "points", s(bad))),
            ErrorCode::InvalidValue,
            "{bad}"
        );
    }
    // A deleted story takes no points.
    doc.apply(&op(
        11,
        "p-ann",
        OpKind::Delete {
            object: "s2".into(),
        },
    ));
    assert_eq!(
        refused(&doc, 12, seal("v1", "points", s("s2=5"))),
        ErrorCode::NotFound
    );
}

#[test]
fn forecast_samples_are_checked() {
    let mut doc = Doc::new();
    let make = op(1, "p-ann", create("f", "forecast", "root", &[]));
    doc.apply(&make);
    assert!(validate(&doc, &op(2, "p-ann", set("f", "throughput", s("3, 5 4,6")))).is_ok());
    for bad in ["3,x", "-1", "1001"] {
        assert_eq!(
            refused(&doc, 2, set("f", "throughput", s(bad))),
            ErrorCode::InvalidValue,
            "{bad}"
        );
    }
}

#[test]
fn parse_allocation_reads_pairs_in_order() {
    assert_eq!(parse_allocation(""), Ok(vec![]));
    assert_eq!(
        parse_allocation("b=2,a=98"),
        Ok(vec![("b".into(), 2), ("a".into(), 98)])
    );
    assert_eq!(
        parse_allocation("a=1,a=2"),
        Err(AllocationError::Repeated("a".into()))
    );
    let many: Vec<String> = (0..101).map(|i| format!("i{i}=1")).collect();
    assert_eq!(
        parse_allocation(&many.join(",")),
        Err(AllocationError::TooMany)
    );
    let totals = allocation_totals(&[s("a=10,b=5"), s("b=20"), s("garbage"), Value::Bool(true)]);
    assert_eq!(totals, BTreeMap::from([("a".into(), 10), ("b".into(), 25)]));
}

/// Stats cases: (scale, cards cast).
fn stats_cases() -> Vec<(&'static str, Vec<&'static str>)> {
    vec![
        ("fibonacci", vec!["3", "5", "5", "8"]),
        ("fibonacci", vec!["5", "5", "5"]),
        ("fibonacci", vec!["5", "?"]),
        ("fibonacci", vec!["13", "1", "coffee", "2"]),
        ("fibonacci", vec!["coffee"]),
        ("fibonacci", vec![]),
        ("fibonacci", vec!["3", "8", "3", "8"]),
        ("tshirt", vec!["M", "S", "XL", "M"]),
        ("tshirt", vec!["L", "L"]),
        ("tshirt", vec!["5", "M"]),
    ]
}

#[test]
fn stats_of_a_round() {
    let st = stats(Some("fibonacci"), ["3", "5", "5", "8"]);
    assert_eq!(
        st,
        Stats {
            votes: 4,
            sized: 4,
            min: Some("3".into()),
            max: Some("8".into()),
            median: Some("5".into()),
            mode: vec!["5".into()],
            average: Some(5.3),
            consensus: false,
            suggestion: Some("5".into()),
        }
    );
    let agreed = stats(Some("fibonacci"), ["5", "5", "5"]);
    assert!(agreed.consensus);
    assert_eq!(agreed.suggestion.as_deref(), Some("5"));
    let unsure = stats(Some("fibonacci"), ["5", "?"]);
    assert!(!unsure.consensus, "a ? is not agreement");
    assert_eq!((unsure.votes, unsure.sized), (2, 1));
    let split = stats(Some("fibonacci"), ["3", "8", "3", "8"]);
    assert_eq!(split.mode, vec!["3", "8"]);
    assert_eq!(split.median.as_deref(), Some("8"), "the higher middle card");
    let shirts = stats(Some("tshirt"), ["M", "S", "XL", "M"]);
    assert_eq!(shirts.min.as_deref(), Some("S"));
    assert_eq!(shirts.max.as_deref(), Some("XL"));
    assert_eq!(shirts.average, None);
    let none = stats(Some("fibonacci"), ["coffee"]);
    assert_eq!(
        (none.min, none.suggestion, none.consensus),
        (None, None, false)
    );
}

#[test]
fn value_per_point_puts_cheap_value_first() {
    let c = |id: &str, value: Option<i64>, estimate: Option<&str>| Candidate {
        id: id.into(),
        value,
        estimate: estimate.map(str::to_owned),
    };
    let items = vec![
        c("big", Some(40), Some("13")),
        c("unsized", Some(90), Some("?")),
        c("quick", Some(30), Some("2")),
        c("none", None, Some("3")),
        c("tie", Some(15), Some("1")),
        c("shirt", Some(50), Some("M")),
    ];
    assert_eq!(
        value_per_point_order(&items),
        vec!["shirt", "quick", "tie", "big", "unsized", "none"]
    );
}

fn candidates_case() -> Vec<Candidate> {
    let mk = |id: &str, value: Option<i64>, estimate: Option<&str>| Candidate {
        id: id.into(),
        value,
        estimate: estimate.map(str::to_owned),
    };
    vec![
        mk("a", Some(10), Some("5")),
        mk("b", Some(10), Some("2")),
        mk("c", None, None),
        mk("d", Some(0), Some("1")),
        mk("e", Some(21), Some("XL")),
        mk("f", Some(6), Some("3")),
    ]
}

#[test]
fn vectors_match_the_file() {
    let cases: Vec<Json> = stats_cases()
        .into_iter()
        .map(|(scale, cast)| {
            json!({
                "scale": scale,
                "cast": cast,
                "stats": stats(Some(scale), cast.iter().copied()),
            })
        })
        .collect();
    let allocations = ["a=10,b=5", "b=20", "c=1"];
    let parse: Vec<Json> = [
        "",
        "a=1",
        "b=2,a=98",
        "a=007",
        "a=10000",
        "a=10001",
        "a=99999999999999999999999",
        "a=0",
        "a= 5",
        "a=+5",
        "a=-5",
        "a=1.5",
        "=5",
        "a",
        "a=5,",
        "a=5,a=6",
        "a=5,,b=6",
    ]
    .iter()
    .map(|text| match parse_allocation(text) {
        Ok(pairs) => json!({ "text": text, "pairs": pairs }),
        Err(e) => json!({ "text": text, "error": e.kind() }),
    })
    .collect();
    let totals = allocation_totals(&allocations.map(s));
    let candidates = candidates_case();
    let want = json!({
        "stats": cases,
        "allocations": allocations,
        "parse": parse,
        "totals": totals,
        "candidates": candidates,
        "order": value_per_point_order(&candidates),
    });
    common::check_vectors(FILE, &want);
}
