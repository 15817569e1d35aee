//! Host tests of the lock facade (`dlszone::sync`, std backend): mutual
//! exclusion under contention, readers-writer semantics, condition-variable
//! wake-ups, timeouts and interruptible waits, and the guard marker traits
//! portable code relies on.
//!
//! Every blocking test runs under a watchdog, so a lost wake-up fails the
//! test instead of hanging the run.

#![cfg(not(any(loom, shuttle)))]

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Barrier;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use dlszone::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use dlszone::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock, RwLockReadGuard, Wake, signal};
use static_assertions::{assert_impl_all, assert_not_impl_any};

// Guards stay on the thread that locked (illumos panics when another thread
// calls mutex_exit); the locks themselves move and share like std's.
assert_not_impl_any!(MutexGuard<'static, u32>: Send);
assert_not_impl_any!(RwLockReadGuard<'static, u32>: Send);
assert_impl_all!(Mutex<u32>: Send, Sync);
assert_impl_all!(Mutex<Cell<u32>>: Send, Sync);
assert_not_impl_any!(Mutex<Rc<u32>>: Send, Sync);
assert_impl_all!(RwLock<u32>: Send, Sync);
assert_not_impl_any!(RwLock<Cell<u32>>: Sync);
assert_impl_all!(Condvar: Send, Sync);

/// Generous bound for anything that should happen "at once".
const WATCHDOG: Duration = Duration::from_secs(30);

/// Runs `f` on its own thread and fails if it does not finish in time.
fn with_watchdog<F: FnOnce() + Send + 'static>(name: &str, f: F) {
    let (tx, rx) = mpsc::channel();
    let h = thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            f();
            let _ = tx.send(());
        })
        .expect("spawn");
    match rx.recv_timeout(WATCHDOG) {
        Ok(()) => h.join().expect("test thread panicked"),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            // The thread panicked before sending: report its panic.
            h.join().expect("test thread panicked");
        }
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("{name}: no progress in {WATCHDOG:?}"),
    }
}

