"""An rclpy node with its own context, spun on a background thread: for CLIs, the demo, benchmarks and tests."""

import threading
import time
from collections.abc import Callable
from typing import TypeVar

import rclpy
from rclpy.context import Context
from rclpy.executors import ExternalShutdownException, ShutdownException, SingleThreadedExecutor

T = TypeVar('T')


class BackgroundNode:
    """Create `name` on a private context (optionally on `domain_id`) and spin it until close().

    A callback that raises does not stop the spinning: the error is logged and the other callbacks (timers,
    subscriptions, action clients) go on running.
    """

    def __init__(self, name: str, domain_id: int | None = None) -> None:
        self.context = Context()
        rclpy.init(context=self.context, domain_id=domain_id)
        self.node = rclpy.create_node(name, context=self.context)
        self._closing = threading.Event()
        self._executor = SingleThreadedExecutor(context=self.context)
        self._executor.add_node(self.node)
        self._thread = threading.Thread(target=self._spin, name=f'{name}-spin', daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        while not self._closing.is_set() and self.context.ok():
            try:
                self._executor.spin_once(timeout_sec=0.1)
            except (ExternalShutdownException, ShutdownException):
                return
            except Exception as err:  # a callback failed, or the context went down while waiting
                if self._closing.is_set() or not self.context.ok():
                    return
                self.node.get_logger().error(f'callback failed: {type(err).__name__}: {err}')

    def run_on_spin_thread(self, fn: Callable[..., T], *args, timeout: float = 10.0, **kwargs) -> T:
        """Call fn(*args, **kwargs) on the spin thread, between callbacks, and return its result.

        Send action goals this way. rclpy 9.1.2's ActionClient.send_goal_async registers the future it returns only
        after releasing its lock, so a goal response taken by a concurrently spinning executor in that window completes
        a future nobody holds, and the caller waits forever (seen in CI as feedback flowing for a goal whose acceptance
        never came; rclpy#1123). On the spin thread, no response can be taken in between.
        """
        if threading.current_thread() is self._thread:
            return fn(*args, **kwargs)
        task = self._executor.create_task(fn, *args, **kwargs)
        deadline = time.monotonic() + timeout
        while not task.done():
            if time.monotonic() > deadline or not self._thread.is_alive():
                task.cancel()
                name = getattr(fn, '__name__', repr(fn))
                raise TimeoutError(f'{name} did not run on the spin thread within {timeout:g} s')
            time.sleep(0.002)
        return task.result()

    def send_goal(self, client, goal, feedback_callback=None, timeout: float = 30.0):
        """Send `goal` with the action `client` (on this node) and wait for the server's answer; returns the goal
        handle, accepted or not. Raises TimeoutError when no answer comes within timeout [s]."""
        future = self.run_on_spin_thread(client.send_goal_async, goal, feedback_callback=feedback_callback)
        deadline = time.monotonic() + timeout
        while not future.done():
            if time.monotonic() > deadline:
                raise TimeoutError(f'no answer to the goal within {timeout:g} s')
            time.sleep(0.01)
        return future.result()

    def close(self) -> None:
        """Stop spinning, destroy the node with its action clients and shut the context down."""
        self._closing.set()
        self._thread.join(timeout=5.0)
        self._executor.shutdown(timeout_sec=1.0)
        # destroy_node leaves waitables (action clients) to the garbage collector; collected at interpreter exit, after
        # the context is gone, Fast DDS can deadlock tearing their readers down (a benchmark hung there after its JSON).
        for waitable in list(self.node.waitables):
            destroy = getattr(waitable, 'destroy', None)
            if destroy is not None:
                destroy()
        self.node.destroy_node()
        self.context.try_shutdown()
