//! `warden regex` against `fail2ban-regex`.
