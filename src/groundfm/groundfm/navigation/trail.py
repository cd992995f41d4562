"""The robot's own trail: where its body has been, kept across goals as evidence of free space. ROS-free.

A live map can close a tight gap behind the robot (a few noisy depth cells between a sofa and a wall), and each
goal starts where the last one ended; the cells the robot's centre has walked through are free whatever the map says,
so planning keeps them passable and the robot can back out the way it came (navigator.py).
"""

import math
import threading

import numpy as np

TRAIL_SPACING_M = 0.05  # a pose is kept when this far from the last kept one [m]
CLOCK_JUMP_S = 1.0  # a time this far before the last one is a reset of the clock, not a late sample [s]


class Trail:
    """Recent robot positions (x, y) [m, map frame] with their times [s]; thread-safe (the node shares one across
    its goals: the servo adds to it while the slow system's thread plans on it)."""

    def __init__(self, memory_s: float, spacing_m: float = TRAIL_SPACING_M) -> None:
        self.memory_s, self.spacing_m = memory_s, spacing_m
        self._xy: list[tuple[float, float]] = []
        self._t: list[float] = []
        self._lock = threading.Lock()

    def add(self, xy, now: float) -> None:
        """Record the robot at xy [m] at time now [s]; positions older than memory_s are forgotten (0 keeps none)."""
        if self.memory_s <= 0.0:
            return
        x, y = float(xy[0]), float(xy[1])
        with self._lock:
            if self._t and now < self._t[-1] - CLOCK_JUMP_S:  # the clock went back (a sim reset): start afresh
                self._xy.clear()
                self._t.clear()
            if not self._xy or math.dist(self._xy[-1], (x, y)) >= self.spacing_m:
                self._xy.append((x, y))
                self._t.append(now)
            drop = 0
            while drop < len(self._t) and now - self._t[drop] > self.memory_s:
                drop += 1
            del self._xy[:drop], self._t[:drop]

    def points(self) -> np.ndarray:
        """(n, 2) [m]: the kept positions, oldest first."""
        with self._lock:
            return np.array(self._xy, float).reshape(-1, 2)

    def way_back(self, xy, distance: float, max_gap: float = 0.3) -> np.ndarray | None:
        """(n, 2) [m]: the way the robot came to xy, from xy back along the kept positions (newest first, each one
        farther from xy than the last) to the first one at least distance [m] from xy. None when the trail does not
        end within max_gap [m] of xy or does not reach that far back."""
        with self._lock:
            newest_first = self._xy[::-1]
        if not newest_first or math.dist(newest_first[0], xy) > max_gap:
            return None
        way, farthest = [(float(xy[0]), float(xy[1]))], 0.0
        for point in newest_first:
            reach = math.dist(point, xy)
            if reach > farthest:  # jitter in place and loops back towards xy add nothing to the way out
                way.append(point)
                farthest = reach
            if reach >= distance:
                return np.array(way, float)
        return None

    def __len__(self) -> int:
        return len(self._xy)
