//! Fractional index keys for ordered children.
//!
//! A key is an *integer part* followed by a *fraction part*, both in base 62 (`0-9A-Za-z`,
//! ordered as ASCII). The first character of the integer part encodes its length: `a`..`z`
//! are 2..27 characters long (non-negative integers), `A`..`Z` are 27..2 characters long
//! (negative integers). Appending at the end increments the integer part and inserting at the
//! front decrements it, so repeated appends or prepends grow keys logarithmically, not linearly.
//! Inserting between two keys with the same integer part extends the fraction. Keys compare as
//! plain byte strings. The scheme follows the public-domain `fractional-indexing` algorithm
//! (rocicorp, after Evan Wallace's write-up of Figma's ordering).

use std::cmp::Ordering;

const DIGITS: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const ZERO: u8 = b'0';
const LAST: u8 = b'z';
/// The smallest integer, `A` followed by 26 zeros, is reserved so that a key below every other
/// key can always be made by extending its fraction.
const SMALLEST_INTEGER: &str = "A00000000000000000000000000";

/// Why a key is not a valid fractional index.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("position key is empty or has an invalid head character")]
    BadHead,
    #[error("position key has a character outside 0-9A-Za-z")]
    BadDigit,
    #[error("position key is shorter than its integer part")]
    TooShort,
    #[error("position key has a trailing zero in its fraction")]
    TrailingZero,
    #[error("position key uses the reserved smallest integer without a fraction")]
    Reserved,
    #[error("lower position key is not below the upper one")]
    NotOrdered,
    #[error("no key exists beyond the largest integer")]
    Exhausted,
}

fn digit_index(c: u8) -> Option<usize> {
    DIGITS.iter().position(|&d| d == c)
}

fn integer_length(head: u8) -> Result<usize, KeyError> {
    match head {
        b'a'..=b'z' => Ok((head - b'a') as usize + 2),
        b'A'..=b'Z' => Ok((b'Z' - head) as usize + 2),
        _ => Err(KeyError::BadHead),
    }
}

fn split(key: &str) -> Result<(&str, &str), KeyError> {
    let head = *key.as_bytes().first().ok_or(KeyError::BadHead)?;
    let len = integer_length(head)?;
    if len > key.len() {
        return Err(KeyError::TooShort);
    }
    Ok(key.split_at(len))
}

/// Checks that `key` is a well-formed position key.
pub fn validate(key: &str) -> Result<(), KeyError> {
    if !key.bytes().all(|c| digit_index(c).is_some()) {
        return Err(KeyError::BadDigit);
    }
    if key == SMALLEST_INTEGER {
        return Err(KeyError::Reserved);
    }
    let (_, fraction) = split(key)?;
    if fraction.as_bytes().last() == Some(&ZERO) {
        return Err(KeyError::TrailingZero);
    }
    Ok(())
}

/// A fraction strictly between `a` and `b` (`None` meaning "no upper bound").
/// Both are digit strings without trailing zeros and `a < b`.
fn midpoint(a: &[u8], b: Option<&[u8]>) -> Vec<u8> {
    if let Some(b) = b {
        // Skip the common prefix, padding `a` with zeros.
        let mut n = 0;
        while n < b.len() && a.get(n).copied().unwrap_or(ZERO) == b[n] {
            n += 1;
        }
        if n > 0 {
            let mut out = b[..n].to_vec();
            let rest_a = if n < a.len() { &a[n..] } else { &[][..] };
            out.extend(midpoint(rest_a, Some(&b[n..])));
            return out;
        }
    }
    // The first digits (or the lack of one) differ.
    let digit_a = a.first().and_then(|&c| digit_index(c)).unwrap_or(0);
    let digit_b = match b {
        Some(b) => b
            .first()
            .and_then(|&c| digit_index(c))
            .unwrap_or(DIGITS.len()),
        None => DIGITS.len(),
    };
    if digit_b - digit_a > 1 {
        let mid = (digit_a + digit_b).div_ceil(2);
        vec![DIGITS[mid]]
    } else if let Some(b) = b.filter(|b| b.len() > 1) {
        vec![b[0]]
    } else {
        let mut out = vec![DIGITS[digit_a]];
        let rest_a = if a.len() > 1 { &a[1..] } else { &[][..] };
        out.extend(midpoint(rest_a, None));
        out
    }
}

