//! The parts of libsystemd's sd-journal API (`<systemd/sd-journal.h>`) that Warden uses.
//!
//! Every function returns a negative errno on failure; [`super::sys::Journal`] turns that into
//! [`std::io::Error`]. Nothing here is safe to call except through that wrapper.

use std::os::raw::{c_char, c_int, c_void};

/// An opaque sd-journal handle.
#[repr(C)]
pub struct SdJournal {
    _private: [u8; 0],
}

/// `sd_id128_t`: 16 bytes, used here only as an out-parameter.
#[repr(C)]
#[derive(Default)]
pub struct SdId128 {
    pub bytes: [u8; 16],
}

/// Open system-wide journal files only, not per-user ones (`SD_JOURNAL_SYSTEM`).
pub const SD_JOURNAL_SYSTEM: c_int = 1 << 2;

/// `sd_journal_process`: nothing changed.
pub const SD_JOURNAL_NOP: c_int = 0;
// `SD_JOURNAL_APPEND` (1): entries were appended; any value but the two here means that.
/// `sd_journal_process`: files were added, removed or rotated.
pub const SD_JOURNAL_INVALIDATE: c_int = 2;

// Loaded with `dlopen` the first time a journal is opened, not linked: a daemon without a
// `backend = systemd` jail then never maps libsystemd and the libraries it pulls in (libgcrypt,
// liblzma, libzstd, liblz4, libcap: about 1 MB resident). `libsystemd.so.0` itself (package
// libsystemd0, which apt depends on) is all it needs, so building needs no `libsystemd-dev`.
macro_rules! sd_journal_api {
    ($(fn $name:ident($($arg:ident: $ty:ty),*) $(-> $ret:ty)? = $fail:expr;)*) => {
        #[allow(non_snake_case)]
        struct Api {
            _lib: libloading::Library,
            $($name: unsafe extern "C" fn($($ty),*) $(-> $ret)?,)*
        }

        impl Api {
            fn load() -> Result<Api, libloading::Error> {
                // SAFETY: libsystemd runs no initialisation with preconditions when loaded, and
                // each symbol is given the type `<systemd/sd-journal.h>` declares for it.
                unsafe {
                    let lib = libloading::Library::new("libsystemd.so.0")?;
                    $(let $name = *lib.get::<unsafe extern "C" fn($($ty),*) $(-> $ret)?>(
                        concat!(stringify!($name), "\0").as_bytes())?;)*
                    Ok(Api { _lib: lib, $($name,)* })
                }
            }
        }

        $(
            /// See `<systemd/sd-journal.h>`. Without libsystemd, fails with `-ELIBACC`.
            ///
            /// # Safety
            /// As for the C function.
            pub unsafe fn $name($($arg: $ty),*) $(-> $ret)? {
                match api() {
                    Some(api) => (api.$name)($($arg),*),
                    None => $fail,
                }
            }
        )*
    };
}

/// The library, loaded on first use; `None` if it cannot be (logged once).
fn api() -> Option<&'static Api> {
    static API: std::sync::OnceLock<Option<Api>> = std::sync::OnceLock::new();
    API.get_or_init(|| match Api::load() {
        Ok(api) => Some(api),
        Err(e) => {
            tracing::error!(error = %e, "cannot load libsystemd.so.0 to read the journal: {e}");
            None
        }
    })
    .as_ref()
}

sd_journal_api! {
    fn sd_journal_open(ret: *mut *mut SdJournal, flags: c_int) -> c_int = -libc::ELIBACC;
    fn sd_journal_open_directory(ret: *mut *mut SdJournal, path: *const c_char, flags: c_int) -> c_int = -libc::ELIBACC;
    fn sd_journal_open_files(ret: *mut *mut SdJournal, paths: *const *const c_char, flags: c_int) -> c_int = -libc::ELIBACC;
    fn sd_journal_close(j: *mut SdJournal) = ();
    fn sd_journal_add_match(j: *mut SdJournal, data: *const c_void, size: usize) -> c_int = -libc::ELIBACC;
    fn sd_journal_add_disjunction(j: *mut SdJournal) -> c_int = -libc::ELIBACC;
    fn sd_journal_add_conjunction(j: *mut SdJournal) -> c_int = -libc::ELIBACC;
    fn sd_journal_seek_head(j: *mut SdJournal) -> c_int = -libc::ELIBACC;
    fn sd_journal_seek_tail(j: *mut SdJournal) -> c_int = -libc::ELIBACC;
    fn sd_journal_seek_realtime_usec(j: *mut SdJournal, usec: u64) -> c_int = -libc::ELIBACC;
    fn sd_journal_seek_cursor(j: *mut SdJournal, cursor: *const c_char) -> c_int = -libc::ELIBACC;
    fn sd_journal_test_cursor(j: *mut SdJournal, cursor: *const c_char) -> c_int = -libc::ELIBACC;
    fn sd_journal_next(j: *mut SdJournal) -> c_int = -libc::ELIBACC;
    fn sd_journal_previous(j: *mut SdJournal) -> c_int = -libc::ELIBACC;
    fn sd_journal_get_realtime_usec(j: *mut SdJournal, ret: *mut u64) -> c_int = -libc::ELIBACC;
    fn sd_journal_get_monotonic_usec(j: *mut SdJournal, ret: *mut u64, ret_boot_id: *mut SdId128) -> c_int = -libc::ELIBACC;
    fn sd_journal_get_cursor(j: *mut SdJournal, cursor: *mut *mut c_char) -> c_int = -libc::ELIBACC;
    fn sd_journal_restart_data(j: *mut SdJournal) = ();
    fn sd_journal_enumerate_available_data(j: *mut SdJournal, data: *mut *const c_void, length: *mut usize) -> c_int = -libc::ELIBACC;
    fn sd_journal_get_fd(j: *mut SdJournal) -> c_int = -libc::ELIBACC;
    fn sd_journal_get_events(j: *mut SdJournal) -> c_int = -libc::ELIBACC;
    fn sd_journal_get_timeout(j: *mut SdJournal, timeout_usec: *mut u64) -> c_int = -libc::ELIBACC;
    fn sd_journal_process(j: *mut SdJournal) -> c_int = -libc::ELIBACC;
}
