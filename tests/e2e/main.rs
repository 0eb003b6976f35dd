//! End-to-end tests: the real `warden` binary, real files, real iptables inside network
//! namespaces the tests create. One test binary, one module per story.

mod support;

mod broken_config;
mod client;
mod crash;
mod f2b_differential;
mod journal;
mod regex_cmd;
mod rotation;
mod sample_suite;
mod scale;
mod tutorial;