fn increment_integer(x: &str) -> Option<String> {
    let bytes = x.as_bytes();
    let head = bytes[0];
    let mut digits = bytes[1..].to_vec();
    let mut carry = true;
    for d in digits.iter_mut().rev() {
        let next = digit_index(*d).unwrap_or(0) + 1;
        if next == DIGITS.len() {
            *d = ZERO;
        } else {
            *d = DIGITS[next];
            carry = false;
            break;
        }
    }
    if carry {
        if head == b'Z' {
            return Some("a0".to_owned());
        }
        if head == b'z' {
            return None;
        }
        let h = head + 1;
        if h > b'a' {
            digits.push(ZERO);
        } else {
            digits.pop();
        }
        let mut out = vec![h];
        out.extend(digits);
        return Some(String::from_utf8(out).expect("digits are ASCII"));
    }
    let mut out = vec![head];
    out.extend(digits);
    Some(String::from_utf8(out).expect("digits are ASCII"))
}

fn decrement_integer(x: &str) -> Option<String> {
    let bytes = x.as_bytes();
    let head = bytes[0];
    let mut digits = bytes[1..].to_vec();
    let mut borrow = true;
    for d in digits.iter_mut().rev() {
        match digit_index(*d).unwrap_or(0) {
            0 => *d = LAST,
            i => {
                *d = DIGITS[i - 1];
                borrow = false;
                break;
            }
        }
    }
    if borrow {
        if head == b'a' {
            return Some("Zz".to_owned());
        }
        if head == b'A' {
            return None;
        }
        let h = head - 1;
        if h < b'Z' {
            digits.push(LAST);
        } else {
            digits.pop();
        }
        let mut out = vec![h];
        out.extend(digits);
        return Some(String::from_utf8(out).expect("digits are ASCII"));
    }
    let mut out = vec![head];
    out.extend(digits);
    Some(String::from_utf8(out).expect("digits are ASCII"))
}

fn join(integer: &str, fraction: Vec<u8>) -> String {
    let mut out = integer.to_owned();
    out.push_str(std::str::from_utf8(&fraction).expect("digits are ASCII"));
    out
}

/// A key strictly between `a` and `b`. `None` for `a` means "before everything", `None` for `b`
/// means "after everything"; `between(None, None)` is the first key of an empty list.
pub fn between(a: Option<&str>, b: Option<&str>) -> Result<String, KeyError> {
    if let Some(a) = a {
        validate(a)?;
    }
    if let Some(b) = b {
        validate(b)?;
    }
    match (a, b) {
        (None, None) => Ok("a0".to_owned()),
        (None, Some(b)) => {
            let (ib, fb) = split(b)?;
            if ib == SMALLEST_INTEGER {
                return Ok(join(ib, midpoint(b"", Some(fb.as_bytes()))));
            }
            if ib.len() < b.len() {
                return Ok(ib.to_owned());
            }
            match decrement_integer(ib) {
                // The smallest integer is reserved: extend it with a fraction instead.
                Some(i) if i == SMALLEST_INTEGER => Ok(join(&i, midpoint(b"", None))),
                Some(i) => Ok(i),
                None => Err(KeyError::Exhausted),
            }
        }
        (Some(a), None) => {
            let (ia, fa) = split(a)?;
            match increment_integer(ia) {
                Some(i) => Ok(i),
                None => Ok(join(ia, midpoint(fa.as_bytes(), None))),
            }
        }
        (Some(a), Some(b)) => {
            if a.cmp(b) != Ordering::Less {
                return Err(KeyError::NotOrdered);
            }
            let (ia, fa) = split(a)?;
            let (ib, fb) = split(b)?;
            if ia == ib {
                return Ok(join(ia, midpoint(fa.as_bytes(), Some(fb.as_bytes()))));
            }
            let i = increment_integer(ia).ok_or(KeyError::Exhausted)?;
            if i.as_str() < b {
                Ok(i)
            } else {
                Ok(join(ia, midpoint(fa.as_bytes(), None)))
            }
        }
    }
}

/// The key suffix of a writer: appended to every key it generates, so that keys generated by
/// different members never collide, even when they insert at the same place at the same
/// instant (Figma does the same with a per-client suffix). For the server's participant ids
/// (`p-` and 10 lowercase letters or digits) the suffix is those 10 characters and a closing
/// `1` (a fraction may not end in `0`): distinct participants, distinct suffixes. Any other id
/// keeps its base-62 characters, at most 16 of them.
pub fn client_suffix(client: &str) -> String {
    let body = client.strip_prefix("p-").unwrap_or(client);
    let mut out: String = body
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(16)
        .collect();
    out.push('1');
    out
}

