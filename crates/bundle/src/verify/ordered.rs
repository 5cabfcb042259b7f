//! An ordered pipeline without barriers: one thread reads items a task's worth at a time and
//! hands each task to the pool; the tasks' results are merged in the order of the items, as soon
//! as they are contiguous. While enough tasks are pending, the reading thread runs tasks itself
//! instead of reading on: memory is bounded (and the bound is reached every time the reader
//! waits, whatever the timing), and every core stays busy.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// How the items flow: `task` items per task (a quarter of that in the last `tail` items, so
/// that the cores finish together), at most `in_flight` tasks pending. At most
/// `(in_flight + 1) * task` items are held at once: the pending tasks' and those being read.
#[derive(Debug, Clone, Copy)]
pub(super) struct Shape {
    pub(super) task: usize,
    pub(super) in_flight: usize,
    pub(super) tail: usize,
}

impl Shape {
    /// The most items held at once.
    pub(super) const fn held(&self) -> usize {
        (self.in_flight + 1) * self.task
    }
}

/// Reads `count` items with `read(start, end)` (a task's worth at a time, on the calling
/// thread), runs `work` on them (a task on the rayon pool), and calls `merge` with each task's
/// result in the items' order (on the calling thread). A panic in a task is raised here once
/// every task has ended.
pub(super) fn run<T, R>(
    count: usize,
    shape: Shape,
    mut read: impl FnMut(usize, usize) -> Vec<T> + Send,
    work: impl Fn(Vec<T>) -> R + Sync,
    mut merge: impl FnMut(R) + Send,
) where
    T: Send,
    R: Send,
{
    let (task, in_flight) = (shape.task.max(1), shape.in_flight.max(1));
    let small = (task / 4).max(1);
    let done: Mutex<BTreeMap<usize, R>> = Mutex::new(BTreeMap::new());
    let pending = AtomicUsize::new(0);
    let work = &work;
    rayon::scope(|s| {
        let mut merged = 0;
        let mut merge_ready = |merged: &mut usize| {
            let mut done = lock(&done);
            while let Some(r) = done.remove(merged) {
                merge(r);
                *merged += 1;
            }
        };
        let mut start = 0;
        let mut spawned = 0;
        while start < count {
            let size = if count - start <= shape.tail {
                small
            } else {
                task
            };
            let end = (start + size).min(count);
            let these = read(start, end);
            run_tasks_while(|| pending.load(Ordering::Acquire) >= in_flight);
            pending.fetch_add(1, Ordering::AcqRel);
            let (id, finished, left) = (spawned, &done, &pending);
            spawned += 1;
            s.spawn(move |_| {
                // Counted down even if the task panics (the scope then raises it): the reading
                // thread never waits for a task that is gone.
                let _left = CountDown(left);
                let r = work(these);
                lock(finished).insert(id, r);
            });
            merge_ready(&mut merged);
            start = end;
        }
        run_tasks_while(|| pending.load(Ordering::Acquire) > 0);
        merge_ready(&mut merged);
    });
}

/// Decrements a count of pending tasks when dropped.
struct CountDown<'a>(&'a AtomicUsize);

impl Drop for CountDown<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Runs pending pool tasks on this thread (or lets other threads run) while `busy()` holds.
fn run_tasks_while(busy: impl Fn() -> bool) {
    while busy() {
        if rayon::yield_now() != Some(rayon::Yield::Executed) {
            std::thread::yield_now();
        }
    }
}

/// The finished results: a task that panicked left no half-written entry (one insert), so a
/// poisoned lock is still consistent.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Tasks that finish out of order (later ones faster) are merged in the items' order, every
    /// item exactly once, with at most `in_flight` tasks' items read but not merged.
    #[test]
    fn results_arrive_in_order_and_memory_stays_bounded() {
        for (count, tail, task, in_flight) in [(1000, 128, 32, 8), (37, 10, 3, 2), (5, 8, 8, 1)] {
            let held = AtomicUsize::new(0);
            let max_held = AtomicUsize::new(0);
            let mut seen = Vec::new();
            run(
                count,
                Shape {
                    task,
                    in_flight,
                    tail,
                },
                |start, end| {
                    let now = held.fetch_add(end - start, Ordering::AcqRel) + end - start;
                    max_held.fetch_max(now, Ordering::AcqRel);
                    (start..end).collect::<Vec<usize>>()
                },
                |items: Vec<usize>| {
                    // Earlier tasks take longer.
                    std::thread::sleep(Duration::from_micros(
                        200 * (7 - (items[0] / task) % 7) as u64,
                    ));
                    held.fetch_sub(items.len(), Ordering::AcqRel);
                    items.iter().map(|i| i * 2).collect::<Vec<_>>()
                },
                |r| seen.extend(r),
            );
            assert_eq!(
                seen,
                (0..count).map(|i| i * 2).collect::<Vec<_>>(),
                "{count} items"
            );
            let bound = Shape {
                task,
                in_flight,
                tail,
            }
            .held();
            assert!(
                max_held.load(Ordering::Acquire) <= bound,
                "{} items held at once, bound {bound}",
                max_held.load(Ordering::Acquire),
            );
        }
    }

    /// A task that panics ends the pipeline with that panic, without hanging the reader.
    #[test]
    fn a_panicking_task_is_raised_and_nothing_hangs() {
        let caught = std::panic::catch_unwind(|| {
            run(
                100,
                Shape {
                    task: 5,
                    in_flight: 2,
                    tail: 10,
                },
                |start, end| (start..end).collect::<Vec<usize>>(),
                |items: Vec<usize>| {
                    assert!(!items.contains(&42), "task with item 42");
                    items.len()
                },
                |_| {},
            )
        });
        let message = caught.expect_err("the task's panic reaches the caller");
        let text = message
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| message.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_default();
        assert!(text.contains("item 42"), "{text}");
    }
}
