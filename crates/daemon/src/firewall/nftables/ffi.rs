//! The few libnftables functions Warden needs, loaded at run time from `libnftables.so.1`
//! (package `libnftables1`, installed with `nftables`). Loading it lazily keeps the build free
//! of `-dev` packages and lets Warden run where nftables is absent: the native backend then
//! reports itself unavailable and actions fall back to their commands.
//!
//! The library (with libnftnl, libgmp, libjansson, libxtables and libmnl, which it pulls in) is
//! loaded when the first [`NftContext`] is created and unloaded when the last one is dropped:
//! it is needed only while tables, sets and chains change (start, reload, stop), and an idle
//! daemon need not keep its 1.5 MB or so of code and data mapped.
//!
//! A context holds a netlink socket opened when the context is created, in the network
//! namespace of the creating thread, and a cache; it is not thread-safe, so [`NftContext`] is
//! `Send` but used behind a `Mutex`.

use std::ffi::{c_char, c_int, CStr, CString};
use std::ptr::NonNull;
use std::sync::{Arc, Mutex, MutexGuard, Weak};

#[repr(C)]
struct RawCtx {
    _opaque: [u8; 0],
}

const NFT_CTX_DEFAULT: u32 = 0;

type CtxNew = unsafe extern "C" fn(u32) -> *mut RawCtx;
type CtxFree = unsafe extern "C" fn(*mut RawCtx);
type CtxInt = unsafe extern "C" fn(*mut RawCtx) -> c_int;
type CtxBuf = unsafe extern "C" fn(*mut RawCtx) -> *const c_char;
type RunCmd = unsafe extern "C" fn(*mut RawCtx, *const c_char) -> c_int;

/// The functions, resolved from the shared library, which stays loaded while this exists.
struct Lib {
    nft_ctx_new: CtxNew,
    nft_ctx_free: CtxFree,
    nft_ctx_buffer_output: CtxInt,
    nft_ctx_get_output_buffer: CtxBuf,
    nft_ctx_buffer_error: CtxInt,
    nft_ctx_get_error_buffer: CtxBuf,
    nft_run_cmd_from_buffer: RunCmd,
    /// Dropped (`dlclose`) once the function pointers above can no longer be called: every
    /// caller holds a [`LibRef`] while calling.
    _lib: libloading::Library,
}

/// The loaded library, if a context holds it. Loading and unloading both happen under this
/// lock, so whoever holds it sees the process's mappings of these libraries stay as they are.
static LIB: Mutex<Weak<Lib>> = Mutex::new(Weak::new());