#[test]
fn mutex_serialises_contending_threads() {
    with_watchdog("mutex", || {
        const THREADS: u32 = 8;
        const ROUNDS: u32 = 5_000;
        // (counter, threads currently inside the critical section)
        let m = Arc::new(Mutex::new((0u32, 0u32)));
        let max_inside = Arc::new(AtomicU32::new(0));
        let start = Arc::new(Barrier::new(THREADS as usize));
        let workers: Vec<_> = (0..THREADS)
            .map(|_| {
                let (m, max_inside, start) = (m.clone(), max_inside.clone(), start.clone());
                thread::spawn(move || {
                    start.wait();
                    for _ in 0..ROUNDS {
                        let mut g = m.lock();
                        g.1 += 1;
                        max_inside.fetch_max(g.1, Ordering::Relaxed);
                        let v = g.0;
                        thread::yield_now(); // widen the window for a lost update
                        g.0 = v + 1;
                        g.1 -= 1;
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().expect("worker");
        }
        assert_eq!(m.lock().0, THREADS * ROUNDS, "lost updates");
        assert_eq!(max_inside.load(Ordering::Relaxed), 1, "two holders at once");
    });
}

#[test]
fn rwlock_admits_concurrent_readers() {
    with_watchdog("readers", || {
        let l = Arc::new(RwLock::new(7u32));
        let both_in = Arc::new(Barrier::new(2));
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let (l, both_in) = (l.clone(), both_in.clone());
                thread::spawn(move || {
                    let g = l.read();
                    // Both readers must hold the lock at the same time to
                    // get past this barrier; exclusive reads would hang.
                    both_in.wait();
                    assert_eq!(*g, 7);
                })
            })
            .collect();
        for r in readers {
            r.join().expect("reader");
        }
    });
}

#[test]
fn rwlock_writers_are_exclusive() {
    with_watchdog("writers", || {
        // Writers keep a == b; a reader must never see them differ.
        let l = Arc::new(RwLock::new((0u64, 0u64)));
        let stop = Arc::new(AtomicBool::new(false));
        let writers: Vec<_> = (0..3)
            .map(|_| {
                let l = l.clone();
                thread::spawn(move || {
                    for _ in 0..2_000 {
                        let mut g = l.write();
                        g.0 += 1;
                        thread::yield_now();
                        g.1 += 1;
                    }
                })
            })
            .collect();
        let readers: Vec<_> = (0..3)
            .map(|_| {
                let (l, stop) = (l.clone(), stop.clone());
                thread::spawn(move || {
                    let mut seen = 0u64;
                    while !stop.load(Ordering::Acquire) {
                        let g = l.read();
                        assert_eq!(g.0, g.1, "reader saw a half-done write");
                        seen += 1;
                    }
                    seen
                })
            })
            .collect();
        for w in writers {
            w.join().expect("writer");
        }
        stop.store(true, Ordering::Release);
        for r in readers {
            r.join().expect("reader");
        }
        assert_eq!(*l.read(), (6_000, 6_000));
    });
}

#[test]
fn condvar_hands_items_from_producer_to_consumer() {
    with_watchdog("queue", || {
        let q = Arc::new((Mutex::new(Vec::<u32>::new()), Condvar::new()));
        let consumer = {
            let q = q.clone();
            thread::spawn(move || {
                let (m, cv) = &*q;
                let mut got = Vec::new();
                while got.len() < 1_000 {
                    let mut g = m.lock();
                    while g.is_empty() {
                        g = cv.wait(g);
                    }
                    got.append(&mut g);
                }
                got
            })
        };
        let (m, cv) = &*q;
        for i in 0..1_000 {
            m.lock().push(i);
            cv.notify_one();
        }
        let got = consumer.join().expect("consumer");
        assert_eq!(got, (0..1_000).collect::<Vec<_>>());
    });
}

#[test]
fn notify_all_wakes_every_waiter() {
    with_watchdog("broadcast", || {
        const WAITERS: usize = 6;
        let state = Arc::new((Mutex::new((false, 0usize)), Condvar::new()));
        let waiters: Vec<_> = (0..WAITERS)
            .map(|_| {
                let state = state.clone();
                thread::spawn(move || {
                    let (m, cv) = &*state;
                    let mut g = m.lock();
                    g.1 += 1; // registered as waiting
                    cv.notify_all();
                    while !g.0 {
                        g = cv.wait(g);
                    }
                })
            })
            .collect();
        let (m, cv) = &*state;
        // Wait until every thread is inside its wait loop.
        let mut g = m.lock();
        while g.1 < WAITERS {
            g = cv.wait(g);
        }
        g.0 = true;
        drop(g);
        cv.notify_all();
        for w in waiters {
            w.join().expect("waiter");
        }
    });
}

#[test]
fn notify_one_wakes_waiters_one_permit_at_a_time() {
    with_watchdog("signal", || {
        // tokens counts permits; each notify_one after adding one permit
        // lets exactly one waiter proceed (others re-check and sleep).
        let state = Arc::new((Mutex::new((0u32, 0u32)), Condvar::new())); // (tokens, done)
        let waiters: Vec<_> = (0..4)
            .map(|_| {
                let state = state.clone();
                thread::spawn(move || {
                    let (m, cv) = &*state;
                    let mut g = m.lock();
                    while g.0 == 0 {
                        g = cv.wait(g);
                    }
                    g.0 -= 1;
                    g.1 += 1;
                })
            })
            .collect();
        let (m, cv) = &*state;
        for _ in 0..4 {
            m.lock().0 += 1;
            cv.notify_one();
        }
        for w in waiters {
            w.join().expect("waiter");
        }
        assert_eq!(*m.lock(), (0, 4));
    });
}

#[test]
fn wait_timeout_expires_without_notification() {
    with_watchdog("timeout", || {
        let m = Mutex::new(());
        let cv = Condvar::new();
        let start = Instant::now();
        let (g, wake) = cv.wait_timeout_ms(m.lock(), 50);
        drop(g);
        assert_eq!(wake, Wake::TimedOut);
        assert!(start.elapsed() >= Duration::from_millis(50), "woke early: {:?}", start.elapsed());
    });
}

#[test]
fn wait_timeout_returns_signalled_when_notified() {
    with_watchdog("timeout-notified", || {
        let state = Arc::new((Mutex::new(false), Condvar::new()));
        let notifier = {
            let state = state.clone();
            thread::spawn(move || {
                thread::sleep(Duration::from_millis(20));
                let (m, cv) = &*state;
                *m.lock() = true;
                cv.notify_one();
            })
        };
        let (m, cv) = &*state;
        let mut g = m.lock();
        let mut last = Wake::Signalled;
        while !*g {
            let (g2, wake) = cv.wait_timeout_ms(g, 20_000);
            g = g2;
            last = wake;
        }
        assert_eq!(last, Wake::Signalled);
        drop(g);
        notifier.join().expect("notifier");
    });
}

#[test]
fn wait_sig_reports_a_pending_signal_once() {
    with_watchdog("wait_sig", || {
        let state = Arc::new((Mutex::new(false), Condvar::new()));
        let (m, cv) = &*state;

        // A pending signal interrupts the wait at once and is consumed.
        signal::raise();
        let (g, wake) = cv.wait_sig(m.lock());
        assert_eq!(wake, Wake::Interrupted);
        drop(g);

        // Without one, the wait sleeps until notified.
        let notifier = {
            let state = state.clone();
            thread::spawn(move || {
                thread::sleep(Duration::from_millis(20));
                let (m, cv) = &*state;
                *m.lock() = true;
                cv.notify_all();
            })
        };
        let mut g = m.lock();
        while !*g {
            let (g2, wake) = cv.wait_sig(g);
            assert_eq!(wake, Wake::Signalled);
            g = g2;
        }
        drop(g);
        notifier.join().expect("notifier");
    });
}

#[test]
fn a_signal_is_per_thread() {
    with_watchdog("signal-per-thread", || {
        signal::raise(); // pending on this thread only
        let other = thread::spawn(|| {
            let m = Mutex::new(());
            let cv = Condvar::new();
            // No signal here: the bounded wait must time out, not be
            // interrupted.
            let (_g, wake) = cv.wait_timeout_ms(m.lock(), 10);
            wake
        });
        assert_eq!(other.join().expect("other"), Wake::TimedOut);
        let m = Mutex::new(());
        let (_g, wake) = Condvar::new().wait_sig(m.lock());
        assert_eq!(wake, Wake::Interrupted);
    });
}
