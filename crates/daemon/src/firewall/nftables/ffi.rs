//! The few libnftables functions Warden needs (`libnftables.so.1`, package `libnftables1`;
//! linking needs `libnftables-dev`).
//!
//! A context holds a netlink socket opened when the context is created, in the network
//! namespace of the creating thread, and a cache; it is not thread-safe, so [`NftContext`] is
//! `Send` but used behind a `Mutex`.

use std::ffi::{c_char, c_int, CStr, CString};
use std::ptr::NonNull;

#[repr(C)]
struct RawCtx {
    _opaque: [u8; 0],
}

const NFT_CTX_DEFAULT: u32 = 0;

#[link(name = "nftables")]
extern "C" {
    fn nft_ctx_new(flags: u32) -> *mut RawCtx;
    fn nft_ctx_free(ctx: *mut RawCtx);
    fn nft_ctx_buffer_output(ctx: *mut RawCtx) -> c_int;
    fn nft_ctx_get_output_buffer(ctx: *mut RawCtx) -> *const c_char;
    fn nft_ctx_buffer_error(ctx: *mut RawCtx) -> c_int;
    fn nft_ctx_get_error_buffer(ctx: *mut RawCtx) -> *const c_char;
    fn nft_run_cmd_from_buffer(ctx: *mut RawCtx, buf: *const c_char) -> c_int;
}

/// An owned libnftables context with buffered output and errors.
pub struct NftContext {
    ctx: NonNull<RawCtx>,
}

// SAFETY: the context is only ever used through `&mut self`, by one thread at a time; it holds
// no thread-local state (its socket and cache are plain heap data).
unsafe impl Send for NftContext {}

impl NftContext {
    /// Creates a context bound to the calling thread's network namespace.
    pub fn new() -> Result<NftContext, String> {
        // SAFETY: plain constructor; a null return is checked.
        let raw = unsafe { nft_ctx_new(NFT_CTX_DEFAULT) };
        let ctx = NonNull::new(raw).ok_or("nft_ctx_new failed")?;
        // SAFETY: `ctx` is a live context owned by us.
        unsafe {
            if nft_ctx_buffer_output(ctx.as_ptr()) != 0 || nft_ctx_buffer_error(ctx.as_ptr()) != 0 {
                nft_ctx_free(ctx.as_ptr());
                return Err("cannot buffer libnftables output".into());
            }
        }
        Ok(NftContext { ctx })
    }

    /// Runs `commands` (nft syntax, one command a line) as one transaction; returns nft's
    /// output or its error text.
    pub fn run(&mut self, commands: &str) -> Result<String, String> {
        let buf = CString::new(commands).map_err(|_| "command text contains NUL".to_owned())?;
        // SAFETY: `self.ctx` is live; `buf` outlives the call; the returned buffers are owned by
        // the context and copied before the next call into it.
        unsafe {
            let rc = nft_run_cmd_from_buffer(self.ctx.as_ptr(), buf.as_ptr());
            let out = take(nft_ctx_get_output_buffer(self.ctx.as_ptr()));
            let err = take(nft_ctx_get_error_buffer(self.ctx.as_ptr()));
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
        // SAFETY: we own the context and never use it again.
        unsafe { nft_ctx_free(self.ctx.as_ptr()) }
    }
}
