"""BackgroundNode: a node spun on its own thread, and calls made on that thread."""

import threading
import time

import pytest
from proc_utils import next_domain_id, wait_until
from rclpy.action import ActionClient, ActionServer, GoalResponse

from groundfm.ros.background import BackgroundNode
from groundfm_interfaces.action import Navigate


class _SlowDict(dict):
    """A dict whose item assignment takes `delay_s`: it stretches the window in rclpy's send_goal_async between the
    goal request leaving and the returned future being registered (feedback callbacks are stored in between)."""

    def __init__(self, delay_s: float) -> None:
        super().__init__()
        self.delay_s = delay_s

    def __setitem__(self, key, value) -> None:
        time.sleep(self.delay_s)
        super().__setitem__(key, value)


def test_run_on_spin_thread_returns_the_result_from_the_spin_thread_and_raises_its_errors():
    background = BackgroundNode('background_test', domain_id=next_domain_id())
    try:
        assert background.run_on_spin_thread(threading.current_thread) is background._thread
        assert background.run_on_spin_thread(lambda a, b=0: a + b, 2, b=3) == 5
        with pytest.raises(ZeroDivisionError):
            background.run_on_spin_thread(lambda: 1 / 0)
    finally:
        background.close()


def test_goals_sent_on_the_spin_thread_get_their_response_however_slow_the_send():
    domain = next_domain_id()
    server_side = BackgroundNode('race_server', domain_id=domain)
    client_side = BackgroundNode('race_client', domain_id=domain)

    def execute(handle):
        handle.succeed()
        return Navigate.Result()

    try:
        ActionServer(server_side.node, Navigate, 'race', execute_callback=execute,
                     goal_callback=lambda goal: GoalResponse.ACCEPT)
        client = ActionClient(client_side.node, Navigate, 'race')
        assert client.wait_for_server(timeout_sec=10.0)
        client._feedback_callbacks = _SlowDict(delay_s=0.2)  # the response arrives inside the window
        for _ in range(3):
            future = client_side.run_on_spin_thread(client.send_goal_async, Navigate.Goal(instruction='x'),
                                                    feedback_callback=lambda msg: None)
            assert wait_until(future.done, 5.0), 'the goal response never completed the future'
            assert future.result().accepted
    finally:
        client_side.close()
        server_side.close()


def test_close_destroys_the_action_clients_with_the_node():
    background = BackgroundNode('closing_test', domain_id=next_domain_id())
    client = ActionClient(background.node, Navigate, 'navigate')
    assert client in background.node.waitables

    background.close()

    assert client not in background.node.waitables  # destroyed now, not by the garbage collector at exit
