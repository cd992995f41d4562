"""Pair left/right images and camera infos by timestamp (message_filters is not on PyPI). ROS-free.

Each stream keeps a few recent entries; a set is complete when the newest left image has a right image and both
infos within `slop_s` (or only a right image, with `streams=IMAGE_STREAMS`, e.g. reading a recording of images).
Completed sets go to a single-slot mailbox: a newer set replaces an unprocessed one (counted as dropped), so a slow
consumer always works on the newest pair and never queues stale ones.
"""

import threading
from collections import deque
from dataclasses import dataclass
from typing import Any

STREAMS = ('left', 'right', 'left_info', 'right_info')
IMAGE_STREAMS = ('left', 'right')


@dataclass
class StereoSet:
    """One synchronised set of messages and its stamp [s]."""

    stamp: float
    left: Any
    right: Any
    left_info: Any = None  # None when the pairer was built for IMAGE_STREAMS
    right_info: Any = None


class StampPairer:
    """Collect the streams (all four, or IMAGE_STREAMS) and keep only the newest complete set for a consumer."""

    def __init__(self, slop_s: float = 0.005, history: int = 8, streams: tuple[str, ...] = STREAMS) -> None:
        if slop_s < 0:
            raise ValueError(f'slop_s must be >= 0, got {slop_s}')
        if streams not in (STREAMS, IMAGE_STREAMS):
            raise ValueError(f'streams must be {STREAMS} or {IMAGE_STREAMS}, got {streams}')
        self.slop_s, self.streams = slop_s, streams
        self._buffers: dict[str, deque] = {name: deque(maxlen=history) for name in streams}
        self._pending: StereoSet | None = None
        self._last_stamp = float('-inf')
        self._cond = threading.Condition()
        self.paired = 0  # complete sets formed
        self.dropped = 0  # sets replaced before the consumer took them
        self._closed = False

    def add(self, stream: str, stamp: float, msg: Any) -> None:
        """Add a message of `stream` (one of self.streams) stamped `stamp` [s]; never blocks for long."""
        if stream not in self._buffers:
            raise ValueError(f'unknown stream {stream!r}; expected one of {", ".join(self.streams)}')
        with self._cond:
            self._buffers[stream].append((stamp, msg))
            self._try_pair()

    def _closest(self, stream: str, stamp: float) -> tuple[float, Any] | None:
        best = min(self._buffers[stream], key=lambda e: abs(e[0] - stamp), default=None)
        return best if best is not None and abs(best[0] - stamp) <= self.slop_s else None

    def _try_pair(self) -> None:
        for stamp, left in reversed(self._buffers['left']):  # newest left first
            if stamp <= self._last_stamp:
                return
            matches = [self._closest(s, stamp) for s in self.streams[1:]]
            if all(m is not None for m in matches):
                if self._pending is not None:
                    self.dropped += 1
                self._pending = StereoSet(stamp, left, *(m[1] for m in matches))
                self._last_stamp = stamp
                self.paired += 1
                for name in self.streams:  # everything at or before this stamp is consumed
                    buf = self._buffers[name]
                    while buf and buf[0][0] <= stamp + self.slop_s:
                        buf.popleft()
                self._cond.notify_all()
                return

    def take(self, timeout: float | None = None) -> StereoSet | None:
        """The newest complete set (waiting up to `timeout` s), or None on timeout or close."""
        with self._cond:
            if self._pending is None and not self._closed:
                self._cond.wait(timeout)
            pending, self._pending = self._pending, None
            return pending

    def close(self) -> None:
        """Wake a waiting consumer; take() returns None from now on when empty."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
