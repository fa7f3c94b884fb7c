//! Asymmetric fences: the reader side of a read section is a plain store plus a compiler
//! fence; the writer side pays with `membarrier(2)` `MEMBARRIER_CMD_PRIVATE_EXPEDITED`,
//! which makes every running thread of the process execute a full memory barrier. That
//! turns each reader's compiler fence into a real one at the moment it matters (the same
//! idea as Linux's `sys_membarrier`-based userspace RCU and the `seize` crate).
//!
//! Where membarrier is unavailable (old kernels, seccomp, Miri, loom) the reader executes a
//! real `SeqCst` fence instead. The choice is made once per process, before the first
//! [`Domain`](crate::Domain) exists and therefore before any reader can run: a reader
//! that skipped its fence while the writer did not send the barrier would be unsound.
//!
//! The environment variable `PSREF_FORCE_FALLBACK=1` (read once, at that moment) forces the
//! fallback, so that tests and benchmarks can exercise both paths on one machine.

use crate::sync::{AtomicU64, Ordering, fence};

#[cfg(not(any(loom, miri)))]
use std::sync::atomic::AtomicU8;

/// Which fence protocol the process uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BarrierMode {
    /// Readers use a compiler fence; writers call `membarrier(2)`.
    Membarrier,
    /// Readers use a `SeqCst` fence; writers use a `SeqCst` fence.
    Fallback,
}

#[cfg(not(any(loom, miri)))]
const UNDECIDED: u8 = 0;
#[cfg(not(any(loom, miri)))]
const FAST: u8 = 1;
#[cfg(not(any(loom, miri)))]
const SLOW: u8 = 2;

#[cfg(not(any(loom, miri)))]
static MODE: AtomicU8 = AtomicU8::new(UNDECIDED);

#[cfg(not(any(loom, miri)))]
mod sys {
    // From <linux/membarrier.h>.
    pub(super) const CMD_QUERY: libc::c_int = 0;
    pub(super) const CMD_PRIVATE_EXPEDITED: libc::c_int = 1 << 3;
    pub(super) const CMD_REGISTER_PRIVATE_EXPEDITED: libc::c_int = 1 << 4;

    #[cfg(target_os = "linux")]
    pub(super) fn membarrier(cmd: libc::c_int) -> libc::c_long {
        // SAFETY: membarrier takes two integer arguments and touches no memory of ours;
        // any failure is reported through the return value.
        unsafe {
            libc::syscall(
                libc::SYS_membarrier,
                cmd,
                0 as libc::c_uint,
                0 as libc::c_int,
            )
        }
    }

    #[cfg(not(target_os = "linux"))]
    pub(super) fn membarrier(_cmd: libc::c_int) -> libc::c_long {
        -1
    }
}

/// Decides the mode for the whole process (idempotent, thread-safe) and registers for
/// expedited membarrier when it can. Called by `Domain::new`; calling it early in `main`,
/// while the process has one thread, makes the registration cost microseconds instead of
/// the ≈ 15 ms the kernel needs once several threads exist.
pub fn init() -> BarrierMode {
    #[cfg(any(loom, miri))]
    {
        BarrierMode::Fallback
    }
    #[cfg(not(any(loom, miri)))]
    {
        match MODE.load(Ordering::Acquire) {
            FAST => return BarrierMode::Membarrier,
            SLOW => return BarrierMode::Fallback,
            _ => {}
        }
        // Several threads may race here; all compute the same answer, the first store wins
        // and all return what is stored. No reader exists yet (no Domain has been built).
        let chosen = if std::env::var_os("PSREF_FORCE_FALLBACK").is_some_and(|v| v == "1") {
            SLOW
        } else {
            let mask = sys::membarrier(sys::CMD_QUERY);
            let wanted =
                (sys::CMD_PRIVATE_EXPEDITED | sys::CMD_REGISTER_PRIVATE_EXPEDITED) as libc::c_long;
            if mask >= 0
                && mask & wanted == wanted
                && sys::membarrier(sys::CMD_REGISTER_PRIVATE_EXPEDITED) == 0
            {
                FAST
            } else {
                SLOW
            }
        };
        let _ = MODE.compare_exchange(UNDECIDED, chosen, Ordering::AcqRel, Ordering::Acquire);
        mode()
    }
}

/// The process mode: the protocol of every domain made by [`Domain::new`](crate::Domain::new)
/// ([`Domain::fenced`](crate::Domain::fenced) domains always fence). Only meaningful after
/// [`init`] (any `Domain::new` calls it).
pub fn mode() -> BarrierMode {
    if fast() {
        BarrierMode::Membarrier
    } else {
        BarrierMode::Fallback
    }
}

#[inline(always)]
fn fast() -> bool {
    #[cfg(any(loom, miri))]
    {
        false
    }
    #[cfg(not(any(loom, miri)))]
    {
        // Relaxed is enough: MODE is written before any Domain exists, and every reader
        // reached its Domain through some synchronization after that write.
        MODE.load(Ordering::Relaxed) == FAST
    }
}

/// The reader's half: publishes the announcement `value` in `active` (Release, so a
/// writer that stops waiting on it sees everything the thread did before) and orders it
/// before the loads of protected pointers that follow.
///
/// * a membarrier domain (`membarrier`, only ever true in the membarrier process mode): a
///   plain store and a compiler fence; the writer's membarrier supplies the hardware
///   barrier.
/// * a fenced domain ([`Domain::fenced`](crate::Domain::fenced), or any domain of a
///   fallback process) on x86-64: `xchg` (a locked instruction, a full barrier on x86 — Intel SDM
///   vol. 3 §9.2.2) instead of a store followed by `mfence`, which costs about twice as
///   much here. Like the membarrier path this relies on the hardware's guarantee rather
///   than the language model's; loom and Miri check the portable form below.
/// * fallback elsewhere, and under loom/Miri: a Release store then a `SeqCst` fence.
#[inline(always)]
pub(crate) fn announce(active: &AtomicU64, value: u64, membarrier: bool) {
    #[cfg(psref_mutation = "no_reader_fence")]
    {
        // Mutation: readers skip their fence. The loom models must catch this.
        active.store(value, Ordering::Release);
        return;
    }
    #[cfg(psref_mutation = "relaxed_enter")]
    {
        // Mutation: the announcement is not a Release store. The loom models must catch it.
        active.store(value, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        return;
    }
    #[allow(unreachable_code)]
    if membarrier && fast() {
        active.store(value, Ordering::Release);
        std::sync::atomic::compiler_fence(Ordering::SeqCst);
    } else {
        #[cfg(all(target_arch = "x86_64", not(any(loom, miri))))]
        {
            active.swap(value, Ordering::SeqCst);
            std::sync::atomic::compiler_fence(Ordering::SeqCst);
        }
        #[cfg(not(all(target_arch = "x86_64", not(any(loom, miri)))))]
        {
            active.store(value, Ordering::Release);
            fence(Ordering::SeqCst);
        }
    }
}

/// The writer's half: a full fence here and, for a membarrier domain, in every running
/// thread.
pub(crate) fn writer_barrier(membarrier: bool) {
    fence(Ordering::SeqCst);
    #[cfg(any(loom, miri))]
    let _ = membarrier;
    #[cfg(not(any(loom, miri)))]
    if membarrier && fast() && sys::membarrier(sys::CMD_PRIVATE_EXPEDITED) != 0 {
        // Registration succeeded, so the kernel cannot refuse later; if it does anyway,
        // continuing would let a writer free memory a reader still uses.
        eprintln!("psref: membarrier(PRIVATE_EXPEDITED) failed after registration; aborting");
        std::process::abort();
    }
}
