//! Suite `alloc`: the global allocator (kmem in the kernel), through
//! `Box` and `Vec` only: alignment up to a page, zero-filled memory, and
//! frees with the layout of the allocation. Under `kmem_flags` auditing
//! (see `docs/testing.md`) a free with a wrong size or a write past a
//! block panics the test machine instead of passing silently.

use alloc::boxed::Box;
use alloc::vec;
use alloc::vec::Vec;

use crate::Outcome;
use crate::outcome::addr;
use crate::{kt_assert, kt_assert3u, kt_pass};

#[repr(C, align(16))]
#[derive(Clone, Copy)]
struct A16([u8; 16]);

#[repr(C, align(64))]
#[derive(Clone, Copy)]
struct A64([u8; 64]);

/// A page-aligned type. It is never built (a value would be 4 KiB of
/// kernel stack); only its layout is allocated.
#[repr(C, align(4096))]
#[allow(dead_code)]
struct Page(u8);

pub(super) fn box_and_vec_round_trip() -> Outcome {
    let b = Box::new(0x1234_5678_9abc_def0u64);
    kt_assert3u!(*b, ==, 0x1234_5678_9abc_def0u64);
    kt_assert3u!(addr(&*b) % 8, ==, 0);
    let mut v: Vec<u32> = Vec::new();
    for i in 0..1000 {
        v.push(i);
    }
    // Growing moves the contents (realloc is alloc + copy + free here).
    v.reserve(10_000);
    kt_assert3u!(v.capacity(), >=, 11_000);
    kt_assert3u!(v.iter().map(|&x| u64::from(x)).sum::<u64>(), ==, 499_500);
    v.truncate(10);
    v.shrink_to_fit();
    kt_assert3u!(v.capacity(), >=, 10);
    kt_assert!(v.iter().copied().eq(0..10));
    let s = alloc::format!("{}-{}", v[9], *b & 0xff);
    kt_assert!(s == "9-240", "{s}");
    kt_pass!()
}

pub(super) fn zeroed_allocation() -> Outcome {
    // `vec![0; n]` asks the allocator for zeroed memory (kmem_zalloc).
    for round in 0..4 {
        let v = vec![0u64; 4096];
        kt_assert!(v.iter().all(|&x| x == 0), "round {round}");
        // Dirty the block so that a non-zeroing allocator would be caught
        // if the next round gets the same memory back.
        let mut v = v;
        v.iter_mut().for_each(|x| *x = !0);
    }
    kt_pass!()
}

pub(super) fn aligned_16() -> Outcome {
    let mut boxes = Vec::new();
    for i in 0..64u8 {
        let b = Box::new(A16([i; 16]));
        kt_assert3u!(addr(&*b) % 16, ==, 0, "box {i}");
        boxes.push(b);
    }
    for (i, b) in boxes.iter().enumerate() {
        kt_assert!(b.0.iter().all(|&x| usize::from(x) == i), "box {i} corrupted");
    }
    kt_pass!()
}

pub(super) fn aligned_64() -> Outcome {
    // 64 elements of 64 bytes: a 4 KiB block realigned to 64 bytes,
    // written end to end.
    let mut v: Vec<A64> = Vec::with_capacity(64);
    kt_assert3u!(addr(v.as_ptr()) % 64, ==, 0);
    for i in 0..64u8 {
        v.push(A64([i; 64]));
    }
    for (i, e) in v.iter().enumerate() {
        kt_assert3u!(addr(e) % 64, ==, 0, "element {i}");
        kt_assert!(e.0.iter().all(|&x| usize::from(x) == i), "element {i} corrupted");
    }
    let b = Box::new(A64([0xa5; 64]));
    kt_assert3u!(addr(&*b) % 64, ==, 0);
    kt_assert!(b.0.iter().all(|&x| x == 0xa5));
    kt_pass!()
}

pub(super) fn aligned_4096() -> Outcome {
    for i in 0..8 {
        let b = Box::<Page>::new_uninit();
        kt_assert3u!(addr(b.as_ptr()) % 4096, ==, 0, "box {i}");
        let v: Vec<Page> = Vec::with_capacity(3);
        kt_assert3u!(addr(v.as_ptr()) % 4096, ==, 0, "vec {i}");
        kt_assert3u!(v.capacity(), >=, 3);
    }
    kt_pass!()
}

pub(super) fn mixed_sizes_churn() -> Outcome {
    // Sizes across kmem's caches and beyond, freed out of order.
    let mut blocks: Vec<Vec<u8>> = Vec::new();
    for (i, size) in (1..=40usize).map(|k| k * k * 7).enumerate() {
        blocks.push(vec![i as u8; size]);
    }
    let mut kept = Vec::new();
    for (i, b) in blocks.into_iter().enumerate() {
        if i % 2 == 0 {
            kept.push((i, b));
        }
    }
    let more: Vec<Box<[u16]>> = (0..40u16).map(|n| vec![n; usize::from(n) * 13].into()).collect();
    for (i, b) in &kept {
        kt_assert!(b.iter().all(|&x| usize::from(x) == *i), "block {i} corrupted");
    }
    for (n, b) in more.iter().enumerate() {
        kt_assert3u!(b.len(), ==, n * 13);
        kt_assert!(b.iter().all(|&x| usize::from(x) == n), "slice {n} corrupted");
    }
    kt_pass!()
}
