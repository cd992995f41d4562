"""Shared fixtures: every test talks DDS on its own domain, on localhost only, with its own rclpy context."""

import itertools
import os
import random

import pytest

# Valid domain ids with the default port mapping are 0..101 and 215..232; start at a per-process random offset so
# parallel test runs on one machine do not share a domain.
_DOMAIN_IDS = itertools.cycle(random.Random(os.getpid()).sample(range(1, 101), 100))


@pytest.fixture
def ros_domain(monkeypatch) -> int:
    """A fresh ROS_DOMAIN_ID, set for this test and every process it starts; localhost discovery only."""
    domain = next(_DOMAIN_IDS)
    monkeypatch.setenv('ROS_DOMAIN_ID', str(domain))
    monkeypatch.setenv('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
    monkeypatch.setenv('MUJOCO_GL', os.environ.get('MUJOCO_GL', 'egl'))
    monkeypatch.setenv('PYTHONUNBUFFERED', '1')
    return domain


@pytest.fixture
def rclpy_context(ros_domain):
    """An initialised rclpy context on the test's domain, shut down afterwards."""
    import rclpy
    from rclpy.context import Context

    context = Context()
    rclpy.init(context=context, domain_id=ros_domain)
    yield context
    context.try_shutdown()