/// A key strictly between `a` and `b` that ends with `suffix` (see [`client_suffix`]): the
/// key [`between`] gives, with the suffix appended; when that would reach `b` (the key is a
/// prefix of `b`), the key moves closer to `b` first. `suffix` must be base-62 digits not
/// ending in `0`.
pub fn between_with(a: Option<&str>, b: Option<&str>, suffix: &str) -> Result<String, KeyError> {
    if suffix.is_empty() {
        return between(a, b);
    }
    if !suffix.bytes().all(|c| digit_index(c).is_some()) || suffix.ends_with('0') {
        return Err(KeyError::BadDigit);
    }
    let mut key = between(a, b)?;
    // Each round the key gets longer and stays below `b`, so this ends within len(b) rounds.
    loop {
        let candidate = format!("{key}{suffix}");
        match b {
            Some(b) if candidate.as_str() >= b => key = between(Some(&key), Some(b))?,
            _ => return Ok(candidate),
        }
    }
}

/// Where an item goes when placed at `index` among `keys` (its future siblings' keys, in
/// order, without the item): its own key, and the siblings that must move with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    pub key: String,
    /// `(index into keys, new key)` for siblings that shared a key with the one before the
    /// slot (a tie stored by an older client, or by one writer in two tabs): they get fresh
    /// keys after the item so that the item lands between them.
    pub rekey: Vec<(usize, String)>,
}

/// The placement of an item at `index` of `keys`, with keys ending in `suffix`. Equal
/// neighbouring keys leave no key between them; then the tied siblings from `index` on move
/// up, after the item and before the next greater key.
pub fn place(keys: &[&str], index: usize, suffix: &str) -> Result<Placement, KeyError> {
    let index = index.min(keys.len());
    let lo = index.checked_sub(1).map(|i| keys[i]);
    let hi = keys.get(index).copied();
    match (lo, hi) {
        (Some(lo), Some(hi)) if lo >= hi => {
            let end = index + keys[index..].iter().take_while(|k| **k <= lo).count();
            let next = keys.get(end).copied();
            let key = between_with(Some(lo), next, suffix)?;
            let mut prev = key.clone();
            let mut rekey = Vec::with_capacity(end - index);
            for i in index..end {
                let k = between_with(Some(&prev), next, suffix)?;
                rekey.push((i, k.clone()));
                prev = k;
            }
            Ok(Placement { key, rekey })
        }
        _ => Ok(Placement {
            key: between_with(lo, hi, suffix)?,
            rekey: Vec::new(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_keys() {
        assert_eq!(between(None, None).unwrap(), "a0");
        assert_eq!(between(Some("a0"), None).unwrap(), "a1");
        assert_eq!(between(None, Some("a0")).unwrap(), "Zz");
        assert_eq!(between(Some("a0"), Some("a1")).unwrap(), "a0V");
        assert_eq!(between(Some("az"), None).unwrap(), "b00");
        assert_eq!(between(Some("a0V"), Some("a1")).unwrap(), "a0l");
        assert_eq!(between(Some("Zz"), Some("a0")).unwrap(), "ZzV");
    }

    #[test]
    fn rejects_bad_keys() {
        assert_eq!(validate(""), Err(KeyError::BadHead));
        assert_eq!(validate("a"), Err(KeyError::TooShort));
        assert_eq!(validate("a00"), Err(KeyError::TrailingZero));
        assert_eq!(validate("a0-"), Err(KeyError::BadDigit));
        assert_eq!(validate("!0"), Err(KeyError::BadDigit));
        assert_eq!(between(Some("a1"), Some("a0")), Err(KeyError::NotOrdered));
        assert_eq!(between(Some("a1"), Some("a1")), Err(KeyError::NotOrdered));
        assert_eq!(between_with(None, None, "x0"), Err(KeyError::BadDigit));
    }

    #[test]
    fn suffixed_keys() {
        assert_eq!(client_suffix("p-abc123xyz0"), "abc123xyz01");
        assert_eq!(between_with(None, None, "k1").unwrap(), "a0k1");
        assert_eq!(between_with(Some("a0k1"), None, "j1").unwrap(), "a1j1");
        // `between` gives "a0" + "V", a prefix of the upper key: move closer first.
        let k = between_with(Some("a0"), Some("a0Vz"), "z1").unwrap();
        assert!("a0" < k.as_str() && k.as_str() < "a0Vz", "{k}");
        assert!(k.ends_with("z1"));
    }

    #[test]
    fn placing_between_equal_keys_moves_the_tie() {
        let keys = ["a5", "a6", "a6", "a6", "a8"];
        let p = place(&keys, 2, "q1").unwrap();
        assert!("a6" < p.key.as_str() && p.key.as_str() < "a8");
        assert_eq!(p.rekey.iter().map(|(i, _)| *i).collect::<Vec<_>>(), [2, 3]);
        let mut prev = p.key.as_str();
        for (_, k) in &p.rekey {
            assert!(prev < k.as_str() && k.as_str() < "a8");
            prev = k;
        }
        assert!(place(&keys, 1, "q1").unwrap().rekey.is_empty());
        assert!(place(&keys, 5, "q1").unwrap().rekey.is_empty());
    }
}
