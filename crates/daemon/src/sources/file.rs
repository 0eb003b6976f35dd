//! Following one log file: from its end at first start, across rename+create and copytruncate
//! rotation, never losing or repeating a complete line.
//!
//! A [`FileTail`] holds the file currently at its path open and, for a while, the files rotated
//! away from it:
//!
//! - **Rename (or delete) and create.** When the path names a new inode, the old descriptor is
//!   kept and read first: lines a program writes to it until it reopens its log still count. It
//!   is closed once it has been quiet for [`ROTATED_GRACE`]; a partial last line is then handed
//!   out as it is. The new file is read from its beginning.
//! - **copytruncate.** Same inode, but the file shrank below what was read, its first line
//!   (the [`Fingerprint`]) changed, or the bytes just before our offset changed. Lines written
//!   after our last read and before the truncation exist only in the copy, so the newest rotation
//!   (`<path>.1`, `<path>-20240101`, ...) that starts with our fingerprint and holds the same
//!   bytes before our offset is read from our offset first; then the truncated file from 0.
//!
//! Lines are handed out without `\n` and a trailing `\r`, invalid UTF-8 replaced, leading NUL
//! bytes dropped (the hole a non-`O_APPEND` writer leaves after copytruncate); a partial last
//! line waits for its `\n`; lines over [`MAX_LINE`] bytes are cut and marked with
//! [`TRUNCATION_MARKER`], so one file never holds more than that in memory.
//!
//! Known limits, all needing two events between reads (with [`watch`] a read follows every
//! create and write within a millisecond):
//! - a file created and rotated away between two reads is never opened;
//! - two copytruncates between two reads lose the middle generation;
//! - a file only ever seen empty, or with an incomplete first line that the next generation's
//!   first line starts with, is not recognised as copytruncated unless it shrank.
//!
//! A rotated-away file that stays quiet for [`ROTATED_GRACE`] is closed even if its writer
//! writes to it later.

mod fingerprint;
mod reader;
mod rotated;
mod watcher;

use std::collections::VecDeque;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub use fingerprint::{Fingerprint, FINGERPRINT_MAX};
pub use reader::{LineSink, Lines, BATCH_LINES, MAX_LINE, READ_BUDGET, TRUNCATION_MARKER};
pub use watcher::{watch, watch_from, Watcher};

use fingerprint::{head_is_complete, read_head};
use reader::{last_line_end, Budget, Ident, Reader, CHUNK};
use rotated::{find_rotated_copy, Expected};

/// How long a file rotated away from the path keeps being read after its last growth.
pub const ROTATED_GRACE: Duration = Duration::from_secs(5);

/// At most this many rotated-away files are kept open per path; beyond that the oldest is read
/// to its end and closed.
const MAX_ROTATED: usize = 4;

/// Where reading starts when a file is first opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartAt {
    /// At the current end (Fail2Ban's `tail`).
    End,
    /// At the beginning (`head`).
    Beginning,
}

/// Identity of the file being read and how far it has been read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilePosition {
    /// Device number.
    pub dev: u64,
    /// Inode number.
    pub ino: u64,
    /// Byte offset just after the last complete line handed out.
    pub offset: u64,
}

/// What to save to resume following a file after a restart ([`FileTail::open_at`]): the
/// position plus the fingerprint that tells whether the file at the path is still the same one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// Identity and offset.
    pub position: FilePosition,
    /// The file's first line (or what existed of it).
    pub fingerprint: Fingerprint,
}

/// A followed file. `read_lines` returns each complete line exactly once.
pub struct FileTail {
    path: PathBuf,
    /// How to position the first file found at the path; `None` once one was opened.
    first_start: Option<StartAt>,
    current: Option<Reader>,
    /// Files rotated away from the path, read before `current`, oldest first.
    rotated: VecDeque<Rotated>,
    /// The last `read_lines` stopped before the end because of its budget.
    backlog: bool,
    buf: Vec<u8>,
}

struct Rotated {
    reader: Reader,
    /// Renamed or unlinked files may still be written (`Some(last growth)`); copies and files
    /// over the limit are read to their end and closed (`None`).
    lingering: Option<Instant>,
}

impl FileTail {
    /// Start following `path` (which need not exist yet: it is picked up when it appears,
    /// and then read from its beginning).
    ///
    /// With [`StartAt::End`] reading starts after the last complete line, so a line being
    /// written at that moment is reported whole once its `\n` arrives.
    pub fn open(path: &Path, start: StartAt) -> io::Result<FileTail> {
        let mut tail = FileTail::deferred(path, start);
        match File::open(path) {
            Ok(file) => {
                tail.current = Some(positioned(file, start)?);
                tail.first_start = None;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                tail.first_start = Some(StartAt::Beginning)
            }
            Err(e) => return Err(e),
        }
        Ok(tail)
    }

