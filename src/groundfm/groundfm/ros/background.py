"""An rclpy node with its own context, spun on a background thread: for CLIs, the demo, benchmarks and tests."""

import threading

import rclpy
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor


class BackgroundNode:
    """Create `name` on a private context (optionally on `domain_id`) and spin it until close()."""

    def __init__(self, name: str, domain_id: int | None = None) -> None:
        self.context = Context()
        rclpy.init(context=self.context, domain_id=domain_id)
        self.node = rclpy.create_node(name, context=self.context)
        self._executor = SingleThreadedExecutor(context=self.context)
        self._executor.add_node(self.node)
        self._thread = threading.Thread(target=self._spin, name=f'{name}-spin', daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        try:
            self._executor.spin()
        except Exception:
            pass

    def close(self) -> None:
        """Stop spinning, destroy the node and shut the context down."""
        self._executor.shutdown(timeout_sec=1.0)
        self.node.destroy_node()
        self.context.try_shutdown()
        self._thread.join(timeout=5.0)
