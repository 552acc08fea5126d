//! Estimation (being written).
