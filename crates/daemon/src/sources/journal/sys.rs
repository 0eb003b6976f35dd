//! A safe owner of one `sd_journal` handle.
//!
//! sd-journal handles are not thread-safe: [`Journal`] is neither `Send` nor `Sync`, so it
//! stays on the thread that opened it (the watcher opens it on its own thread).

use std::ffi::{CStr, CString};
use std::io;
use std::marker::PhantomData;
use std::os::raw::{c_char, c_int, c_void};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::ptr::{self, NonNull};
use std::time::Duration;

use super::ffi;

/// An open journal: a set of journal files read as one, merged by time.
pub struct Journal {
    raw: NonNull<ffi::SdJournal>,
    /// Not `Send`/`Sync`: libsystemd forbids using a handle from two threads.
    _not_send: PhantomData<*mut ()>,
}

/// What [`Journal::process`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Nothing changed.
    None,
    /// Entries were appended.
    Append,
    /// Journal files were added, removed or rotated: positions may need re-establishing.
    Invalidate,
}

fn check(r: c_int) -> io::Result<c_int> {
    if r < 0 {
        Err(io::Error::from_raw_os_error(-r))
    } else {
        Ok(r)
    }
}

fn c_string(bytes: &[u8], what: &str) -> io::Result<CString> {
    CString::new(bytes).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{what} contains a NUL byte"),
        )
    })
}

impl Journal {
    fn from_open(open: impl FnOnce(*mut *mut ffi::SdJournal) -> c_int) -> io::Result<Journal> {
        let mut raw = ptr::null_mut();
        check(open(&mut raw))?;
        let raw = NonNull::new(raw)
            .ok_or_else(|| io::Error::other("sd_journal_open returned no handle"))?;
        Ok(Journal {
            raw,
            _not_send: PhantomData,
        })
    }

    /// The system journal (`/var/log/journal`, `/run/log/journal`), system files only, as
    /// Fail2Ban opens it by default (flags `SD_JOURNAL_SYSTEM`, which leaves out per-user files).
    pub fn open_system() -> io::Result<Journal> {
        // SAFETY: `ret` is a valid out-pointer; flags is a documented constant.
        Journal::from_open(|ret| unsafe { ffi::sd_journal_open(ret, ffi::SD_JOURNAL_SYSTEM) })
    }

    /// Every journal file in `dir` (including files created there later).
    pub fn open_directory(dir: &Path) -> io::Result<Journal> {
        let path = c_string(dir.as_os_str().as_bytes(), "journal directory")?;
        // SAFETY: `path` is a NUL-terminated string that outlives the call.
        Journal::from_open(|ret| unsafe { ffi::sd_journal_open_directory(ret, path.as_ptr(), 0) })
    }

    /// Exactly these journal files (appends to them are seen; new files are not).
    pub fn open_files(files: &[impl AsRef<Path>]) -> io::Result<Journal> {
        let paths = files
            .iter()
            .map(|f| c_string(f.as_ref().as_os_str().as_bytes(), "journal file name"))
            .collect::<io::Result<Vec<_>>>()?;
        let mut ptrs: Vec<*const c_char> = paths.iter().map(|p| p.as_ptr()).collect();
        ptrs.push(ptr::null());
        // SAFETY: `ptrs` is a NULL-terminated array of NUL-terminated strings, all of which
        // outlive the call (libsystemd copies the names).
        Journal::from_open(|ret| unsafe { ffi::sd_journal_open_files(ret, ptrs.as_ptr(), 0) })
    }

    fn raw(&self) -> *mut ffi::SdJournal {
        self.raw.as_ptr()
    }

    /// Add a `FIELD=value` term to the current group (terms of a group are ANDed, except that
    /// terms on the same field are ORed).
    pub fn add_match(&mut self, term: &[u8]) -> io::Result<()> {
        // SAFETY: `term` is valid for `term.len()` bytes; libsystemd copies it.
        check(unsafe { ffi::sd_journal_add_match(self.raw(), term.as_ptr().cast(), term.len()) })
            .map(drop)
    }

    /// Close the current group: what follows is ORed with it.
    pub fn add_disjunction(&mut self) -> io::Result<()> {
        // SAFETY: valid handle.
        check(unsafe { ffi::sd_journal_add_disjunction(self.raw()) }).map(drop)
    }

    /// Close the current set of groups: what follows is ANDed with it.
    pub fn add_conjunction(&mut self) -> io::Result<()> {
        // SAFETY: valid handle.
        check(unsafe { ffi::sd_journal_add_conjunction(self.raw()) }).map(drop)
    }

    /// Position before the first entry.
    pub fn seek_head(&mut self) -> io::Result<()> {
        // SAFETY: valid handle.
        check(unsafe { ffi::sd_journal_seek_head(self.raw()) }).map(drop)
    }

    /// Position after the last entry.
    pub fn seek_tail(&mut self) -> io::Result<()> {
        // SAFETY: valid handle.
        check(unsafe { ffi::sd_journal_seek_tail(self.raw()) }).map(drop)
    }

    /// Position so that [`Journal::next_entry`] returns the first entry at or after `usec`
    /// (microseconds since the epoch).
    pub fn seek_realtime_usec(&mut self, usec: u64) -> io::Result<()> {
        // SAFETY: valid handle.
        check(unsafe { ffi::sd_journal_seek_realtime_usec(self.raw(), usec) }).map(drop)
    }

    /// Position at a cursor: [`Journal::next_entry`] returns that entry if it still exists, else
    /// the one that follows where it was.
    pub fn seek_cursor(&mut self, cursor: &str) -> io::Result<()> {
        let c = c_string(cursor.as_bytes(), "journal cursor")?;
        // SAFETY: valid handle and NUL-terminated string.
        check(unsafe { ffi::sd_journal_seek_cursor(self.raw(), c.as_ptr()) }).map(drop)
    }

