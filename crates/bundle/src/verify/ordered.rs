//! An ordered pipeline without barriers: one thread reads items in rounds and hands them out
//! in tasks to every core; the tasks' results are merged in the order of the items, as soon as
//! they are contiguous. While too many tasks are pending, the reading thread runs tasks itself
//! instead of reading on, which bounds memory and keeps every core busy.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// How the items flow: `round` items read at a time, `task` items per task, at most
/// `in_flight` tasks pending.
#[derive(Debug, Clone, Copy)]
pub(super) struct Shape {
    pub(super) round: usize,
    pub(super) task: usize,
    pub(super) in_flight: usize,
}

/// Reads `count` items with `read(start, end)` (a round at a time, on the calling thread),
/// runs `work` on every `shape.task` consecutive items (tasks on the rayon pool; smaller in the
/// last round), and calls
/// `merge` with each task's result in the items' order (on the calling thread). A panic in a
/// task is raised here once every task has ended.
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
    let (round, task, in_flight) = (
        shape.round.max(1),
        shape.task.max(1),
        shape.in_flight.max(1),
    );
    let done: Mutex<BTreeMap<usize, R>> = Mutex::new(BTreeMap::new());
    let pending = AtomicUsize::new(0);
    let work = &work;
    rayon::scope(|s| {
        let mut merged = 0;
        let mut spawned = 0;
        let mut merge_ready = |merged: &mut usize| {
            let mut done = lock(&done);
            while let Some(r) = done.remove(merged) {
                merge(r);
                *merged += 1;
            }
        };
        let mut start = 0;
        while start < count {
            // The first round is one task, so that the other cores start early; the last
            // round's tasks are a quarter of the size, so that the cores finish together.
            let end = (start + if start == 0 { task.min(round) } else { round }).min(count);
            let size = if end == count && start > 0 {
                (task / 4).max(1)
            } else {
                task
            };
            let mut items = read(start, end);
            while !items.is_empty() {
                let rest = items.split_off(size.min(items.len()));
                let these = std::mem::replace(&mut items, rest);
                run_tasks_while(|| pending.load(Ordering::Acquire) >= in_flight);
                pending.fetch_add(1, Ordering::AcqRel);
                let (id, finished, left) = (spawned, &done, &pending);
                spawned += 1;
                s.spawn(move |_| {
                    // Counted down even if the task panics (the scope then raises it): the
                    // reading thread never waits for a task that is gone.
                    let _left = CountDown(left);
                    let r = work(these);
                    lock(finished).insert(id, r);
                });
                merge_ready(&mut merged);
            }
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
        for (count, round, task, in_flight) in [(1000, 128, 32, 8), (37, 10, 3, 2), (5, 8, 8, 1)] {
            let held = AtomicUsize::new(0);
            let max_held = AtomicUsize::new(0);
            let mut seen = Vec::new();
            run(
                count,
                Shape {
                    round,
                    task,
                    in_flight,
                },
                |start, end| (start..end).collect::<Vec<usize>>(),
                |items: Vec<usize>| {
                    let now = held.fetch_add(items.len(), Ordering::AcqRel) + items.len();
                    max_held.fetch_max(now, Ordering::AcqRel);
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
            assert!(
                max_held.load(Ordering::Acquire) <= in_flight * task,
                "{} items in tasks at once, bound {}",
                max_held.load(Ordering::Acquire),
                in_flight * task
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
                    round: 10,
                    task: 5,
                    in_flight: 2,
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
