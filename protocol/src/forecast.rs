//! Monte Carlo forecast (being written).
