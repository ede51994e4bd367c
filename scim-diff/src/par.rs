//! Data parallelism on scoped threads, for planning a large organisation on every core.
//!
//! The planner is pure: these helpers only split read-only work over
//! `std::thread::available_parallelism()` threads (which respects a container's CPU quota)
//! and put the results back in input order, so a plan never depends on the thread count.
//! Below [`MIN_WORK`] items of work everything runs on the calling thread.

use std::panic::resume_unwind;

/// Below this much work (roughly: records touched) the calling thread does it alone;
/// starting a thread costs tens of microseconds.
pub(crate) const MIN_WORK: usize = 4096;

fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(8))
}

/// Whether `work` is worth spreading over threads (never on one core).
pub(crate) fn worth_threads(work: usize) -> bool {
    work >= MIN_WORK && threads() >= 2
}

/// Runs `f` on every item; on several threads if `work` is large.
pub(crate) fn for_each_mut<T: Send>(items: &mut [T], work: usize, f: impl Fn(&mut T) + Sync) {
    if !worth_threads(work) || items.len() < 2 {
        items.iter_mut().for_each(f);
        return;
    }
    let chunk = items.len().div_ceil(threads());
    std::thread::scope(|s| {
        let mut chunks = items.chunks_mut(chunk);
        let first = chunks.next();
        let handles: Vec<_> = chunks
            .map(|c| {
                let f = &f;
                s.spawn(move || c.iter_mut().for_each(f))
            })
            .collect();
        if let Some(c) = first {
            c.iter_mut().for_each(&f);
        }
        for h in handles {
            h.join().unwrap_or_else(|e| resume_unwind(e));
        }
    });
}

/// `items.iter().enumerate().map(f)` collected in order; on several threads if `work` is
/// large. Each thread gets its own scratch state from `init`.
pub(crate) fn map<T: Sync, S, R: Send>(
    items: &[T],
    work: usize,
    init: impl Fn() -> S + Sync,
    f: impl Fn(&mut S, usize, &T) -> R + Sync,
) -> Vec<R> {
    let run = |offset: usize, part: &[T]| -> Vec<R> {
        let mut state = init();
        part.iter()
            .enumerate()
            .map(|(i, t)| f(&mut state, offset + i, t))
            .collect()
    };
    if !worth_threads(work) || items.len() < 2 {
        return run(0, items);
    }
    let chunk = items.len().div_ceil(threads());
    std::thread::scope(|s| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .enumerate()
            .skip(1)
            .map(|(c, part)| {
                let run = &run;
                s.spawn(move || run(c * chunk, part))
            })
            .collect();
        let mut out = run(0, &items[..chunk]);
        out.reserve(items.len() - out.len());
        for h in handles {
            out.extend(h.join().unwrap_or_else(|e| resume_unwind(e)));
        }
        out
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn results_keep_input_order_whatever_the_split() {
        let items: Vec<usize> = (0..10_000).collect();
        for work in [0, super::MIN_WORK, usize::MAX] {
            let out = super::map(
                &items,
                work,
                || 0usize,
                |n, i, &t| {
                    *n += 1;
                    assert_eq!(i, t);
                    t * 2
                },
            );
            assert_eq!(out, items.iter().map(|t| t * 2).collect::<Vec<_>>());
            let mut v = items.clone();
            super::for_each_mut(&mut v, work, |t| *t += 1);
            assert_eq!(v, items.iter().map(|t| t + 1).collect::<Vec<_>>());
        }
    }
}
