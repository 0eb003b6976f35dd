//! No input makes loading panic or hang: mutated copies of real files, random option text.
//! (A cargo-fuzz target can reuse the same entry points later.)

use std::fs;
use std::time::{Duration, Instant};

use crate::support::{copy_of_shipped, write};

/// xorshift64*: deterministic, dependency-free randomness.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const SPECIALS: &[&str] = &[
    "%",
    "%(",
    ")s",
    "%(known/",
    "%(__name__)s",
    "<",
    ">",
    "<known/",
    "[",
    "]",
    "=",
    ":",
    ";",
    " ;",
    "#",
    "\n",
    "\n   ",
    " ",
    "\"",
    "'",
    ",",
    "/",
    "\\",
    "[INCLUDES]\nbefore = ",
    "[Init?family=inet6]\n",
    "é",
    "\r\n",
    "%(action_)s",
    "<name>",
    "<<x>>",
    "[DEFAULT]\n",
    "enabled = true\n",
];

fn mutate(rng: &mut Rng, text: &str) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for _ in 0..1 + rng.below(6) {
        let at = rng.below(chars.len() + 1);
        match rng.below(3) {
            0 => {
                let s = SPECIALS[rng.below(SPECIALS.len())];
                chars.splice(at..at, s.chars());
            }
            1 => {
                let end = (at + rng.below(20)).min(chars.len());
                chars.drain(at..end);
            }
            _ => {
                let end = (at + rng.below(40)).min(chars.len());
                let copy: Vec<char> = chars[at..end].to_vec();
                let to = rng.below(chars.len() + 1);
                chars.splice(to..to, copy);
            }
        }
    }
    chars.into_iter().collect()
}

#[test]
fn mutated_trees_never_panic_or_hang() {
    let dir = copy_of_shipped();
    let root = dir.path();
    let files = [
        "jail.conf",
        "action.d/iptables.conf",
        "action.d/sendmail-whois.conf",
        "action.d/sendmail-common.conf",
        "filter.d/sshd.conf",
        "filter.d/common.conf",
    ];
    write(root, "jail.d/haproxy.conf", "[haproxy-noserv]\nenabled = true\nfilter = haproxy-noserv\naction = iptables-allports sendmail-whois[name=H, dest=d]\nlogpath = /l\n");
    let originals: Vec<String> = files
        .iter()
        .map(|f| fs::read_to_string(root.join(f)).unwrap())
        .collect();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for _ in 0..300 {
        let i = rng.below(files.len());
        let text = mutate(&mut rng, &originals[i]);
        write(root, files[i], &text);
        let started = Instant::now();
        if let Ok(config) = warden_config::load(root) {
            for jail in &config.jails {
                for a in &jail.actions {
                    for k in a.properties.keys() {
                        let _ = a.render(k, "inet4");
                        let _ = a.render(k, "inet6");
                    }
                    let _ = a.timeout();
                }
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "slow on {}:\n{text}",
            files[i]
        );
        write(root, files[i], &originals[i]);
    }
}

#[test]
fn random_values_never_panic() {
    let mut rng = Rng(42);
    let alphabet: Vec<char> = "0123456789 dhmswyoDHM.+-/,:[]\"'=abcé%()s<>\n\t;"
        .chars()
        .collect();
    for _ in 0..20_000 {
        let len = rng.below(24);
        let s: String = (0..len)
            .map(|_| alphabet[rng.below(alphabet.len())])
            .collect();
        let _ = warden_config::parse_duration(&s);
        let _ = warden_config::parse_ignoreip(&s);
    }
}
