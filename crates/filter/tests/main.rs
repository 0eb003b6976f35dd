//! Integration tests for `warden-filter`, compiled as one binary.

mod corpus;
mod dates;
mod haproxy;
mod robustness;
mod samples;

/// Fail2Ban's test-suite time zone (DST changes at 02:00), set once for the whole binary so
/// that local-time conversions are reproducible.
pub fn set_test_timezone() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| std::env::set_var("TZ", "CET-01CEST-02,M3.5.0,M10.5.0"));
}
