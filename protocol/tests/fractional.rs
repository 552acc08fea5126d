//! Fractional position keys: ordering for random pairs, and how long keys grow under the
//! insertion patterns of a backlog (append, prepend, repeated inserts into one gap).
//!
//! Failing seeds are saved in `protocol/proptest-regressions/fractional.txt`; commit that file.

use plenary_protocol::fractional::{between, validate, KeyError};
use plenary_protocol::schema::MAX_POS_CHARS;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;

const DIGITS: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

mod common;

/// Cases from `cases`, seeds persisted in `proptest-regressions/fractional.txt`.
fn config(cases: u32) -> ProptestConfig {
    common::config(cases, "proptest-regressions/fractional.txt")
}

/// Digits biased towards the extremes and the middle, where carries and common prefixes live.
fn digit() -> impl Strategy<Value = u8> {
    prop_oneof![
        prop::sample::select(b"01Vyz".to_vec()),
        prop::sample::select(DIGITS.to_vec()),
    ]
}

/// Any valid key: a head, the integer digits its head asks for, a fraction without a trailing
/// zero. Heads near the `Z`/`a` boundary are favoured so that pairs share integer parts.
fn valid_key() -> impl Strategy<Value = String> {
    let head = prop_oneof![
        3 => prop::sample::select(b"YZab".to_vec()),
        1 => prop::sample::select((b'A'..=b'Z').chain(b'a'..=b'z').collect::<Vec<u8>>()),
    ];
    (head, vec(digit(), 26), vec(digit(), 0..6)).prop_filter_map(
        "the reserved smallest integer is not a key",
        |(head, digits, mut fraction)| {
            let len = if head.is_ascii_lowercase() {
                usize::from(head - b'a') + 1
            } else {
                usize::from(b'Z' - head) + 1
            };
            while fraction.last() == Some(&b'0') {
                fraction.pop();
            }
            let mut key = vec![head];
            key.extend(&digits[..len]);
            key.extend(fraction);
            let key = String::from_utf8(key).unwrap();
            validate(&key).is_ok().then_some(key)
        },
    )
}

fn assert_strictly_between(lo: Option<&str>, hi: Option<&str>) -> String {
    let k = between(lo, hi).unwrap_or_else(|e| panic!("between({lo:?}, {hi:?}): {e}"));
    assert_eq!(validate(&k), Ok(()), "between({lo:?}, {hi:?}) = {k:?}");
    if let Some(lo) = lo {
        assert!(
            lo < k.as_str(),
            "between({lo:?}, {hi:?}) = {k:?} is not above"
        );
    }
    if let Some(hi) = hi {
        assert!(
            k.as_str() < hi,
            "between({lo:?}, {hi:?}) = {k:?} is not below"
        );
    }
    k
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn between_is_strictly_between(a in valid_key(), b in valid_key()) {
        prop_assume!(a != b);
        let (lo, hi) = if a < b { (a, b) } else { (b, a) };
        assert_strictly_between(Some(&lo), Some(&hi));
        assert_strictly_between(None, Some(&lo));
        assert_strictly_between(Some(&hi), None);
        prop_assert_eq!(between(Some(&hi), Some(&lo)), Err(KeyError::NotOrdered));
        prop_assert_eq!(between(Some(&lo), Some(&lo)), Err(KeyError::NotOrdered));
    }

    /// A client inserting at random slots of a list keeps it strictly ordered.
    #[test]
    fn random_inserts_keep_order(slots in vec(any::<Index>(), 1..200)) {
        let mut keys: Vec<String> = Vec::new();
        for slot in slots {
            let i = slot.index(keys.len() + 1);
            let lo = i.checked_sub(1).map(|j| keys[j].as_str());
            let hi = keys.get(i).map(String::as_str);
            let k = assert_strictly_between(lo, hi);
            keys.insert(i, k);
        }
        prop_assert!(keys.windows(2).all(|w| w[0] < w[1]));
    }
}

/// Asserts `keys` is strictly increasing and returns its longest key length.
fn check_sorted(keys: &[String]) -> usize {
    for w in keys.windows(2) {
        assert!(w[0] < w[1], "{:?} is not below {:?}", w[0], w[1]);
    }
    keys.iter().map(String::len).max().unwrap_or(0)
}

#[test]
fn ten_thousand_appends_stay_short() {
    let mut keys: Vec<String> = Vec::new();
    for _ in 0..10_000 {
        let k = assert_strictly_between(keys.last().map(String::as_str), None);
        keys.push(k);
    }
    // Measured: 4 characters (a0..az, b00..bzz, then c000..; the last key is "c1aH").
    assert!(check_sorted(&keys) <= 4);
}

#[test]
fn ten_thousand_prepends_stay_short() {
    let mut keys: Vec<String> = Vec::new();
    for _ in 0..10_000 {
        let k = assert_strictly_between(None, keys.last().map(String::as_str));
        keys.push(k);
    }
    keys.reverse();
    // Measured: 4 characters (Zz..Z0, Yzz..Y00, then X...; the first key is "XyPj").
    assert!(check_sorted(&keys) <= 4);
}

