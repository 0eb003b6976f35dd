//! Fail2Ban's sample-log suite through `warden test-filter`.
