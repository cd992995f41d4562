"""Machine-wide leases of ROS_DOMAIN_IDs, so concurrent test runs and benchmarks on one host never share a domain.

Two processes that pick the same domain id see each other's topics: a test's node would receive another run's
`cmd_vel`. A lease is an exclusive `flock` on `/tmp/groundfm-ros-domains/<id>.lock`. The kernel drops it when the
holding process exits, even on SIGKILL, so a crashed run never leaks a domain.

    domain = lease_domain_id()          # held until release_domain_id(domain) or the process exits
"""

import fcntl
import os
import random
from collections.abc import Iterable
from pathlib import Path

# Valid domain ids with the default port mapping are 0..101 and 215..232; 0 is everyone's default, so it is left out.
DEFAULT_DOMAIN_IDS = range(1, 101)  # tests
BENCH_DOMAIN_IDS = range(215, 233)  # benchmarks: kept apart from the tests' range
LOCK_DIR = Path(os.environ.get('GROUNDFM_DOMAIN_LOCK_DIR', '/tmp/groundfm-ros-domains'))

_held: dict[int, int] = {}  # domain id -> file descriptor of its lock
_cursors: dict[tuple[int, ...], int] = {}  # candidate order -> where the next search starts


def _try_lock(domain: int) -> int | None:
    """Take the lock of `domain` without waiting; its file descriptor, or None if another process holds it."""
    LOCK_DIR.mkdir(parents=True, exist_ok=True)
    fd = os.open(LOCK_DIR / f'{domain}.lock', os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def lease_domain_id(candidates: Iterable[int] = DEFAULT_DOMAIN_IDS, seed: int | None = None) -> int:
    """A domain id that no other process on this machine holds, leased to this process.

    Successive calls go round the candidates in a random order (seeded by `seed`, default the process id), so a
    domain is not reused right after a test whose processes may still be shutting down. Ids leased by other processes
    are skipped. On the next lap this process recycles its own earlier leases, as it is done with them by then.

    Raises:
        RuntimeError: every candidate is held by other processes.
    """
    order = list(candidates)
    random.Random(os.getpid() if seed is None else seed).shuffle(order)
    key = tuple(order)
    start = _cursors.get(key, 0)
    for step in range(len(order)):
        domain = order[(start + step) % len(order)]
        if domain not in _held:
            fd = _try_lock(domain)
            if fd is None:
                continue  # another process's domain
            _held[domain] = fd
        _cursors[key] = (start + step + 1) % len(order)
        return domain
    raise RuntimeError(f'no free ROS domain id: all {len(order)} candidates are leased by other processes '
                       f'(locks in {LOCK_DIR})')


def release_domain_id(domain: int) -> None:
    """End this process's lease of `domain` (no-op if it holds none)."""
    fd = _held.pop(domain, None)
    if fd is not None:
        os.close(fd)  # closing the descriptor drops the flock