fn slot() -> MutexGuard<'static, Weak<Lib>> {
    LIB.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs `f` while libnftables can be neither loaded nor unloaded (see
/// [`crate::memory::release_startup_pages`], which must not see a library's mappings go away
/// and their addresses reused while it works on them).
pub(crate) fn with_mappings_fixed<R>(f: impl FnOnce() -> R) -> R {
    let _held = slot();
    f()
}

/// A share of the loaded library; dropping the last one unloads it (under [`LIB`]'s lock).
struct LibRef(Option<Arc<Lib>>);

impl std::ops::Deref for LibRef {
    type Target = Lib;
    fn deref(&self) -> &Lib {
        self.0.as_ref().expect("present until dropped")
    }
}

impl Drop for LibRef {
    fn drop(&mut self) {
        let _held = slot();
        self.0 = None;
    }
}

/// The loaded library, shared by the live contexts; loaded again after the last one is gone.
fn lib() -> Result<LibRef, String> {
    let mut slot = slot();
    if let Some(lib) = slot.upgrade() {
        return Ok(LibRef(Some(lib)));
    }
    let lib = Arc::new(load()?);
    *slot = Arc::downgrade(&lib);
    Ok(LibRef(Some(lib)))
}

fn load() -> Result<Lib, String> {
    // SAFETY: libnftables runs no initialisers with preconditions; the symbols are looked up
    // with the C signatures documented in libnftables(3).
    unsafe {
        let lib = libloading::Library::new("libnftables.so.1")
            .map_err(|e| format!("cannot load libnftables.so.1 (install nftables): {e}"))?;
        macro_rules! sym {
            ($name:literal) => {
                *lib.get($name)
                    .map_err(|e| format!("libnftables.so.1 lacks a function: {e}"))?
            };
        }
        Ok(Lib {
            nft_ctx_new: sym!(b"nft_ctx_new\0"),
            nft_ctx_free: sym!(b"nft_ctx_free\0"),
            nft_ctx_buffer_output: sym!(b"nft_ctx_buffer_output\0"),
            nft_ctx_get_output_buffer: sym!(b"nft_ctx_get_output_buffer\0"),
            nft_ctx_buffer_error: sym!(b"nft_ctx_buffer_error\0"),
            nft_ctx_get_error_buffer: sym!(b"nft_ctx_get_error_buffer\0"),
            nft_run_cmd_from_buffer: sym!(b"nft_run_cmd_from_buffer\0"),
            _lib: lib,
        })
    }
}

/// An owned libnftables context with buffered output and errors.
pub struct NftContext {
    ctx: NonNull<RawCtx>,
    /// Keeps the library loaded while the context lives.
    lib: LibRef,
}

// SAFETY: the context is only ever used through `&mut self`, by one thread at a time; it holds
// no thread-local state (its socket and cache are plain heap data).
unsafe impl Send for NftContext {}

impl NftContext {
    /// Creates a context bound to the calling thread's network namespace.
    pub fn new() -> Result<NftContext, String> {
        let lib = lib()?;
        // SAFETY: plain constructor; a null return is checked.
        let raw = unsafe { (lib.nft_ctx_new)(NFT_CTX_DEFAULT) };
        let ctx = NonNull::new(raw).ok_or("nft_ctx_new failed")?;
        // SAFETY: `ctx` is a live context owned by us.
        unsafe {
            if (lib.nft_ctx_buffer_output)(ctx.as_ptr()) != 0
                || (lib.nft_ctx_buffer_error)(ctx.as_ptr()) != 0
            {
                (lib.nft_ctx_free)(ctx.as_ptr());
                return Err("cannot buffer libnftables output".into());
            }
        }
        Ok(NftContext { ctx, lib })
    }

    /// Runs `commands` (nft syntax, one command a line) as one transaction; returns nft's
    /// output or its error text.
    pub fn run(&mut self, commands: &str) -> Result<String, String> {
        let buf = CString::new(commands).map_err(|_| "command text contains NUL".to_owned())?;
        let lib = &self.lib;
        // SAFETY: `self.ctx` is live; `buf` outlives the call; the returned buffers are owned by
        // the context and copied before the next call into it.
        unsafe {
            let rc = (lib.nft_run_cmd_from_buffer)(self.ctx.as_ptr(), buf.as_ptr());
            let out = take((lib.nft_ctx_get_output_buffer)(self.ctx.as_ptr()));
            let err = take((lib.nft_ctx_get_error_buffer)(self.ctx.as_ptr()));
            if rc == 0 {
                Ok(out)
            } else if err.trim().is_empty() {
                Err(format!("error {rc} without a message"))
            } else {
                Err(err)
            }
        }
    }
}

/// Copies a buffer returned by libnftables (null means empty).
///
/// # Safety
/// `p` is null or a NUL-terminated string valid until the next call into the context.
unsafe fn take(p: *const c_char) -> String {
    if p.is_null() {
        String::new()
    } else {
        CStr::from_ptr(p).to_string_lossy().into_owned()
    }
}

impl Drop for NftContext {
    fn drop(&mut self) {
        // SAFETY: we own the context and never use it again; `self.lib` (dropped after this,
        // unloading the library if no other context holds it) keeps the function loaded.
        unsafe { (self.lib.nft_ctx_free)(self.ctx.as_ptr()) }
    }
}
