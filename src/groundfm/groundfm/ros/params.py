"""Declare a node's parameters from its ParamSpecs (groundfm.parameters) and validate changes at run time."""

from typing import Any

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, SetParametersResult
from rclpy.node import Node

from groundfm.parameters import ParamSpec


def declare_parameters(node: Node, specs: tuple[ParamSpec, ...]) -> dict[str, Any]:
    """Declare every spec on `node`, check overrides and live changes against it; return the current values.

    The returned dict is updated in place when a live change is accepted (read-only parameters cannot change), so a
    node that reads it at use time follows `ros2 param set`; one that copied a value at start must add its own
    post-set callback.

    An override that fails its spec raises ValueError (the node should not start with it); overrides of parameters
    that no spec declares are logged as errors, since rclpy would otherwise ignore them silently.
    """
    for spec in specs:
        if spec.name == 'use_sim_time':
            continue  # rclpy declares it
        descriptor = ParameterDescriptor(description=spec.description, read_only=spec.read_only)
        if isinstance(spec.default, float) and spec.min_value is not None and spec.max_value is not None:
            descriptor.floating_point_range = [
                FloatingPointRange(from_value=float(spec.min_value), to_value=float(spec.max_value))]
        elif isinstance(spec.default, int) and not isinstance(spec.default, bool) and spec.min_value is not None \
                and spec.max_value is not None:
            descriptor.integer_range = [IntegerRange(from_value=int(spec.min_value), to_value=int(spec.max_value))]
        node.declare_parameter(spec.name, spec.default, descriptor)
    by_name = {spec.name: spec for spec in specs}
    values = {}
    for name in by_name:
        value = node.get_parameter(name).value
        problem = by_name[name].check(value)
        if problem:
            raise ValueError(f'parameter {problem}')
        values[name] = value
    unknown = sorted(set(node._parameter_overrides) - set(by_name) - {'use_sim_time'})
    if unknown:
        node.get_logger().error(f'unknown parameter(s) ignored: {", ".join(unknown)}; declared: {", ".join(by_name)}')

    def check(params: list) -> SetParametersResult:
        for p in params:
            spec = by_name.get(p.name)
            problem = spec.check(p.value) if spec else None
            if problem:
                return SetParametersResult(successful=False, reason=problem)
        return SetParametersResult(successful=True)

    def apply(params: list) -> None:
        for p in params:
            if p.name in values:
                values[p.name] = p.value

    node.add_on_set_parameters_callback(check)
    node.add_post_set_parameters_callback(apply)  # the returned dict follows accepted live changes
    return values
