//! Integration tests of `warden-config` on real files in temporary directories.
//! One test binary (modules below) keeps link time low.

mod support;

mod broken;
mod debian;
mod default_tree;
mod robustness;
mod semantics;
mod shell;
mod tutorial;
