"""A multi-threaded rclpy executor that hands each ready callback to its thread pool once.

rclpy's own `MultiThreadedExecutor` (up to Kilted, rclpy 9.x; ros2/rclpy#1452) submits a callback to its pool and
then, on every wake-up until a pool thread has started it, yields and submits the same callback again, and on each
submission scans the whole list of submissions. Under load the list grows to thousands of copies: the spin thread
spends its time scanning it while holding the GIL, and every other thread of the node waits. Measured on the
navigation node (2 cores): 3140 queued copies, Python threads stalled for up to 1.5 s, a cancel served 1.3 s late.

This executor keeps a set of the callbacks waiting in its pool and submits a callback again only once a thread has
taken it (a coroutine callback that awaits something is resumed by a new submission, as in rclpy). Everything else
(wait sets, callback groups, tasks) is rclpy's `Executor`, so it behaves like rclpy's executor on any ROS 2 install.
"""

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from rclpy.executors import (
    ConditionReachedException,
    Executor,
    ExternalShutdownException,
    ShutdownException,
    TimeoutException,
)
from rclpy.task import Future, Task


class MultiThreadedExecutor(Executor):
    """Run callbacks in a pool of `num_threads` threads (default: the CPUs this process may use)."""

    def __init__(self, num_threads: int | None = None, *, context=None) -> None:
        super().__init__(context=context)
        if num_threads is None:
            num_threads = len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count() or 2
        self._pool = ThreadPoolExecutor(max(1, num_threads), thread_name_prefix='executor')
        self._waiting: set[Task] = set()  # submitted, not yet taken by a pool thread
        self._running: dict[Task, None] = {}  # submitted and not done (insertion-ordered), to raise their errors
        self._lock = threading.Lock()
        self.submissions = 0  # callbacks handed to the pool so far

    def spin_once(self, timeout_sec: float | None = None) -> None:
        self._spin_once_impl(timeout_sec)

    def spin_once_until_future_complete(self, future: Future, timeout_sec=None) -> None:
        future.add_done_callback(lambda _: self.wake())
        self._spin_once_until_future_complete(future, timeout_sec)

    def _spin_once_until_future_complete(self, future: Future, timeout_sec=None) -> None:
        self._spin_once_impl(timeout_sec, future.done)

    def _spin_once_impl(self, timeout_sec=None, wait_condition: Callable[[], bool] = lambda: False) -> None:
        try:
            task, _entity, _node = self.wait_for_ready_callbacks(timeout_sec, None, wait_condition)
        except (ShutdownException, ExternalShutdownException, TimeoutException, ConditionReachedException):
            return
        with self._lock:
            if task in self._waiting:  # yielded again before a thread took it: it will run once, from the queue
                return
            self._waiting.add(task)
            self._running[task] = None
            self.submissions += 1
        self._pool.submit(self._run, task)
        self._raise_errors_of_finished()

    def _run(self, task: Task) -> None:
        with self._lock:
            self._waiting.discard(task)
        task()

    def _raise_errors_of_finished(self) -> None:
        """Forget finished callbacks; raise the first error one of them raised (as rclpy does, in the spin thread)."""
        with self._lock:
            finished = [task for task in self._running if task.done()]
            for task in finished:
                del self._running[task]
        for task in finished:
            task.result()

    def shutdown(self, timeout_sec: float | None = None, *, wait_for_threads: bool = True) -> bool:
        """Stop taking callbacks, wait up to timeout_sec for the running ones, cancel the ones still queued (they would
        run against the destroyed wake-up guard condition) and stop the pool's threads."""
        done = super().shutdown(timeout_sec)
        self._pool.shutdown(wait=wait_for_threads, cancel_futures=True)
        with self._lock:
            never_started, self._waiting = self._waiting, set()
        for task in never_started:
            task.cancel()
        return done
