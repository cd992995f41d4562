"""Helpers for integration tests: real node processes and an rclpy client spinning in the background."""

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict

import numpy as np

from groundfm.navigation.local import BODY_WIDTH_M
from groundfm.ros.background import BackgroundNode
from groundfm.ros.domain import lease_domain_id
from groundfm.sim.house import point_polygon_distance, wall_footprint


def wait_until(condition, timeout: float, period: float = 0.02) -> bool:
    """Poll `condition()` until it is true (True) or `timeout` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(period)
    return False


def next_domain_id() -> int:
    """A ROS_DOMAIN_ID that no other test of this run, and no other process on this machine, is using."""
    return lease_domain_id()


class NodeProcess:
    """A node (or any command) in its own process group, with its output collected line by line."""

    def __init__(self, args: list[str], env: dict | None = None) -> None:
        self.lines: list[str] = []
        # A hung process prints its threads on SIGABRT; a node that fails prints its traceback.
        env = dict(env or os.environ, PYTHONFAULTHANDLER='1', GROUNDFM_TRACEBACK='1')
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     env=env, start_new_session=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    @classmethod
    def python_module(cls, module: str, *args: str) -> 'NodeProcess':
        """Run `python -m module args...` with this interpreter."""
        return cls([sys.executable, '-m', module, *args])

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line.rstrip('\n'))

    def output(self) -> str:
        """Everything the process printed so far."""
        return '\n'.join(self.lines)

    def wait_for_line(self, pattern: str, timeout: float) -> str:
        """Block until a line matches `pattern` (regex); raise AssertionError with the output on timeout or exit."""
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern)
        seen = 0
        while time.monotonic() < deadline:
            for line in self.lines[seen:]:
                if regex.search(line):
                    return line
            seen = len(self.lines)
            if self.proc.poll() is not None and seen == len(self.lines):
                time.sleep(0.2)
                if not any(regex.search(line) for line in self.lines):
                    raise AssertionError(f'process exited ({self.proc.returncode}) before {pattern!r}:\n'
                                         f'{self.output()}')
            time.sleep(0.05)
        raise AssertionError(f'no line matching {pattern!r} within {timeout} s:\n{self.output()}')

    def stop(self, timeout: float = 10.0) -> int:
        """SIGINT, then after `timeout` SIGABRT (a Python process prints every thread's stack, so the output shows
        where it hung), then SIGKILL; returns the exit code."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
            for sig in (signal.SIGABRT, signal.SIGKILL):
                try:
                    self.proc.wait(timeout)
                    break
                except subprocess.TimeoutExpired:
                    os.killpg(self.proc.pid, sig)
                    timeout = 3.0
            else:
                self.proc.wait()
        self._reader.join(timeout=2.0)
        return self.proc.returncode


class RosClient(BackgroundNode):
    """A background rclpy node that records messages per topic."""

    def __init__(self, name: str = 'test_client', domain_id: int | None = None) -> None:
        super().__init__(name, domain_id)
        self.messages: dict[str, list] = defaultdict(list)
        self.receive_times: dict[str, list[float]] = defaultdict(list)

    def record(self, topic: str, msg_type, qos) -> None:
        """Keep every message on `topic` (and its wall receive time)."""
        def store(msg, topic=topic):
            self.messages[topic].append(msg)
            self.receive_times[topic].append(time.monotonic())
        self.node.create_subscription(msg_type, topic, store, qos)

    def wait_for(self, topic: str, count: int, timeout: float) -> list:
        """Block until `count` messages arrived on `topic`; raise AssertionError otherwise."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.messages[topic]) >= count:
                return self.messages[topic]
            time.sleep(0.02)
        raise AssertionError(f'{topic}: {len(self.messages[topic])} of {count} messages within {timeout} s')


class DiskBody:
    """A test robot's body in a house: a disk of the body's width. A unicycle step that would bring its centre nearer
    than that to a wall or a piece of furniture slides along one axis or is dropped; turning is always free. A late
    cmd_vel on a loaded machine then cannot drive a fake robot into an obstacle, from where no path leads out."""

    def __init__(self, house) -> None:
        self.obstacles = [wall_footprint(w) for w in house.walls] + [o.footprint() for o in house.objects]
        self._boxes = np.array([np.r_[p.min(axis=0), p.max(axis=0)] for p in self.obstacles])

    def step(self, pose, v: float, w: float, dt: float) -> list[float]:
        """The pose [x, y, yaw] after dt [s] at v [m/s] and w [rad/s]."""
        x, y, yaw = pose
        dx, dy = v * np.cos(yaw) * dt, v * np.sin(yaw) * dt
        x, y = next(((x + a, y + b) for a, b in ((dx, dy), (dx, 0.0), (0.0, dy)) if self.clear(x + a, y + b)), (x, y))
        return [float(x), float(y), yaw + w * dt]

    def clear(self, x: float, y: float) -> bool:
        """True when the disk at (x, y) keeps clear of every wall and piece of furniture."""
        r = BODY_WIDTH_M / 2
        near = np.nonzero((self._boxes[:, 0] - r <= x) & (self._boxes[:, 2] + r >= x) & (self._boxes[:, 1] - r <= y)
                          & (self._boxes[:, 3] + r >= y))[0]
        return all(point_polygon_distance((x, y), self.obstacles[i]) >= r for i in near)
