//! Giving back memory that start-up used and an idle daemon does not.
//!
//! Two kinds, both released once start-up (or a reload) has settled
//! ([`release_after_startup`]):
//! - free heap memory the allocator keeps (`malloc_trim`, [`crate::jail::release_free_memory`]);
//! - the mapped pages of code and read-only data that start-up touched (reading and checking
//!   the configuration, compiling filters, setting up the firewall) in the `warden` binary and
//!   its libraries ([`release_startup_pages`]).
//!
//! The second changes what the process has mapped, not what the machine holds: the pages stay
//! in the page cache (shared with every other process using the same files, and reclaimable as
//! any cached file), and a page the daemon needs again is mapped back by a minor fault, without
//! reading the disk unless the kernel had meanwhile dropped it from the cache. What the
//! resident set size then counts of these files is what the daemon used since.

use std::time::Duration;

/// How long after start-up or a reload the release waits: the firewall set-up, the
/// reconciliation of the kernel sets, the first reading of the logs and the store's checkpoint
/// (one second after its last write) run in that time.
pub const SETTLE: Duration = Duration::from_secs(2);

/// Runs [`release_after_startup`] once [`SETTLE`] has passed, on the current tokio runtime.
pub fn release_when_settled() {
    tokio::spawn(async {
        tokio::time::sleep(SETTLE).await;
        release_after_startup();
    });
}

/// Return free heap memory and unmap the start-up code (see the module documentation).
pub fn release_after_startup() {
    let released = release_startup_pages();
    // After, so that what reading /proc/self/smaps allocated is given back too.
    crate::jail::release_free_memory();
    tracing::debug!(kib = released >> 10, "start-up pages released");
}

/// Drops this process's mappings of the pages of its read-only file mappings (code, read-only
/// data of the binary and its libraries) with `madvise(MADV_DONTNEED)`; returns how many
/// bytes were resident in them.
///
/// Only private mappings that are not writable and hold no anonymous page (per
/// `/proc/self/smaps`) are touched: their pages are exactly the file's, and mapping them again
/// reads the same bytes. Writable mappings, and read-only ones with private copies (relocated
/// data made read-only after loading, `.data.rel.ro` and the GOT), would lose data and are left
/// alone. No mapping of these files can go away meanwhile: the only libraries this process
/// unloads are libnftables and its dependencies, which cannot be loaded or unloaded while this
/// runs.
pub fn release_startup_pages() -> usize {
    #[cfg(target_os = "linux")]
    {
        use std::io::BufRead;
        crate::firewall::nftables::ffi::with_mappings_fixed(|| {
            // Read line by line: the whole text is some hundred kilobytes.
            let Ok(smaps) = std::fs::File::open("/proc/self/smaps") else {
                return 0;
            };
            let lines = std::io::BufReader::with_capacity(8 << 10, smaps)
                .lines()
                .map_while(Result::ok);
            let mut released = 0;
            for m in releasable(lines) {
                // SAFETY: `m` is a private, read-only file mapping without private pages (see
                // above); MADV_DONTNEED on it only unmaps page-cache pages, which the next
                // access maps again with the same contents.
                let rc = unsafe {
                    libc::madvise(
                        m.start as *mut libc::c_void,
                        m.end - m.start,
                        libc::MADV_DONTNEED,
                    )
                };
                if rc == 0 {
                    released += m.rss;
                }
            }
            released
        })
    }
    #[cfg(not(target_os = "linux"))]
    0
}

/// A mapping from `/proc/self/smaps`.
#[derive(Debug, PartialEq)]
struct Mapping {
    start: usize,
    end: usize,
    /// Resident bytes.
    rss: usize,
}

/// A mapping being read from `/proc/self/smaps`.
struct Entry {
    mapping: Mapping,
    /// By its header: private, readable, not writable, a file.
    eligible: bool,
    /// `Anonymous:` was read and is 0.
    no_anonymous: bool,
    /// A private copy was seen (anonymous or swapped pages), or a count not understood.
    private: bool,
}

/// The mappings in the lines of `/proc/self/smaps` that [`release_startup_pages`] may release.
fn releasable<S: AsRef<str>>(smaps: impl Iterator<Item = S>) -> Vec<Mapping> {
    let mut out = Vec::new();
    let mut cur: Option<Entry> = None;
    let mut finish = |cur: Option<Entry>| {
        if let Some(e) = cur {
            if e.eligible && e.no_anonymous && !e.private {
                out.push(e.mapping);
            }
        }
    };
    for line in smaps {
        let line = line.as_ref();
        if let Some(e) = header(line) {
            finish(cur.replace(e));
            continue;
        }
        let Some(e) = cur.as_mut() else {
            continue;
        };
        let mut it = line.split_whitespace();
        let (Some(key), Some(value)) = (it.next(), it.next()) else {
            continue;
        };
        let kib = value.parse::<usize>().ok();
        match (key, kib) {
            // Dirty pages that are not anonymous are the file's own (page cache not yet
            // written back, as for a binary just built): they stay in the cache.
            ("Anonymous:", Some(0)) => e.no_anonymous = true,
            ("Swap:", Some(0)) => {}
            ("Anonymous:" | "Swap:", _) => e.private = true,
            ("Rss:", Some(k)) => e.mapping.rss = k << 10,
            ("Rss:", None) => e.private = true,
            _ => {}
        }
    }
    finish(cur);
    out
}

