//! Reading matching entries from an open journal, synchronously.

use std::io;

use super::format::EntryFields;
use super::sys::{Change, Journal};
use super::{JournalEntry, JournalMatch, JournalSource, JournalSpec, Start};

/// An open, positioned journal that hands out each matching entry once, in order.
///
/// Not `Send`: sd-journal handles belong to the thread that opened them.
pub struct JournalReader {
    journal: Journal,
    /// The journal is positioned on an entry that has not been handed out yet.
    unread: bool,
    /// The entry last handed out (or the one reading started after).
    last_cursor: Option<String>,
}

impl JournalReader {
    /// Open the journal, add the matches and position it at `spec.start`.
    ///
    /// Errors: the files cannot be opened, `spec.matches` is not a valid `journalmatch`
    /// (`InvalidInput`, naming the term), or the cursor cannot be parsed.
    pub fn open(spec: &JournalSpec) -> io::Result<JournalReader> {
        let matches = JournalMatch::parse(&spec.matches)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let mut journal = match &spec.source {
            JournalSource::System => Journal::open_system(),
            JournalSource::Directory(dir) => Journal::open_directory(dir),
            JournalSource::Files(files) => Journal::open_files(files),
        }
        .map_err(|e| io::Error::new(e.kind(), format!("opening journal {:?}: {e}", spec.source)))?;
        for group in matches.groups() {
            for term in group {
                journal
                    .add_match(term.as_bytes())
                    .map_err(|e| io::Error::new(e.kind(), format!("journalmatch {term:?}: {e}")))?;
            }
            journal.add_disjunction()?;
        }
        let mut reader = JournalReader {
            journal,
            unread: false,
            last_cursor: None,
        };
        reader.position(&spec.start)?;
        Ok(reader)
    }

    fn position(&mut self, start: &Start) -> io::Result<()> {
        match start {
            Start::Tail => self.anchor_at_end(),
            Start::Cursor(cursor) => {
                self.journal.seek_cursor(cursor).map_err(|e| {
                    io::Error::new(e.kind(), format!("journal cursor {cursor:?}: {e}"))
                })?;
                self.last_cursor = Some(cursor.clone());
                if self.journal.next_entry()? && !self.journal.test_cursor(cursor)? {
                    // The cursor's entry is gone (vacuumed, or no longer matching): this is
                    // the first one after it.
                    self.unread = true;
                }
                Ok(())
            }
            Start::Time(t) => {
                let usec = if t.is_finite() && *t > 0.0 {
                    (t * 1e6).round() as u64
                } else {
                    0
                };
                self.journal.seek_realtime_usec(usec)?;
                if self.journal.next_entry()? {
                    self.unread = true;
                    Ok(())
                } else {
                    // Nothing that recent: stand on the last entry rather than on a time, so
                    // that entries appended later are read even if their clock is behind.
                    self.anchor_at_end()
                }
            }
        }
    }

    /// Stand on the last matching entry, so that only entries appended later are read.
    fn anchor_at_end(&mut self) -> io::Result<()> {
        self.journal.seek_tail()?;
        if self.journal.previous_entry()? {
            self.last_cursor = Some(self.journal.cursor()?);
        } else {
            // No matching entry yet: every one that appears is new.
            self.journal.seek_head()?;
        }
        Ok(())
    }

    /// Append up to `max` entries to `out`; returns how many. Fewer than `max` means the
    /// journal has no more for now.
    ///
    /// An entry whose time or cursor cannot be read (a damaged file) is skipped with a
    /// warning; an error moving through the journal is returned.
    pub fn read(&mut self, max: usize, out: &mut Vec<JournalEntry>) -> io::Result<usize> {
        let mut n = 0;
        while n < max {
            if self.unread {
                self.unread = false;
            } else if !self.journal.next_entry()? {
                break;
            }
            match self.current_entry() {
                Ok(entry) => {
                    self.last_cursor = Some(entry.cursor.clone());
                    out.push(entry);
                    n += 1;
                }
                Err(e) => tracing::warn!(error = %e, "Skipping unreadable journal entry."),
            }
        }
        Ok(n)
    }

    fn current_entry(&mut self) -> io::Result<JournalEntry> {
        let realtime = self.journal.realtime_usec()?;
        let cursor = self.journal.cursor()?;
        let mut fields = EntryFields::default();
        self.journal.for_each_field(|d| fields.add(d))?;
        let journal = &mut self.journal;
        let line = fields.line(|| journal.monotonic_usec().ok());
        Ok(JournalEntry {
            line,
            time: fields.time(realtime),
            cursor,
        })
    }

    /// The cursor of the last entry handed out (or of the entry reading started after).
    pub fn last_cursor(&self) -> Option<&str> {
        self.last_cursor.as_deref()
    }

    /// The underlying journal (for waiting on its descriptor).
    pub(crate) fn journal(&mut self) -> &mut Journal {
        &mut self.journal
    }

    /// Handle the journal's pending change events. After files were added, removed or
    /// rotated, re-find the last entry handed out so that reading neither repeats nor skips.
    pub(crate) fn process(&mut self) -> io::Result<()> {
        if self.journal.process()? != Change::Invalidate || self.unread {
            return Ok(());
        }
        if let Some(cursor) = self.last_cursor.clone() {
            self.journal.seek_cursor(&cursor)?;
            if self.journal.next_entry()? && !self.journal.test_cursor(&cursor)? {
                self.unread = true;
            }
        }
        Ok(())
    }
}
