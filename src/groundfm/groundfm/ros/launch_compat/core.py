"""Base types of the launch subset: context, substitutions, conditions, actions, descriptions and process specs."""

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any


class LaunchError(Exception):
    """A launch description cannot be evaluated (unknown configuration, bad condition, unsupported feature)."""


@dataclass
class ProcessSpec:
    """One process the launch starts, fully evaluated: what launch_ros would exec, and how to supervise it."""

    name: str  # output prefix, launch style: '<executable basename>-<N>'
    cmd: list[str]
    cwd: str | None = None
    package: str | None = None  # launch_ros Node(package=...), if any
    executable: str | None = None  # launch_ros Node(executable=...), as given
    env: dict[str, str] = field(default_factory=dict)  # added to the launcher's environment
    output: str = 'log'
    respawn: bool = False
    respawn_delay: float = 0.0  # [s]
    required: bool = False  # on_exit=Shutdown(): the whole launch ends when this process exits
    exit_messages: list[str] = field(default_factory=list)  # LogInfo actions of on_exit
    sigterm_timeout: float = 5.0  # SIGINT -> SIGTERM after this long [s]
    sigkill_timeout: float = 5.0  # SIGTERM -> SIGKILL after this long [s]
    node_name: str | None = None  # ROS node name (launch_ros Node with name=), used to pick parameter specs
    param_files: list[str] = field(default_factory=list)  # user parameter files, in command-line order
    param_dicts: list[dict[str, Any]] = field(default_factory=list)  # evaluated dict parameters
    problems: list[str] = field(default_factory=list)  # reasons it cannot start (e.g. executable not found)


class LaunchContext:
    """State while a description is visited: launch configurations and what the visit produced."""

    def __init__(self, launch_configurations: dict[str, str] | None = None, temp_dir: str | None = None) -> None:
        self.launch_configurations: dict[str, str] = dict(launch_configurations or {})
        self.temp_dir = temp_dir  # where dict parameters are written (None: the system temp dir, like launch_ros)
        self.processes: list[ProcessSpec] = []
        self.messages: list[str] = []  # LogInfo output, in visit order
        self.temp_files: list[str] = []
        self.shutdown_reason: str | None = None  # a visited top-level Shutdown()
        self.process_count = 0  # launch numbers processes globally: talker-1, listener-2

    def perform_substitution(self, substitution: 'Substitution') -> str:
        """Evaluate one substitution in this context."""
        return substitution.perform(self)


class Substitution:
    """A piece of text known only when the launch runs."""

    def perform(self, context: LaunchContext) -> str:
        """The text in `context`."""
        raise NotImplementedError

    def describe(self) -> str:
        """How `ros2 launch -s` shows it."""
        return f'{type(self).__name__}()'


def normalize_to_list_of_substitutions(value: Any) -> list[Substitution]:
    """A str, Substitution, or iterable of them (or of numbers) as a list of substitutions."""
    from groundfm.ros.launch_compat.substitutions import TextSubstitution

    if isinstance(value, Substitution):
        return [value]
    if isinstance(value, str | int | float):
        return [TextSubstitution(text=str(value))]
    if isinstance(value, Iterable):
        return [item if isinstance(item, Substitution) else TextSubstitution(text=str(item)) for item in value]
    raise LaunchError(f'expected text or substitutions, got {type(value).__name__} {value!r}')


def perform_substitutions(context: LaunchContext, value: Any) -> str:
    """Evaluate text or substitutions into one string."""
    return ''.join(sub.perform(context) for sub in normalize_to_list_of_substitutions(value))


def describe(value: Any) -> str:
    """`ros2 launch -s` style description of text or substitutions."""
    return ' + '.join(sub.describe() for sub in normalize_to_list_of_substitutions(value))


class Condition:
    """Decides at visit time whether an action runs."""

    def evaluate(self, context: LaunchContext) -> bool:
        """True if the guarded action should run."""
        raise NotImplementedError


class Action:
    """Something a launch description does when visited."""

    def __init__(self, *, condition: Condition | None = None) -> None:
        self.condition = condition

    def visit(self, context: LaunchContext) -> list['Action | LaunchDescription'] | None:
        """Run the action if its condition holds; returns sub-entities to visit next."""
        if self.condition is not None and not self.condition.evaluate(context):
            return None
        return self.execute(context)

    def execute(self, context: LaunchContext) -> list['Action | LaunchDescription'] | None:
        """What the action does."""
        raise NotImplementedError


class LaunchDescription:
    """An ordered list of actions; what `generate_launch_description()` returns."""

    def __init__(self, initial_entities: Iterable['Action | LaunchDescription'] | None = None) -> None:
        self.entities: list[Action | LaunchDescription] = list(initial_entities or [])

    def add_action(self, action: 'Action | LaunchDescription') -> None:
        """Append an action."""
        self.entities.append(action)

    add_entity = add_action

    def get_launch_arguments(self) -> list[Any]:
        """Every DeclareLaunchArgument in the description, nested ones included, in order."""
        from groundfm.ros.launch_compat.actions import DeclareLaunchArgument

        found = []
        for entity in self.entities:
            if isinstance(entity, DeclareLaunchArgument):
                found.append(entity)
            elif isinstance(entity, LaunchDescription):
                found.extend(entity.get_launch_arguments())
        return found

    def visit(self, context: LaunchContext) -> list['Action | LaunchDescription']:
        """A description's sub-entities are its actions."""
        return self.entities


def visit_all(entities: Iterable[Action | LaunchDescription], context: LaunchContext) -> None:
    """Visit entities depth-first in order, like the launch service; stops at a visited Shutdown."""
    for entity in entities:
        if context.shutdown_reason is not None:
            return
        if not isinstance(entity, Action | LaunchDescription):
            raise LaunchError(f'{type(entity).__name__} is not supported by groundfm launch (not a launch action)')
        children = entity.visit(context)
        if children:
            visit_all(children, context)
