//! Queue (to come).