    /// Resume following `path` from a [`Checkpoint`] saved earlier ([`FileTail::checkpoint`]).
    ///
    /// If the file at the path is still the one checkpointed (same device, inode and
    /// fingerprint, and not shorter than the offset) reading continues at the offset. Otherwise it
    /// was rotated while we were not running: the rest of the old file is read from its rotated
    /// name (found by inode, or else by fingerprint for a copy), then the file at the path from
    /// its beginning. Files rotated away but still being drained when the checkpoint was taken
    /// are not part of it.
    pub fn open_at(path: &Path, checkpoint: &Checkpoint) -> io::Result<FileTail> {
        let mut tail = FileTail::deferred(path, StartAt::Beginning);
        let pos = &checkpoint.position;
        let fp = checkpoint.fingerprint;
        let file = match File::open(path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                tail.resume_from_rotated(checkpoint, &[]);
                return Ok(tail);
            }
            Err(e) => return Err(e),
        };
        let meta = file.metadata()?;
        let ident = Ident::of(&meta);
        tail.first_start = None;
        let same = ident
            == Ident {
                dev: pos.dev,
                ino: pos.ino,
            }
            && meta.len() >= pos.offset
            && fp.matches(&file)?;
        if same {
            tail.current = Some(Reader::with_head(file, ident, pos.offset)?);
        } else {
            tail.resume_from_rotated(checkpoint, &[ident]);
            tail.current = Some(positioned(file, StartAt::Beginning)?);
        }
        Ok(tail)
    }

    /// A tail that has not opened anything yet; the first file found is positioned per `start`.
    fn deferred(path: &Path, start: StartAt) -> FileTail {
        FileTail {
            path: path.to_path_buf(),
            first_start: Some(start),
            current: None,
            rotated: VecDeque::new(),
            backlog: false,
            buf: vec![0; CHUNK],
        }
    }

    /// The followed path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Append every new complete line (without `\n`, invalid UTF-8 replaced) to `out`,
    /// handling rotation. Returns how many lines were appended.
    ///
    /// A large backlog is handed out in pieces of about [`READ_BUDGET`] bytes or
    /// [`BATCH_LINES`] lines, whichever comes first: `Ok(0)` means all caught up. On
    /// error, lines appended before it stay in `out` and are not handed out again.
    pub fn read_lines(&mut self, out: &mut impl LineSink) -> io::Result<usize> {
        let before = out.count();
        let checked = self.check_path();
        let read = self.read_files(out);
        checked.and(read)?;
        Ok(out.count() - before)
    }

    /// Current position, `None` while the file does not exist.
    pub fn position(&self) -> Option<FilePosition> {
        self.current.as_ref().map(|r| FilePosition {
            dev: r.ident.dev,
            ino: r.ident.ino,
            offset: r.committed(),
        })
    }

    /// Position plus fingerprint, to save for [`FileTail::open_at`]; `None` while the file does
    /// not exist.
    pub fn checkpoint(&self) -> Option<Checkpoint> {
        let reader = self.current.as_ref()?;
        Some(Checkpoint {
            position: self.position()?,
            fingerprint: Fingerprint::of(&reader.head),
        })
    }

    /// Notice a new file at the path (rotation, first appearance) or an in-place truncation.
    fn check_path(&mut self) -> io::Result<()> {
        let meta = match fs::metadata(&self.path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return self.check_truncation(),
            Err(e) => {
                self.check_truncation()?;
                return Err(e);
            }
        };
        if self.current.as_ref().map(|r| r.ident) == Some(Ident::of(&meta)) {
            return self.check_truncation();
        }
        let file = match File::open(&self.path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        let ident = Ident::of(&file.metadata()?);
        if self.current.as_ref().map(|r| r.ident) == Some(ident) {
            return self.check_truncation();
        }
        // A rotated file moved back to the path carries on where it was.
        let moved_back = self.rotated.iter().position(|r| r.reader.ident == ident);
        let next = match moved_back.and_then(|i| self.rotated.remove(i)) {
            Some(rotated) => rotated.reader,
            None => positioned(file, self.first_start.take().unwrap_or(StartAt::Beginning))?,
        };
        self.first_start = None;
        if let Some(old) = self.current.replace(next) {
            tracing::debug!(path = %self.path.display(), "Log file replaced; reading the rest of the old one first.");
            self.push_rotated(old, true);
        }
        Ok(())
    }

    /// Detect copytruncate on the current file; read the rotated copy's remainder before
    /// restarting at 0.
    fn check_truncation(&mut self) -> io::Result<()> {
        let Some(cur) = self.current.as_mut() else {
            return Ok(());
        };
        // Same content: not shorter than what was read, same first line, and the same bytes just
        // before the offset (which tells generations apart even when they share a first line).
        let size = cur.file.metadata()?.len();
        if size >= cur.read_pos() && cur.still_has_recent()? {
            let head = read_head(&cur.file)?;
            if head.starts_with(&cur.head) {
                if !head_is_complete(&cur.head) {
                    cur.head = head;
                }
                return Ok(());
            }
        }
        let fp = Fingerprint::of(&cur.head);
        let committed = cur.committed();
        let recent = cur.recent().to_vec();
        cur.rewind(0);
        cur.head = read_head(&cur.file)?;
        if fp.len == 0 {
            // Nothing was ever seen in this file, so nothing seen can be missed.
            return Ok(());
        }
        let exclude: Vec<Ident> = self.idents().collect();
        let expected = Expected {
            fingerprint: fp,
            offset: committed,
            recent: &recent,
            ident: None,
        };
        match find_rotated_copy(&self.path, &expected, &exclude) {
            Some(copy) => {
                tracing::debug!(path = %self.path.display(), copy = %copy.path.display(),
                    "Log file truncated; reading the rest from its rotated copy first.");
                self.push_rotated(Reader::new(copy.file, copy.ident, committed), false);
            }
            None => tracing::warn!(path = %self.path.display(),
                "Log file truncated and no rotated copy starts like it; lines written just before the truncation, if any, were missed."),
        }
        Ok(())
    }

    fn push_rotated(&mut self, reader: Reader, lingering: bool) {
        let lingering = lingering.then(Instant::now);
        self.rotated.push_back(Rotated { reader, lingering });
        let mut open = self
            .rotated
            .iter()
            .filter(|r| r.lingering.is_some())
            .count();
        for r in self.rotated.iter_mut() {
            if open <= MAX_ROTATED {
                break;
            }
            if r.lingering.take().is_some() {
                open -= 1;
            }
        }
    }

    /// Read the rotated files in order, then the current one.
    fn read_files(&mut self, out: &mut impl LineSink) -> io::Result<()> {
        let mut budget = Budget::new(out);
        self.backlog = false;
        let mut first_error = None;
        let mut i = 0;
        while i < self.rotated.len() {
            let r = &mut self.rotated[i];
            match r.reader.read(&mut self.buf, out, &mut budget) {
                Ok(outcome) if !outcome.eof => {
                    self.backlog = true;
                    return Ok(());
                }
                Ok(outcome) => {
                    let now = Instant::now();
                    if let Some(last_growth) = r.lingering.as_mut() {
                        if outcome.bytes > 0 {
                            *last_growth = now;
                        }
                    }
                    let done = match r.lingering {
                        Some(last_growth) => now.duration_since(last_growth) >= ROTATED_GRACE,
                        None => true,
                    };
                    if !done {
                        i += 1;
                        continue;
                    }
                    r.reader.flush_partial(out);
                }
                Err(e) => {
                    tracing::warn!(path = %self.path.display(), error = %e, "Cannot read a rotated log file; giving it up.");
                    first_error.get_or_insert(e);
                }
            }
            self.rotated.remove(i);
        }
        if let Some(cur) = self.current.as_mut() {
            let outcome = cur.read(&mut self.buf, out, &mut budget)?;
            self.backlog = !outcome.eof;
        }
        first_error.map_or(Ok(()), Err)
    }

    /// After a restart the checkpointed file was gone from the path (or truncated): read its
    /// remainder from its rotated name — the same inode moved away, or else a copy that starts
    /// the same — if one is found.
    fn resume_from_rotated(&mut self, checkpoint: &Checkpoint, exclude: &[Ident]) {
        let pos = &checkpoint.position;
        let mut expected = Expected {
            fingerprint: checkpoint.fingerprint,
            offset: pos.offset,
            recent: &[],
            ident: Some(Ident {
                dev: pos.dev,
                ino: pos.ino,
            }),
        };
        let mut found = find_rotated_copy(&self.path, &expected, exclude);
        if found.is_none() && expected.fingerprint.len > 0 {
            expected.ident = None;
            found = find_rotated_copy(&self.path, &expected, exclude);
        }
        if let Some(copy) = found {
            tracing::debug!(path = %self.path.display(), rotated = %copy.path.display(),
                "Resuming in the rotated log file.");
            self.push_rotated(Reader::new(copy.file, copy.ident, pos.offset), false);
        }
    }

    /// Every file this tail has open.
    fn open_files(&self) -> impl Iterator<Item = &Reader> + '_ {
        self.current
            .iter()
            .chain(self.rotated.iter().map(|r| &r.reader))
    }

    fn idents(&self) -> impl Iterator<Item = Ident> + '_ {
        self.open_files().map(|r| r.ident)
    }
}

/// A reader of `file` at its start or just after its last complete line.
fn positioned(file: File, start: StartAt) -> io::Result<Reader> {
    let meta = file.metadata()?;
    if meta.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "is a directory, not a log file",
        ));
    }
    let offset = match start {
        StartAt::Beginning => 0,
        StartAt::End => last_line_end(&file, meta.len())?,
    };
    Reader::with_head(file, Ident::of(&meta), offset)
}

/// A batch of lines read from one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineBatch {
    /// The path as configured.
    pub path: PathBuf,
    /// Lines in order.
    pub lines: Lines,
    /// Where reading stands after these lines (what to save to resume after a restart).
    pub checkpoint: Option<Checkpoint>,
}
