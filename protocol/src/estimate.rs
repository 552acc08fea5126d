//! Estimation exercises: the cards of a planning-poker scale, the statistics of a revealed round,
//! and the allocations of a value-scoring round ("buy a feature").
//!
//! Pure functions over values the document holds, so the server, the tests and the web client's
//! port (`web-client/js/lib/estimate.js`, held to this file by `protocol/tests/vectors/estimate.json`)
//! agree on every figure a team sees.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::schema::MAX_BUDGET;
use crate::value::Value;

/// The cards of a Fibonacci round, in scale order: sizes, then "?" (no idea) and coffee (a break).
pub const FIBONACCI: &[&str] = &["1", "2", "3", "5", "8", "13", "21", "?", "coffee"];
/// The cards of a T-shirt round, in scale order.
pub const TSHIRT: &[&str] = &["XS", "S", "M", "L", "XL", "?", "coffee"];
/// Cards that say something other than a size.
pub const NOT_A_SIZE: &[&str] = &["?", "coffee"];
/// Points each member spreads over the backlog in a value-scoring round, unless it says otherwise.
pub const DEFAULT_BUDGET: i64 = 100;
/// Most items one allocation may name.
pub const MAX_ALLOCATION_ITEMS: usize = 100;

/// The cards of `scale` (`fibonacci`, the default, or `tshirt`).
pub fn scale_cards(scale: Option<&str>) -> &'static [&'static str] {
    match scale {
        Some("tshirt") => TSHIRT,
        _ => FIBONACCI,
    }
}

/// What a revealed round says, computed over its cards.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// Every card cast.
    pub votes: u32,
    /// Cards that are a size (neither "?" nor coffee).
    pub sized: u32,
    pub min: Option<String>,
    pub max: Option<String>,
    /// The middle size in scale order (the higher of the two middle ones for an even count).
    pub median: Option<String>,
    /// The sizes cast most often, in scale order.
    pub mode: Vec<String>,
    /// The mean of the points (Fibonacci only), rounded to one decimal.
    pub average: Option<f64>,
    /// Every card cast is the same size.
    pub consensus: bool,
    /// What to accept unless the team decides otherwise: the agreed size, else the median.
    pub suggestion: Option<String>,
}

/// The statistics of the cards `cast` in a round on `scale`. Cards outside the scale are ignored.
pub fn stats<'a>(scale: Option<&str>, cast: impl IntoIterator<Item = &'a str>) -> Stats {
    let cards = scale_cards(scale);
    let mut counts = vec![0u32; cards.len()];
    for card in cast {
        if let Some(i) = cards.iter().position(|c| *c == card) {
            counts[i] += 1;
        }
    }
    let votes: u32 = counts.iter().sum();
    // Indices of sized cards, one per vote, in scale order.
    let sizes: Vec<usize> = (0..cards.len())
        .filter(|i| !NOT_A_SIZE.contains(&cards[*i]))
        .flat_map(|i| std::iter::repeat_n(i, counts[i] as usize))
        .collect();
    let card = |i: usize| cards[i].to_owned();
    let top = sizes.iter().map(|i| counts[*i]).max().unwrap_or(0);
    let mut mode: Vec<String> = Vec::new();
    for i in &sizes {
        if counts[*i] == top && mode.last().map(String::as_str) != Some(cards[*i]) {
            mode.push(card(*i));
        }
    }
    let average = (!sizes.is_empty() && cards == FIBONACCI).then(|| {
        let sum: i64 = sizes
            .iter()
            .filter_map(|i| cards[*i].parse::<i64>().ok())
            .sum();
        (sum as f64 * 10.0 / sizes.len() as f64).round() / 10.0
    });
    let median = sizes.get(sizes.len() / 2).map(|i| card(*i));
    let consensus = votes > 0 && sizes.len() as u32 == votes && mode.len() == 1 && top == votes;
    Stats {
        votes,
        sized: sizes.len() as u32,
        min: sizes.first().map(|i| card(*i)),
        max: sizes.last().map(|i| card(*i)),
        suggestion: if consensus {
            mode.first().cloned()
        } else {
            median.clone()
        },
        median,
        mode,
        average,
        consensus,
    }
}