/// Parses a mapping's header line (`start-end perms offset dev inode path`); `None` when the
/// line is not a header.
fn header(line: &str) -> Option<Entry> {
    let mut it = line.split_whitespace();
    let (start, end) = it.next()?.split_once('-')?;
    let start = usize::from_str_radix(start, 16).ok()?;
    let end = usize::from_str_radix(end, 16).ok()?;
    let perms = it.next()?.as_bytes();
    let _offset = it.next()?;
    let _dev = it.next()?;
    let inode: u64 = it.next()?.parse().ok()?;
    let path = it.collect::<Vec<_>>().join(" ");
    let eligible = perms.len() == 4
        && perms[0] == b'r'
        && perms[1] == b'-'
        && perms[3] == b'p'
        && inode != 0
        && path.starts_with('/')
        && !path.ends_with("(deleted)")
        && end > start;
    Some(Entry {
        mapping: Mapping { start, end, rss: 0 },
        eligible,
        no_anonymous: false,
        private: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMAPS: &str = "\
5581a5c00000-5581a5d2c000 r--p 00000000 08:01 1234 /usr/sbin/warden
Size:               1200 kB
Rss:                 804 kB
Anonymous:             0 kB
Swap:                  0 kB
5581a5d2c000-5581a6100000 r-xp 0012c000 08:01 1234 /usr/sbin/warden
Size:               3920 kB
Rss:                3824 kB
Private_Dirty:      3824 kB
Anonymous:             0 kB
Swap:                  0 kB
5581a6100000-5581a6140000 r--p 00500000 08:01 1234 /usr/sbin/warden
Rss:                 224 kB
Private_Dirty:       224 kB
Anonymous:           224 kB
Swap:                  0 kB
5581a6140000-5581a6150000 rw-p 00540000 08:01 1234 /usr/sbin/warden
Rss:                  64 kB
Anonymous:            64 kB
5581a7000000-5581a7400000 rw-p 00000000 00:00 0 [heap]
Rss:                3404 kB
Anonymous:          3404 kB
7f0000000000-7f0000080000 rwxp 00000000 00:00 0
Rss:                 524 kB
Anonymous:           524 kB
7f0000100000-7f0000280000 r-xp 00028000 08:01 99 /usr/lib/x86_64-linux-gnu/libc.so.6
Rss:                1240 kB
Anonymous:             0 kB
Swap:                  0 kB
7f0000300000-7f0000301000 r--p 00000000 08:01 77 /tmp/old lib.so (deleted)
Rss:                   4 kB
Anonymous:             0 kB
7f0000400000-7f0000401000 r--s 00000000 08:01 78 /var/lib/warden/shared
Rss:                   4 kB
Anonymous:             0 kB
7ffd00000000-7ffd00002000 r-xp 00000000 00:00 0 [vdso]
Rss:                   8 kB
Anonymous:             0 kB
";

    #[test]
    fn only_private_read_only_file_mappings_without_private_pages() {
        let got = releasable(SMAPS.lines());
        assert_eq!(
            got,
            vec![
                Mapping {
                    start: 0x5581a5c00000,
                    end: 0x5581a5d2c000,
                    rss: 804 << 10
                },
                Mapping {
                    start: 0x5581a5d2c000,
                    end: 0x5581a6100000,
                    rss: 3824 << 10
                },
                Mapping {
                    start: 0x7f0000100000,
                    end: 0x7f0000280000,
                    rss: 1240 << 10
                },
            ]
        );
    }

    #[test]
    fn a_mapping_with_an_unreadable_or_missing_count_is_left_alone() {
        for smaps in [
            "7f0000100000-7f0000280000 r-xp 00028000 08:01 99 /usr/lib/libc.so.6\n\
             Rss:                1240 kB\n\
             Anonymous:             ? kB\n",
            "7f0000100000-7f0000280000 r-xp 00028000 08:01 99 /usr/lib/libc.so.6\n\
             Rss:                1240 kB\n",
        ] {
            assert!(releasable(smaps.lines()).is_empty(), "{smaps}");
        }
    }

    #[test]
    fn code_still_runs_after_its_pages_are_released() {
        let released = release_startup_pages();
        assert!(released > 0, "this test binary's code was resident");
        // Code, read-only data and library functions all fault back in.
        let v: Vec<String> = (0..1000).map(|i| format!("{i:x}")).collect();
        assert_eq!(v[255], "ff");
        assert_eq!(releasable("".lines()).len(), 0);
    }
}
