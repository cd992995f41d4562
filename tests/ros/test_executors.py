"""groundfm's multi-threaded executor: each ready callback goes to the pool once, errors reach the spinner, coroutine
callbacks resume, shutdown drops queued callbacks and waits for running ones. The first test fails on rclpy 9.1.2's
MultiThreadedExecutor (rclpy#1452): there, every wake-up submits a callback still waiting for a thread again, and the
node's threads starve (measured in executors.py)."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import rclpy
from proc_utils import next_domain_id
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.node import Node

from groundfm.ros.executors import MultiThreadedExecutor


@pytest.fixture
def node():
    """A node on its own context (timers only: nothing goes on the wire)."""
    context = rclpy.Context()
    context.init(domain_id=next_domain_id())
    made = Node('executor_test', context=context)
    try:
        yield made
    finally:
        made.destroy_node()
        context.try_shutdown()


def _spin_for(executor, seconds: float, wakes_per_s: float = 0.0) -> None:
    """Spin in this thread for `seconds`; another thread wakes the executor `wakes_per_s` times a second."""
    stop = threading.Event()

    def wake() -> None:
        while not stop.wait(1.0 / wakes_per_s):
            executor.wake()

    waker = threading.Thread(target=wake, daemon=True) if wakes_per_s else None
    if waker:
        waker.start()
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.05)
    finally:
        stop.set()
        if waker:
            waker.join()


def _slow_and_fast_timers(node, hold_s: float, only_once: bool = False):
    """Two 100 Hz timers in groups of their own: 'slow' holds its thread for hold_s [s] (only on its first call if
    only_once), 'fast' returns at once. Returns (call counts, the first slow call's start and end events)."""
    runs = {'slow': 0, 'fast': 0}
    started, finished = threading.Event(), threading.Event()

    def slow() -> None:
        if only_once and runs['slow']:
            return
        runs['slow'] += 1
        started.set()
        time.sleep(hold_s)
        finished.set()

    def fast() -> None:
        runs['fast'] += 1

    node.create_timer(0.01, slow, callback_group=MutuallyExclusiveCallbackGroup())
    node.create_timer(0.01, fast, callback_group=MutuallyExclusiveCallbackGroup())
    return runs, started, finished


def test_a_callback_waiting_for_a_busy_pool_is_submitted_once_however_often_the_executor_wakes(node, monkeypatch):
    submitted = []
    real_submit = ThreadPoolExecutor.submit
    monkeypatch.setattr(ThreadPoolExecutor, 'submit',
                        lambda pool, fn, *args: submitted.append(args) or real_submit(pool, fn, *args))
    runs, _, _ = _slow_and_fast_timers(node, hold_s=0.2)  # slow holds the only thread; fast waits in the queue
    executor = MultiThreadedExecutor(num_threads=1, context=node.context)
    executor.add_node(node)
    try:
        _spin_for(executor, 1.0, wakes_per_s=500)
    finally:
        executor.shutdown(timeout_sec=1.0)

    assert runs['slow'] >= 2 and runs['fast'] >= 2
    # Each submission ran a callback, bar the ones still queued at shutdown (rclpy 9.1.2: hundreds more).
    assert len(submitted) <= runs['slow'] + runs['fast'] + 2, (len(submitted), runs)
    assert executor.submissions == len(submitted)


def test_an_error_in_a_callback_reaches_the_spinning_thread(node):
    def broken() -> None:
        raise ValueError('bad callback')

    node.create_timer(0.01, broken)
    executor = MultiThreadedExecutor(num_threads=2, context=node.context)
    executor.add_node(node)
    try:
        with pytest.raises(ValueError, match='bad callback'):
            _spin_for(executor, 2.0)
    finally:
        executor.shutdown(timeout_sec=1.0)


def test_a_coroutine_callback_that_awaits_is_resumed_when_its_future_completes(node):
    future = rclpy.task.Future()
    finished = []

    async def waiter() -> None:
        if not finished:
            finished.append(await future)

    def completer() -> None:
        if not future.done():
            future.set_result('done')

    node.create_timer(0.01, waiter, callback_group=MutuallyExclusiveCallbackGroup())
    node.create_timer(0.3, completer, callback_group=MutuallyExclusiveCallbackGroup())
    executor = MultiThreadedExecutor(num_threads=2, context=node.context)
    executor.add_node(node)
    try:
        _spin_for(executor, 1.0)
    finally:
        executor.shutdown(timeout_sec=1.0)

    assert finished == ['done']


def _busy_pool(node, hold_s: float):
    """A one-thread executor whose thread is running a `hold_s` callback while another callback waits in its queue;
    returns (executor, runs, the held callback's end event)."""
    runs, started, finished = _slow_and_fast_timers(node, hold_s, only_once=True)
    executor = MultiThreadedExecutor(num_threads=1, context=node.context)
    executor.add_node(node)
    deadline = time.monotonic() + 5.0
    while not started.is_set() and time.monotonic() < deadline:
        executor.spin_once(timeout_sec=0.01)
    for _ in range(20):  # the fast timer's callback is now submitted and queued behind the held thread
        executor.spin_once(timeout_sec=0.01)
    assert started.is_set()
    return executor, runs, finished


def test_shutdown_drops_queued_callbacks_and_waits_for_the_running_one(node):
    executor, runs, finished = _busy_pool(node, hold_s=0.5)
    queued = executor.submissions - runs['slow'] - runs['fast']

    all_finished = executor.shutdown(timeout_sec=5.0)

    assert queued >= 1
    assert all_finished and finished.is_set()
    assert executor.submissions - runs['slow'] - runs['fast'] == queued, 'a queued callback ran after shutdown'


def test_shutdown_reports_a_callback_that_outlives_its_timeout(node):
    executor, _runs, finished = _busy_pool(node, hold_s=0.6)
    start = time.monotonic()

    all_finished = executor.shutdown(timeout_sec=0.1, wait_for_threads=False)

    assert not all_finished and not finished.is_set()
    assert time.monotonic() - start < 0.4
    assert finished.wait(2.0)  # the callback itself runs to its end
