//! Sorting with a constant, small stack, for code that runs in the kernel.
//!
//! The slice sorts of `core` (`sort`, `sort_unstable`, `sort_by`, ...) are
//! quicksort and driftsort hybrids that recurse: in the kernel build each
//! level of `quicksort` takes 1.3 to 1.9 KiB of stack, depending on the
//! element type, on a thread that has 20 KiB in all. The stack gate
//! (`tools/kobj-gates`, `docs/build.md`) fails on any recursion reachable
//! from a kernel entry point, so code built into a kernel object sorts
//! with these functions instead.
//!
//! They implement heapsort: in place, no allocation, no recursion,
//! `O(n log n)` comparisons in the worst case, one frame of a few dozen
//! bytes; a slice of up to [`SHORT`] elements (the links of a zone being
//! halted, most often) is sorted by insertion instead, which is cheaper
//! there. Like `sort_unstable`, they do not promise to keep the order of
//! equal elements.
//!
//! A comparison that is not a total order leaves the slice in some
//! permutation of its elements; it never panics and never loops forever.

use core::cmp::Ordering;

/// Sorts `v` in ascending order, equal elements in no particular order.
pub fn sort_unstable<T: Ord>(v: &mut [T]) {
    sort_unstable_by(v, T::cmp);
}

/// Slices up to this long are sorted by insertion.
pub const SHORT: usize = 16;

/// Sorts `v` by `compare`, equal elements in no particular order.
pub fn sort_unstable_by<T, F>(v: &mut [T], mut compare: F)
where
    F: FnMut(&T, &T) -> Ordering,
{
    let len = v.len();
    if len <= SHORT {
        // Each element moves left past the larger ones before it.
        for i in 1..len {
            let mut j = i;
            while j > 0 && compare(&v[j - 1], &v[j]) == Ordering::Greater {
                v.swap(j - 1, j);
                j -= 1;
            }
        }
        return;
    }
    // Turn the slice into a max-heap: every parent at least its children.
    for root in (0..len / 2).rev() {
        sift_down(v, root, &mut compare);
    }
    // Move the largest element behind the heap, shrink the heap, repeat.
    for end in (1..len).rev() {
        v.swap(0, end);
        sift_down(&mut v[..end], 0, &mut compare);
    }
}

/// Moves `heap[root]` down until neither child is larger.
fn sift_down<T, F>(heap: &mut [T], mut root: usize, compare: &mut F)
where
    F: FnMut(&T, &T) -> Ordering,
{
    loop {
        // root < len / 2 whenever a child exists, so this cannot overflow.
        let mut child = 2 * root + 1;
        if child >= heap.len() {
            return;
        }
        if child + 1 < heap.len() && compare(&heap[child], &heap[child + 1]) == Ordering::Less {
            child += 1;
        }
        if compare(&heap[root], &heap[child]) != Ordering::Less {
            return;
        }
        heap.swap(root, child);
        root = child;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    /// A small deterministic generator, so failures reproduce.
    fn values(seed: u64, n: usize, modulo: u64) -> Vec<u64> {
        let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x % modulo
            })
            .collect()
    }

    #[test]
    fn sorts_like_core() {
        for n in 0..70 {
            for (seed, modulo) in [(1, 1000), (2, 3), (3, 1), (n as u64, 50)] {
                let mut ours = values(seed, n, modulo);
                let mut theirs = ours.clone();
                sort_unstable(&mut ours);
                theirs.sort_unstable();
                assert_eq!(ours, theirs, "n {n} seed {seed} modulo {modulo}");
            }
        }
    }

    #[test]
    fn sorts_sorted_and_reversed_input() {
        let mut up: Vec<u32> = (0..257).collect();
        let mut down: Vec<u32> = (0..257).rev().collect();
        sort_unstable(&mut up);
        sort_unstable(&mut down);
        assert_eq!(up, down);
        assert!(up.windows(2).all(|w| w[0] <= w[1]));
    }

    #[test]
    fn sorts_by_a_key_and_keeps_every_element() {
        let mut v: Vec<(u8, u32)> =
            values(7, 300, 1 << 20).into_iter().map(|x| ((x % 7) as u8, x as u32)).collect();
        let mut expected = v.clone();
        sort_unstable_by(&mut v, |a, b| b.0.cmp(&a.0));
        assert!(v.windows(2).all(|w| w[0].0 >= w[1].0));
        v.sort();
        expected.sort();
        assert_eq!(v, expected);
    }

    #[test]
    fn survives_an_inconsistent_comparison() {
        let mut v = values(9, 100, 100);
        let mut expected = v.clone();
        let mut flip = false;
        sort_unstable_by(&mut v, |a, b| {
            flip = !flip;
            if flip { a.cmp(b) } else { b.cmp(a) }
        });
        v.sort();
        expected.sort();
        assert_eq!(v, expected);
    }
}
