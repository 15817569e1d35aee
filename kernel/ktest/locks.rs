//! Suite `sync`: the lock facade on one thread. In the kernel these are
//! `kmutex_t`, `krwlock_t` and `kcondvar_t`; on the host, std's.

use alloc::vec;

use crate::Outcome;
use crate::{kt_assert, kt_assert_eq, kt_assert3u, kt_pass};
use dlszone::sync::atomic::{AtomicU64, Ordering};
use dlszone::sync::{Arc, Condvar, Mutex, RwLock, Wake};

/// How many timed waits a body allows before concluding the timeout
/// never fires: a wait may wake spuriously, but not forever.
const TRIES: usize = 20;

/// Waits of this many milliseconds: long enough to be a real sleep
/// (at least one clock tick at `hz` 100), short enough to keep runs fast.
const WAIT_MS: u64 = 10;

pub(super) fn mutex_guards_data() -> Outcome {
    let m = Mutex::new(5u64);
    {
        let mut g = m.lock();
        *g += 1;
    }
    kt_assert3u!(*m.lock(), ==, 6);
    // Two locks held at once, in a fixed order, and released in reverse.
    let other = Mutex::new(vec![1u32, 2]);
    {
        let a = m.lock();
        let mut b = other.lock();
        b.push(u32::try_from(*a).unwrap_or(0));
    }
    kt_assert_eq!(*other.lock(), vec![1, 2, 6]);
    // Dropping a guard unlocks: a second lock does not deadlock.
    let g = m.lock();
    drop(g);
    kt_assert3u!(*m.lock(), ==, 6);
    kt_pass!()
}

pub(super) fn condvar_wait_times_out() -> Outcome {
    let m = Mutex::new(0u32);
    let cv = Condvar::new();
    let mut g = m.lock();
    let mut timed_out = false;
    for _ in 0..TRIES {
        let (back, wake) = cv.wait_timeout_ms(g, WAIT_MS);
        g = back;
        if wake == Wake::TimedOut {
            timed_out = true;
            break;
        }
    }
    kt_assert!(timed_out, "{TRIES} waits of {WAIT_MS} ms never timed out");
    // The wait hands the mutex back held.
    *g += 1;
    drop(g);
    kt_assert3u!(*m.lock(), ==, 1);
    kt_pass!()
}

pub(super) fn condvar_notify_has_no_memory() -> Outcome {
    let m = Mutex::new(());
    let cv = Condvar::new();
    // Waking nobody neither blocks nor wakes a later waiter.
    cv.notify_one();
    cv.notify_all();
    let mut g = m.lock();
    let mut timed_out = false;
    for _ in 0..TRIES {
        let (back, wake) = cv.wait_timeout_ms(g, WAIT_MS);
        g = back;
        if wake == Wake::TimedOut {
            timed_out = true;
            break;
        }
    }
    drop(g);
    kt_assert!(timed_out, "an earlier notify woke a later waiter");
    kt_pass!()
}

/// An interruptible wait with a signal pending returns `Interrupted`
/// holding the mutex. Only the host can post a signal to its own thread.
pub(super) fn condvar_wait_sig_interrupted() -> Outcome {
    #[cfg(kmod)]
    {
        crate::kt_skip!("needs a signal pending on the test thread; runs on the host only");
    }
    #[cfg(not(kmod))]
    {
        let m = Mutex::new(7u32);
        let cv = Condvar::new();
        dlszone::sync::signal::raise();
        let (g, wake) = cv.wait_sig(m.lock());
        kt_assert_eq!(wake, Wake::Interrupted);
        kt_assert3u!(*g, ==, 7);
        drop(g);
        kt_pass!()
    }
}

pub(super) fn rwlock_readers_share() -> Outcome {
    let l = RwLock::new(vec![1u32, 2, 3]);
    {
        let a = l.read();
        let b = l.read();
        kt_assert3u!(a.len(), ==, 3);
        kt_assert3u!(b.len(), ==, 3);
        crate::kt_assert3p!(&*a, ==, &*b);
    }
    l.write().push(4);
    kt_assert_eq!(*l.read(), vec![1, 2, 3, 4]);
    kt_pass!()
}

pub(super) fn atomics_and_arc() -> Outcome {
    let n = Arc::new(AtomicU64::new(0));
    let m = n.clone();
    kt_assert3u!(Arc::strong_count(&n), ==, 2);
    kt_assert!(Arc::ptr_eq(&n, &m));
    for _ in 0..10 {
        m.fetch_add(3, Ordering::Relaxed);
    }
    kt_assert3u!(n.load(Ordering::Relaxed), ==, 30);
    kt_assert3u!(n.swap(1, Ordering::AcqRel), ==, 30);
    drop(m);
    kt_assert3u!(Arc::strong_count(&n), ==, 1);
    kt_assert3u!(n.load(Ordering::Acquire), ==, 1);
    kt_pass!()
}
