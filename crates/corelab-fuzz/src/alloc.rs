//! The allocator of the fuzz binaries and of the replay tests: the system allocator, with a cap
//! on the size of any one allocation while a target runs, proportional to the input:
//! [`cap_for`] = 64 MiB + 2048 bytes per input byte (room for gzip's ratio and a decoded volume).
//!
//! Why: a parser that allocates what a header declares before checking that the bytes are there
//! (dicom-rs does, see `corelab-dicom/src/skim.rs`) turns a 300-byte message into gigabytes. The
//! fuzzer's own memory limit notices that only when the resident set is sampled at the wrong
//! moment, names whatever input runs then, and cannot be replayed on stable. The cap makes it
//! deterministic: in the fuzz binaries an allocation over it prints its size and stack and
//! aborts, so libFuzzer saves the very input; in the tests [`largest`] is compared after each
//! input.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Allowed to any input, whatever its size.
pub const BASE: usize = 64 << 20;
/// Allowed more per byte of input.
pub const PER_INPUT_BYTE: usize = 2048;

static CAP: AtomicUsize = AtomicUsize::new(usize::MAX);
static LARGEST: AtomicUsize = AtomicUsize::new(0);
static ABORT: AtomicBool = AtomicBool::new(false);
static REPORTING: AtomicBool = AtomicBool::new(false);

/// The system allocator with the cap; install it with `#[global_allocator]`.
pub struct Capped;

/// The largest single allocation an input of `len` bytes may cause.
pub fn cap_for(len: usize) -> usize {
    BASE.saturating_add(len.saturating_mul(PER_INPUT_BYTE))
}

/// Starts counting for an input of `len` bytes (each target calls it first).
pub fn arm(len: usize) {
    LARGEST.store(0, Ordering::Relaxed);
    CAP.store(cap_for(len), Ordering::Relaxed);
}

/// The largest single allocation since [`arm`] (0 unless [`Capped`] is the global allocator).
pub fn largest() -> usize {
    LARGEST.load(Ordering::Relaxed)
}

/// Makes an allocation over the cap abort the process (the fuzz binaries); otherwise it is only
/// recorded (the tests).
pub fn abort_when_over() {
    ABORT.store(true, Ordering::Relaxed);
}

fn check(size: usize) {
    LARGEST.fetch_max(size, Ordering::Relaxed);
    let cap = CAP.load(Ordering::Relaxed);
    if size > cap && ABORT.load(Ordering::Relaxed) && !REPORTING.swap(true, Ordering::Relaxed) {
        // Reentrant allocations (the message, the backtrace) are small and pass the check.
        eprintln!(
            "corelab-fuzz: one allocation of {size} bytes, over this input's cap of {cap} bytes \
             (64 MiB + 2048 per input byte): a declared length trusted before it was checked?\n{}",
            std::backtrace::Backtrace::force_capture()
        );
        std::process::abort();
    }
}

// SAFETY: every call is forwarded to the system allocator unchanged; `check` only reads and
// writes atomics (and, once, prints before aborting).
unsafe impl GlobalAlloc for Capped {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        check(layout.size());
        // SAFETY: the caller's contract for `alloc`, passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        check(layout.size());
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        check(new_size);
        // SAFETY: the caller's contract for `realloc`, passed on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract for `dealloc`, passed on.
        unsafe { System.dealloc(ptr, layout) }
    }
}
