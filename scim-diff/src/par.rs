//! Data parallelism on scoped threads, for planning a large organisation on every core.
//!
//! The planner is pure: these helpers only split read-only work over
//! `std::thread::available_parallelism()` threads (which respects a container's CPU quota)
//! and put the results back in input order, so a plan never depends on the thread count.
//! Below [`MIN_WORK`] items of work everything runs on the calling thread.

use std::cell::Cell;
use std::panic::resume_unwind;

/// Below this much work (roughly: records touched) the calling thread does it alone;
/// starting a thread costs tens of microseconds.
pub(crate) const MIN_WORK: usize = 4096;

/// How planning spreads its work over threads (see [`plan_with`](crate::plan_with)). The
/// plan is the same whatever the choice; only the time it takes differs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Parallelism {
    /// Threads for large inputs (from 4096 records), on up to eight cores.
    #[default]
    Auto,
    /// Everything on the calling thread.
    Sequential,
    /// Threads whatever the size of the input (at least two, even on one core): what the
    /// tests use to cross the threading threshold with small inputs.
    Threaded,
}

thread_local! {
    /// The mode of the plan being computed on this thread.
    static MODE: Cell<Parallelism> = const { Cell::new(Parallelism::Auto) };
}

/// Runs `f` with `mode` in force on this thread (restoring the previous mode after).
pub(crate) fn with_mode<R>(mode: Parallelism, f: impl FnOnce() -> R) -> R {
    struct Restore(Parallelism);
    impl Drop for Restore {
        fn drop(&mut self) {
            MODE.with(|m| m.set(self.0));
        }
    }
    let _restore = Restore(MODE.with(|m| m.replace(mode)));
    f()
}

fn threads() -> usize {
    let available = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
    match MODE.with(Cell::get) {
        Parallelism::Threaded => available.max(2),
        _ => available,
    }
}

/// Whether `work` is worth spreading over threads (never on one core, unless forced).
pub(crate) fn worth_threads(work: usize) -> bool {
    match MODE.with(Cell::get) {
        Parallelism::Auto => work >= MIN_WORK && threads() >= 2,
        Parallelism::Sequential => false,
        Parallelism::Threaded => true,
    }
}

/// `items.iter().enumerate().map(f)` collected in order; on several threads if `work` is
/// large. Each thread gets its own scratch state from `init`.
pub(crate) fn map<T: Sync, S, R: Send>(
    items: &[T],
    work: usize,
    init: impl Fn() -> S + Sync,
    f: impl Fn(&mut S, usize, &T) -> R + Sync,
) -> Vec<R> {
    let mut parts = map_chunks(items, work, |offset, part| {
        let mut state = init();
        part.iter()
            .enumerate()
            .map(|(i, t)| f(&mut state, offset + i, t))
            .collect::<Vec<R>>()
    })
    .into_iter();
    let mut out = parts.next().unwrap_or_default();
    out.reserve(items.len() - out.len());
    parts.for_each(|p| out.extend(p));
    out
}

/// `f(offset, chunk)` on consecutive chunks of `items`, one per thread (or the whole slice
/// on the calling thread if `work` is small), the results in order.
pub(crate) fn map_chunks<T: Sync, R: Send>(
    items: &[T],
    work: usize,
    f: impl Fn(usize, &[T]) -> R + Sync,
) -> Vec<R> {
    if !worth_threads(work) || items.len() < 2 {
        return vec![f(0, items)];
    }
    let chunk = items.len().div_ceil(threads());
    std::thread::scope(|s| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .enumerate()
            .skip(1)
            .map(|(c, part)| {
                let f = &f;
                s.spawn(move || f(c * chunk, part))
            })
            .collect();
        let mut out = Vec::with_capacity(handles.len() + 1);
        out.push(f(0, &items[..chunk]));
        out.extend(
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|e| resume_unwind(e))),
        );
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
            let chunks = super::map_chunks(&items, work, |offset, part| (offset, part.len()));
            let mut next = 0;
            for (offset, len) in chunks {
                assert_eq!(offset, next, "consecutive chunks, in order");
                next += len;
            }
            assert_eq!(next, items.len(), "every item in one chunk");
        }
    }
}
