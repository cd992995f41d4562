"""An rclpy node with its own context, spun on a background thread: for CLIs, the demo, benchmarks and tests."""

import threading

import rclpy
from rclpy.context import Context
from rclpy.executors import ExternalShutdownException, ShutdownException, SingleThreadedExecutor


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

    def close(self) -> None:
        """Stop spinning, destroy the node and shut the context down."""
        self._closing.set()
        self._thread.join(timeout=5.0)
        self._executor.shutdown(timeout_sec=1.0)
        self.node.destroy_node()
        self.context.try_shutdown()
