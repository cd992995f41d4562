"""A multi-threaded rclpy executor that hands each ready callback to its thread pool once.

rclpy's own `MultiThreadedExecutor` (up to Kilted, rclpy 9.x; ros2/rclpy#1452) submits a callback to its pool and
then, on every wake-up until a pool thread has started it, yields and submits the same callback again, and on each
submission scans the whole list of submissions. Under load the list grows to thousands of copies: the spin thread
spends its time scanning it while holding the GIL, and every other thread of the node waits. Measured on the
navigation node (2 cores): 3140 queued copies, Python threads stalled for up to 1.5 s, a cancel served 1.3 s late.

This executor keeps the callbacks waiting in its pool and submits a callback again only once a thread has taken it (a
coroutine callback that awaits something is resumed by a new submission, as in rclpy). Wait sets, callback groups and
tasks are rclpy's `Executor`'s; it relies on that class's handler protocol as of rclpy 9.x (Kilted) (a handler task
per ready entity, re-yielded until it runs; `entity._executor_event` set while it waits), so check it against a
newer rclpy before relying on it there. Its shutdown also waits for running callbacks, which rclpy 9.1.2's does not.
"""

import os
import threading
import time
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
        self._waiting: dict[Task, object] = {}  # submitted, not yet taken by a pool thread -> its entity
        self._running: dict[Task, None] = {}  # submitted, not finished (insertion-ordered), to raise their errors
        self._lock = threading.Lock()
        self._closed = False
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
            task, entity, _node = self.wait_for_ready_callbacks(timeout_sec, None, wait_condition)
        except (ShutdownException, ExternalShutdownException, TimeoutException, ConditionReachedException):
            return
        with self._lock:
            if task in self._waiting:  # yielded again before a thread took it: it will run once, from the queue
                return
            closed = self._closed
            if not closed:
                self._waiting[task] = entity
                self._running[task] = None
                self.submissions += 1
        if closed:  # shutting down: this callback never runs
            _drop(task, entity)
            return
        self._pool.submit(self._run, task)
        self._raise_errors_of_finished()

    def _run(self, task: Task) -> None:
        with self._lock:
            if task not in self._waiting:  # dropped by shutdown
                return
            del self._waiting[task]
        task()

    def _raise_errors_of_finished(self) -> None:
        """Forget finished callbacks; raise the error of the first that failed (as rclpy does, in the spin thread),
        leaving the ones after it for the next call."""
        with self._lock:
            finished = [task for task in self._running if task.done() or task.cancelled()]
        for task in finished:
            with self._lock:
                self._running.pop(task, None)
            if not task.cancelled():
                task.result()

    def shutdown(self, timeout_sec: float | None = None, *, wait_for_threads: bool = True) -> bool:
        """Stop taking callbacks: drop the ones still queued, give the running ones up to timeout_sec [s] (None: no
        limit) to finish, then release the executor and stop the pool's threads (waiting for them if
        wait_for_threads). Returns False if running callbacks outlived timeout_sec."""
        with self._lock:
            self._closed = True
            never_started, self._waiting = self._waiting, {}
        for task, entity in never_started.items():
            _drop(task, entity)
        deadline = None if timeout_sec is None or timeout_sec < 0 else time.monotonic() + timeout_sec
        while True:
            with self._lock:
                running = any(task.executing() for task in self._running)
            if not running or (deadline is not None and time.monotonic() >= deadline):
                break
            time.sleep(0.01)
        super().shutdown(timeout_sec=0)
        self._pool.shutdown(wait=wait_for_threads, cancel_futures=True)
        return not running


def _drop(task: Task, entity) -> None:
    """Cancel a handler task that will never run, and let its entity be waited on again (what rclpy's handler does
    when it cannot run)."""
    task.cancel()
    if entity is not None:
        entity._executor_event = False
