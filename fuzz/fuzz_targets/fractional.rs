//! Position keys: for any two valid keys `a < b` (or open ends), `between` and `between_with`
//! give a valid key strictly between them; `place` among sorted keys (ties included) gives an
//! order where the item sits at its index and every sibling keeps its relative order. Invalid
//! input is refused with an error, never a panic.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use plenary_protocol::fractional::{between, between_with, client_suffix, place, validate};

#[derive(Arbitrary, Debug)]
struct Input {
    a: Option<String>,
    b: Option<String>,
    client: String,
    keys: Vec<String>,
    index: u8,
}

fn check_between(a: Option<&str>, b: Option<&str>, got: &str) {
    assert!(
        validate(got).is_ok(),
        "{got:?} from {a:?}..{b:?} is not a valid key"
    );
    assert!(a.is_none_or(|a| a < got), "{got:?} not above {a:?}");
    assert!(b.is_none_or(|b| got < b), "{got:?} not below {b:?}");
}

fuzz_target!(|input: Input| {
    let a = input.a.as_deref();
    let b = input.b.as_deref();
    let suffix = client_suffix(&input.client);
    let plain = between(a, b);
    let suffixed = between_with(a, b, &suffix);
    let valid = a.is_none_or(|k| validate(k).is_ok()) && b.is_none_or(|k| validate(k).is_ok());
    let ordered = matches!((a, b), (Some(a), Some(b)) if a < b) || a.is_none() || b.is_none();
    if valid && ordered {
        check_between(
            a,
            b,
            &plain.expect("valid ordered bounds have a key between"),
        );
        check_between(
            a,
            b,
            &suffixed.expect("valid ordered bounds have a suffixed key between"),
        );
    }

    // Placement among valid keys in order (equal neighbours allowed, as older clients left).
    let mut keys: Vec<String> = input
        .keys
        .into_iter()
        .filter(|k| validate(k).is_ok())
        .take(16)
        .collect();
    keys.sort();
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let index = usize::from(input.index) % (refs.len() + 1);
    let placement = place(&refs, index, &suffix).expect("valid sorted keys always have a place");
    let mut after: Vec<(String, usize)> = refs
        .iter()
        .enumerate()
        .map(|(i, k)| {
            let moved = placement
                .rekey
                .iter()
                .find(|(j, _)| *j == i)
                .map(|(_, k)| k.clone());
            (moved.unwrap_or_else(|| (*k).to_owned()), i)
        })
        .collect();
    assert!(validate(&placement.key).is_ok(), "{:?}", placement.key);
    for (k, _) in &after {
        assert!(validate(k).is_ok(), "{k:?}");
        assert_ne!(*k, placement.key, "the item's key ties with a sibling");
    }
    after.push((placement.key.clone(), usize::MAX));
    // Sort by key, breaking ties by original index like the document does by stamp.
    after.sort();
    let at = after.iter().position(|(_, i)| *i == usize::MAX).unwrap();
    assert_eq!(
        at, index,
        "placed at {at}, wanted {index}: {refs:?} -> {after:?}"
    );
    let others: Vec<usize> = after
        .iter()
        .filter(|(_, i)| *i != usize::MAX)
        .map(|(_, i)| *i)
        .collect();
    assert!(
        others.windows(2).all(|w| w[0] < w[1]),
        "siblings reordered: {after:?}"
    );
});
