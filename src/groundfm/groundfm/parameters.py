"""Node parameters described once, ROS-free: nodes declare them, the launcher validates parameter files against them.

A `ParamSpec` carries the default, a description with units, an optional range and whether it is read-only. Each node
lists its specs in a ROS-free module (`<capability>/config.py`), and `NODE_PARAMETERS` maps the node name used in
`config/robot_dog.yaml` to that list, so a parameter file can be checked before any process starts.
"""

import difflib
import importlib
import math
from dataclasses import dataclass
from typing import Any

ParamValue = bool | int | float | str | list


@dataclass(frozen=True)
class ParamSpec:
    """One declared node parameter."""

    name: str
    default: ParamValue
    description: str  # what it does, with units in brackets, e.g. 'Camera rate [Hz]'
    min_value: float | None = None
    max_value: float | None = None
    choices: tuple[str, ...] = ()
    read_only: bool = False  # needs a restart to change

    def check(self, value: Any) -> str | None:
        """Return why `value` is not acceptable for this parameter, or None if it is."""
        expected = type(self.default)
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            hint = f' (write {value}.0: ROS parameters are typed)' if expected is float and type(value) is int else ''
            return f'{self.name}: expected {expected.__name__}, got {type(value).__name__} {value!r}{hint}'
        if isinstance(value, float) and not math.isfinite(value):
            return f'{self.name}: must be finite, got {value}'
        if self.min_value is not None and value < self.min_value:
            return f'{self.name}: {value} is below the minimum {self.min_value}'
        if self.max_value is not None and value > self.max_value:
            return f'{self.name}: {value} is above the maximum {self.max_value}'
        if self.choices and value not in self.choices:
            return f'{self.name}: {value!r} is not one of {", ".join(self.choices)}'
        return None


# Parameters every groundfm node accepts besides its own (rclpy declares use_sim_time itself).
COMMON = (ParamSpec('use_sim_time', False, 'Run on /clock instead of the wall clock'),)

# node name (as in config/robot_dog.yaml) -> 'module:attribute' holding its tuple of ParamSpec.
NODE_PARAMETERS = {
    'sim': 'groundfm.sim.config:SIM_PARAMETERS',
    'depth': 'groundfm.depth.config:DEPTH_PARAMETERS',
    'mapping': 'groundfm.mapping.config:MAPPING_PARAMETERS',
    'control': 'groundfm.control.config:CONTROL_PARAMETERS',
    'scene': 'groundfm.scene.config:SCENE_PARAMETERS',
    'navigation': 'groundfm.navigation.config:NAVIGATION_PARAMETERS',
}


def specs_for(node_name: str) -> tuple[ParamSpec, ...] | None:
    """The parameter specs of a groundfm node, or None if the node is not one of ours."""
    target = NODE_PARAMETERS.get(node_name)
    if target is None:
        return None
    module, attribute = target.split(':')
    return COMMON + tuple(getattr(importlib.import_module(module), attribute))


def validate(specs: tuple[ParamSpec, ...], values: dict[str, Any]) -> list[str]:
    """Check a node's parameter overrides; return one readable problem per bad or unknown entry."""
    by_name = {spec.name: spec for spec in specs}
    problems = []
    for name, value in values.items():
        spec = by_name.get(name)
        if spec is None:
            close = difflib.get_close_matches(name, by_name, n=1)
            hint = f' (did you mean {", ".join(close)}?)' if close else ''
            problems.append(f'{name}: unknown parameter{hint}')
            continue
        problem = spec.check(value)
        if problem:
            problems.append(problem)
    return problems


def specs_from_dataclass(
    config_cls: type,
    descriptions: dict[str, tuple[str, float | None, float | None]],
    read_only: set[str] | frozenset[str] = frozenset(),
    choices: dict[str, tuple[str, ...]] | None = None,
) -> tuple[ParamSpec, ...]:
    """One ParamSpec per field of a config dataclass: default from the field, (description, min, max) by name."""
    from dataclasses import fields

    missing = [f.name for f in fields(config_cls) if f.name not in descriptions]
    if missing:
        raise ValueError(f'{config_cls.__name__}: no description for {missing}')
    return tuple(
        ParamSpec(name=f.name, default=f.default, description=descriptions[f.name][0],
                  min_value=descriptions[f.name][1], max_value=descriptions[f.name][2],
                  read_only=f.name in read_only, choices=(choices or {}).get(f.name, ()))
        for f in fields(config_cls)
    )