/// Inserts `n` keys into the gap next to a fixed neighbour: each new key goes between the
/// fixed key and the key inserted just before it. This is the worst case for fractional keys:
/// every insert halves the same gap, one bit per insert, about six inserts per base-62 digit.
/// Asserts the list stays strictly ordered; returns the keys in insertion order.
fn crowd_one_gap(lo: &str, hi: &str, n: usize, after_lo: bool) -> Vec<String> {
    let mut inserted: Vec<String> = Vec::new();
    for _ in 0..n {
        let moving = inserted.last().map(String::as_str);
        let k = if after_lo {
            assert_strictly_between(Some(lo), Some(moving.unwrap_or(hi)))
        } else {
            assert_strictly_between(Some(moving.unwrap_or(lo)), Some(hi))
        };
        inserted.push(k);
    }
    let mut list = inserted.clone();
    if after_lo {
        list.reverse();
    }
    list.insert(0, lo.to_owned());
    list.push(hi.to_owned());
    check_sorted(&list);
    inserted
}

/// The 1-based number of the first insert whose key is longer than `limit`.
fn first_insert_longer_than(inserted: &[String], limit: usize) -> Option<usize> {
    inserted.iter().position(|k| k.len() > limit).map(|i| i + 1)
}

fn longest(keys: &[String]) -> usize {
    keys.iter().map(String::len).max().unwrap_or(0)
}

#[test]
fn thousand_inserts_right_after_one_key() {
    let inserted = crowd_one_gap("a0", "a1", 1_000, true);
    // Measured: 169 characters after 1,000 inserts.
    assert!(longest(&inserted) <= 170, "{}", longest(&inserted));
    // Growth is linear (about one character per six inserts; 128 characters are passed at
    // insert 757), so 1,000 inserts into one gap stay well inside MAX_POS_CHARS.
    assert_eq!(first_insert_longer_than(&inserted, 128), Some(757));
    assert_eq!(first_insert_longer_than(&inserted, MAX_POS_CHARS), None);
}

#[test]
fn thousand_inserts_right_before_one_key() {
    // The mirror case is worse: approaching from below fills the fraction with `z` digits.
    let inserted = crowd_one_gap("a0", "a1", 1_000, false);
    // Measured: 202 characters after 1,000 inserts; 128 are passed at insert 631.
    assert!(longest(&inserted) <= 203, "{}", longest(&inserted));
    assert_eq!(first_insert_longer_than(&inserted, 128), Some(631));
    assert_eq!(first_insert_longer_than(&inserted, MAX_POS_CHARS), None);
}

#[test]
fn edges_of_the_key_space() {
    let largest_integer = format!("z{}", "z".repeat(26));
    let k = assert_strictly_between(Some(&largest_integer), None);
    assert_eq!(k, format!("{largest_integer}V"));
    let smallest_with_fraction = format!("A{}V", "0".repeat(26));
    assert_strictly_between(None, Some(&smallest_with_fraction));
    assert_strictly_between(Some("Zz"), Some("a0"));
    assert_strictly_between(Some("a0zzz"), Some("a1"));
    assert_strictly_between(Some("Zzzz"), Some("a0V"));
    assert_eq!(
        validate(&format!("A{}", "0".repeat(26))),
        Err(KeyError::Reserved)
    );
}

/// `between(None, Some(b))` decrements `b`'s integer part. When that lands on the reserved
/// smallest integer, the result is a key `validate` refuses (fractional.rs, `between`, the
/// `(None, Some(b))` arm). A client that finds such a `b` at the front of a list cannot insert
/// before it: the server would reject the key with `invalid_position`.
#[test]
fn key_before_the_second_smallest_integer_is_valid() {
    let second_smallest = format!("A{}1", "0".repeat(25));
    assert_eq!(validate(&second_smallest), Ok(()));
    assert_strictly_between(None, Some(&second_smallest));
}

/// The vectors the web client's tests read too (`tests/vectors/fractional.json`): known keys
/// between bounds, and the error each malformed key gets.
#[test]
fn shared_vectors_with_the_web_client() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/fractional.json");
    let text = std::fs::read_to_string(path).expect("read the vectors");
    let vectors: serde_json::Value = serde_json::from_str(&text).expect("the vectors are JSON");
    let key = |v: &serde_json::Value| v.as_str().map(str::to_owned);
    let cases = vectors["between"].as_array().expect("between cases");
    assert!(cases.len() >= 10, "the file holds the known keys");
    for case in cases {
        let (a, b) = (key(&case[0]), key(&case[1]));
        let want = key(&case[2]).expect("a wanted key");
        let got = between(a.as_deref(), b.as_deref());
        assert_eq!(got.as_deref(), Ok(want.as_str()), "between({a:?}, {b:?})");
    }
    for case in vectors["not_ordered"]
        .as_array()
        .expect("not_ordered cases")
    {
        let (a, b) = (key(&case[0]), key(&case[1]));
        let got = between(a.as_deref(), b.as_deref());
        assert_eq!(got, Err(KeyError::NotOrdered), "between({a:?}, {b:?})");
    }
    for case in vectors["invalid"].as_array().expect("invalid keys") {
        let k = case[0].as_str().expect("a key");
        let code = case[1].as_str().expect("an error code");
        let got = validate(k).expect_err(k);
        assert_eq!(format!("{got:?}"), code, "validate({k:?})");
    }
}
