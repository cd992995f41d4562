"""One entry point for every groundfm node: init, spin, clean shutdown and a one-line error.

Each node's `main()` is `return run_node('depth', DepthNode, args)`. The behaviour is the same for all of them:
- Ctrl-C (SIGINT) and an external shutdown end the node quietly with exit code 0. The first Ctrl-C only shuts the
  rclpy context down, so the running callback finishes and spinning stops after it; a second one raises
  KeyboardInterrupt, for a node stuck in a callback (see `groundfm.ros.interrupt` for why);
- `destroy_node()` always runs, so worker threads stop and files are flushed;
- an error in the constructor or while spinning is printed as one line `[name] error: Type: message` on stderr, and
  the process exits with code 1, so a launcher (respawn, on_exit) sees the failure. With GROUNDFM_TRACEBACK=1 in the
  environment the full traceback comes first (the tests set it, so an intermittent failure shows where it came from).
"""

import os
import sys
import traceback
from collections.abc import Callable

import rclpy
from rclpy.executors import Executor, ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node

from groundfm.ros.interrupt import SigintLatch

SHUTDOWN_POLL_S = 0.25
"""Longest wait between checks that the context is still up: how late a node may notice a shutdown."""


def run_node(name: str, make_node: Callable[[], Node], args: list[str] | None = None, *,
             executor: Callable[[], Executor] | None = None,
             before_destroy: Callable[[Node], None] | None = None) -> int:
    """Create the node, spin it until shutdown and destroy it; return the process exit code.

    Args:
        name: the node's name, used in the error line.
        make_node: builds the node (called inside `rclpy.init`).
        args: command-line arguments for `rclpy.init` (``--ros-args ...``); None means sys.argv.
        executor: builds the executor to spin in (default: rclpy's single-threaded one).
        before_destroy: called with the node before it is destroyed, e.g. to leave the robot standing. It is best
            effort: after Ctrl-C the context may already be shut down, so an error in it is ignored.
    """
    with SigintLatch() as ctrl_c:
        try:
            with rclpy.init(args=args):
                _spin_then_destroy(make_node(), executor, before_destroy)
        except (KeyboardInterrupt, ExternalShutdownException):
            pass
        except Exception as err:
            if ctrl_c.pressed:  # e.g. the constructor used the context after Ctrl-C had shut it down
                return 0
            if os.environ.get('GROUNDFM_TRACEBACK') == '1':
                traceback.print_exc()
            print(f'[{name}] error: {type(err).__name__}: {err}', file=sys.stderr, flush=True)
            return 1
    return 0


def _spin_then_destroy(node: Node, executor: Callable[[], Executor] | None,
                       before_destroy: Callable[[Node], None] | None) -> None:
    """Spin `node` until its context shuts down; destroy it whatever happens.

    Each wait is bounded (`SHUTDOWN_POLL_S`). rclpy's signal thread wakes executors first and shuts the context
    down after, and it does so without the Python shutdown callbacks that would wake them again. An executor
    that woke in between saw a live context and went back to an unbounded wait, which no one ended: the node
    hung on Ctrl-C until the next signal.
    """
    spinner = (executor or SingleThreadedExecutor)()
    try:
        spinner.add_node(node)
        while node.context.ok():
            spinner.spin_once(timeout_sec=SHUTDOWN_POLL_S)
    except Exception:
        if node.context.ok():
            raise
        # A signal shut the context down mid-spin (e.g. while the executor built a wait set): a clean exit.
    finally:
        spinner.shutdown(timeout_sec=1.0)
        if before_destroy is not None:
            try:
                before_destroy(node)
            except Exception:  # the context may already be shut down: publishing can fail
                pass
        node.destroy_node()
