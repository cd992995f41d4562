"""Shared fixtures: every test talks DDS on its own domain, on localhost only, with its own rclpy context."""

import os

import pytest
from proc_utils import next_domain_id


@pytest.fixture
def ros_domain(monkeypatch) -> int:
    """A fresh ROS_DOMAIN_ID, set for this test and every process it starts; localhost discovery only."""
    domain = next_domain_id()
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
