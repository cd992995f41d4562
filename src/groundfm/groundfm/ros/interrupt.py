"""Ctrl-C for groundfm processes: the first SIGINT is latched, the second raises KeyboardInterrupt.

Python turns SIGINT into a KeyboardInterrupt raised in whatever bytecode the main thread runs next. Inside rclpy that
can be a message conversion called from C++, which then fails with "RuntimeError: Unable to convert call argument
'0' to Python object" instead: the interrupt is lost and the process exits as if it had crashed. So processes that
spin rclpy latch the first Ctrl-C and act on it where they choose:
- a node (`run_node`) lets rclpy's own handler shut its context down, and spinning ends after the running callback;
- a client (`run_client`: `groundfm navigate`, `groundfm ask`) turns rclpy's handler off and polls the latch, so
  it can still cancel its goal.
A second Ctrl-C raises KeyboardInterrupt as usual, so a process stuck in a callback can still be stopped.
"""

import signal
import threading
import time
from collections.abc import Callable

import rclpy
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions
from rclpy.task import Future


class SigintLatch:
    """Python's SIGINT handler inside a `with` block: counts the first signal, raises KeyboardInterrupt on later ones.

    Enter it before `rclpy.init`: rclpy installs its C handler on top and chains to the handler it finds. Only the
    main thread may set handlers; elsewhere the block changes nothing.
    """

    def __init__(self) -> None:
        self.count = 0
        self._previous = None

    @property
    def pressed(self) -> bool:
        """True once a SIGINT has arrived."""
        return self.count > 0

    def spin_until(self, node: Node, future: Future, timeout_s: float | None = None) -> None:
        """Spin `node` until `future` is done, Ctrl-C is pressed, or `timeout_s` has passed."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while not future.done() and not self.pressed and (deadline is None or time.monotonic() < deadline):
            rclpy.spin_once(node, timeout_sec=0.1)

    def __call__(self, signum: int, frame) -> None:
        self.count += 1
        if self.count > 1:
            raise KeyboardInterrupt

    def __enter__(self) -> 'SigintLatch':
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self)
        return self

    def __exit__(self, *exc_info) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None


def run_client(node_name: str, body: Callable[[Node, SigintLatch], int]) -> int:
    """Run a one-shot command-line client and return its exit code: body(node, latch) on a node of its own.

    rclpy's Ctrl-C handler stays off, so the context outlives the first Ctrl-C and body can still act on it (cancel a
    goal); body polls the latch (`SigintLatch.spin_until`). A second Ctrl-C gives up: exit code 130.
    """
    with SigintLatch() as ctrl_c:
        rclpy.init(signal_handler_options=SignalHandlerOptions.NO)
        node = rclpy.create_node(node_name)
        try:
            return body(node, ctrl_c)
        except KeyboardInterrupt:
            return 130
        finally:
            node.destroy_node()
            rclpy.try_shutdown()