/// Why an allocation does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AllocationError {
    #[error("write an allocation as item=points pairs separated by commas, not {0:?}")]
    Malformed(String),
    #[error("{0} is named twice")]
    Repeated(String),
    #[error("at most {MAX_ALLOCATION_ITEMS} items per allocation")]
    TooMany,
    #[error("{0}: at most {MAX_BUDGET} points per item")]
    TooManyPoints(String),
}

impl AllocationError {
    /// A stable name of the error's kind (for the vectors shared with the web client).
    pub fn kind(&self) -> &'static str {
        match self {
            AllocationError::Malformed(_) => "malformed",
            AllocationError::Repeated(_) => "repeated",
            AllocationError::TooMany => "too_many",
            AllocationError::TooManyPoints(_) => "too_many_points",
        }
    }
}

/// Parses a value-scoring allocation, `item-1=40,item-2=60`: object ids and points from 1 to
/// [`MAX_BUDGET`] written as decimal digits (no sign, no spaces; leading zeros are fine). The
/// empty string is an empty allocation. Pairs come back in the order written.
pub fn parse_allocation(text: &str) -> Result<Vec<(String, i64)>, AllocationError> {
    let mut out: Vec<(String, i64)> = Vec::new();
    if text.is_empty() {
        return Ok(out);
    }
    for pair in text.split(',') {
        let malformed = || AllocationError::Malformed(pair.to_owned());
        let (id, digits) = pair.split_once('=').ok_or_else(malformed)?;
        if id.is_empty() || digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(malformed());
        }
        // All digits: a parse failure can only be an overflow, which is too many points too.
        let points: i64 = digits
            .parse()
            .map_err(|_| AllocationError::TooManyPoints(id.to_owned()))?;
        if points == 0 {
            return Err(malformed());
        }
        if points > MAX_BUDGET {
            return Err(AllocationError::TooManyPoints(id.to_owned()));
        }
        if out.iter().any(|(seen, _)| seen == id) {
            return Err(AllocationError::Repeated(id.to_owned()));
        }
        if out.len() == MAX_ALLOCATION_ITEMS {
            return Err(AllocationError::TooMany);
        }
        out.push((id.to_owned(), points));
    }
    Ok(out)
}

/// The points per item over revealed allocations (each a [`Value::Text`]); unparsable values
/// are skipped.
pub fn allocation_totals<'a>(values: impl IntoIterator<Item = &'a Value>) -> BTreeMap<String, i64> {
    let mut totals: BTreeMap<String, i64> = BTreeMap::new();
    for value in values {
        let Some(Ok(pairs)) = value.as_text().map(parse_allocation) else {
            continue;
        };
        for (id, points) in pairs {
            *totals.entry(id).or_default() += points;
        }
    }
    totals
}

/// The points an estimate stands for when ordering by value per point: Fibonacci sizes as
/// themselves, T-shirt sizes on the same ladder (XS 1, S 2, M 3, L 5, XL 8); "?" has none.
pub fn points(estimate: &str) -> Option<i64> {
    match estimate {
        "XS" => Some(1),
        "S" => Some(2),
        "M" => Some(3),
        "L" => Some(5),
        "XL" => Some(8),
        other => other.parse().ok().filter(|p| *p > 0),
    }
}

/// One backlog item as the value-per-point ordering sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Candidate {
    pub id: String,
    pub value: Option<i64>,
    pub estimate: Option<String>,
}

/// A suggested backlog order, highest value per point first (WSJF-like, with the estimate as
/// the job size). Items without a value or a sized estimate keep their relative order after the
/// others; ties keep the current order. Ratios compare exactly (cross-multiplied integers).
pub fn value_per_point_order(items: &[Candidate]) -> Vec<String> {
    let ratio = |c: &Candidate| Some((c.value?, points(c.estimate.as_deref()?)?));
    let mut scored: Vec<(usize, (i64, i64))> = Vec::new();
    let mut rest: Vec<usize> = Vec::new();
    for (i, c) in items.iter().enumerate() {
        match ratio(c) {
            Some(r) => scored.push((i, r)),
            None => rest.push(i),
        }
    }
    scored.sort_by(|(i, (va, pa)), (j, (vb, pb))| {
        (i128::from(*vb) * i128::from(*pa))
            .cmp(&(i128::from(*va) * i128::from(*pb)))
            .then(i.cmp(j))
    });
    scored
        .into_iter()
        .map(|(i, _)| i)
        .chain(rest)
        .map(|i| items[i].id.clone())
        .collect()
}