    /// Whether the current entry is the one `cursor` names.
    pub fn test_cursor(&mut self, cursor: &str) -> io::Result<bool> {
        let c = c_string(cursor.as_bytes(), "journal cursor")?;
        // SAFETY: valid handle and NUL-terminated string.
        check(unsafe { ffi::sd_journal_test_cursor(self.raw(), c.as_ptr()) }).map(|r| r > 0)
    }

    /// Move to the next entry; `false` at the end.
    pub fn next_entry(&mut self) -> io::Result<bool> {
        // SAFETY: valid handle.
        check(unsafe { ffi::sd_journal_next(self.raw()) }).map(|r| r > 0)
    }

    /// Move to the previous entry; `false` at the beginning.
    pub fn previous_entry(&mut self) -> io::Result<bool> {
        // SAFETY: valid handle.
        check(unsafe { ffi::sd_journal_previous(self.raw()) }).map(|r| r > 0)
    }

    /// Wall-clock time at which the current entry was received, in microseconds.
    pub fn realtime_usec(&mut self) -> io::Result<u64> {
        let mut usec = 0;
        // SAFETY: valid handle and out-pointer.
        check(unsafe { ffi::sd_journal_get_realtime_usec(self.raw(), &mut usec) })?;
        Ok(usec)
    }

    /// Monotonic time of the current entry (since its boot), in microseconds.
    pub fn monotonic_usec(&mut self) -> io::Result<u64> {
        let mut usec = 0;
        // A boot id out-parameter is required: without one, libsystemd refuses entries of
        // other boots.
        let mut boot = ffi::SdId128::default();
        // SAFETY: valid handle and out-pointers.
        check(unsafe { ffi::sd_journal_get_monotonic_usec(self.raw(), &mut usec, &mut boot) })?;
        Ok(usec)
    }

    /// The cursor of the current entry: a string naming it across restarts.
    pub fn cursor(&mut self) -> io::Result<String> {
        let mut raw: *mut c_char = ptr::null_mut();
        // SAFETY: valid handle and out-pointer; on success `raw` is a malloc'ed string we own.
        check(unsafe { ffi::sd_journal_get_cursor(self.raw(), &mut raw) })?;
        if raw.is_null() {
            return Err(io::Error::other("sd_journal_get_cursor returned no cursor"));
        }
        // SAFETY: `raw` is a valid NUL-terminated string until freed below.
        let cursor = unsafe { CStr::from_ptr(raw) }
            .to_string_lossy()
            .into_owned();
        // SAFETY: allocated by libsystemd with malloc; freed once.
        unsafe { libc::free(raw.cast()) };
        Ok(cursor)
    }

    /// Call `each` with every `FIELD=value` of the current entry (a field may repeat). Fields
    /// that cannot be read (e.g. compressed with an algorithm this libsystemd lacks) are
    /// skipped.
    pub fn for_each_field(&mut self, mut each: impl FnMut(&[u8])) -> io::Result<()> {
        // SAFETY: valid handle.
        unsafe { ffi::sd_journal_restart_data(self.raw()) };
        loop {
            let mut data: *const c_void = ptr::null();
            let mut len = 0usize;
            // SAFETY: valid handle and out-pointers.
            let r = check(unsafe {
                ffi::sd_journal_enumerate_available_data(self.raw(), &mut data, &mut len)
            })?;
            if r == 0 || data.is_null() {
                return Ok(());
            }
            // SAFETY: libsystemd guarantees `data` is valid for `len` bytes until the next
            // call on this handle; `each` cannot call into the handle (it is borrowed here).
            each(unsafe { std::slice::from_raw_parts(data.cast::<u8>(), len) });
        }
    }

    /// The descriptor to poll for changes (inotify on the journal directories), or an error if
    /// changes cannot be watched (then only polling notices new entries).
    pub fn fd(&mut self) -> io::Result<c_int> {
        // SAFETY: valid handle.
        check(unsafe { ffi::sd_journal_get_fd(self.raw()) })
    }

    /// The `poll(2)` events to wait for on [`Journal::fd`].
    pub fn events(&mut self) -> io::Result<i16> {
        // SAFETY: valid handle.
        check(unsafe { ffi::sd_journal_get_events(self.raw()) }).map(|e| e as i16)
    }

    /// How long to wait at most before calling [`Journal::process`] even without an event
    /// (`None`: no limit).
    pub fn timeout(&mut self) -> io::Result<Option<Duration>> {
        let mut usec = 0u64;
        // SAFETY: valid handle and out-pointer.
        check(unsafe { ffi::sd_journal_get_timeout(self.raw(), &mut usec) })?;
        if usec == u64::MAX {
            return Ok(None);
        }
        // The value is absolute on CLOCK_MONOTONIC.
        let mut now = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: valid out-pointer.
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
        let now_usec = now.tv_sec as u64 * 1_000_000 + now.tv_nsec as u64 / 1_000;
        Ok(Some(Duration::from_micros(usec.saturating_sub(now_usec))))
    }

    /// Handle pending events on [`Journal::fd`] (picks up new and removed files).
    pub fn process(&mut self) -> io::Result<Change> {
        // SAFETY: valid handle.
        Ok(
            match check(unsafe { ffi::sd_journal_process(self.raw()) })? {
                ffi::SD_JOURNAL_NOP => Change::None,
                ffi::SD_JOURNAL_INVALIDATE => Change::Invalidate,
                _ => Change::Append,
            },
        )
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        // SAFETY: the handle is valid and closed exactly once.
        unsafe { ffi::sd_journal_close(self.raw()) }
    }
}
