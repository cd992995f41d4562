"""`launch.actions` subset: DeclareLaunchArgument, LogInfo, Shutdown and ExecuteProcess."""

import os
import shutil
from typing import Any

from groundfm.ros.launch_compat.core import (
    Action,
    Condition,
    LaunchContext,
    LaunchError,
    ProcessSpec,
    normalize_to_list_of_substitutions,
    perform_substitutions,
)

__all__ = ['Action', 'DeclareLaunchArgument', 'ExecuteProcess', 'LogInfo', 'Shutdown']

DEFAULT_SIGTERM_TIMEOUT_S = 5.0  # launch's default; launch argument sigterm_timeout:=S overrides it
DEFAULT_SIGKILL_TIMEOUT_S = 5.0  # launch's default; launch argument sigkill_timeout:=S overrides it


class DeclareLaunchArgument(Action):
    """Declare a launch argument: its default, description and allowed values."""

    def __init__(self, name: str, *, default_value: Any = None, description: str | None = None,
                 choices: list[str] | None = None, condition: Condition | None = None) -> None:
        super().__init__(condition=condition)
        if choices is not None and not choices:
            raise LaunchError(f"DeclareLaunchArgument('{name}'): choices is empty; use None to allow any value")
        if choices is not None and isinstance(default_value, str) and default_value not in choices:
            raise LaunchError(f"DeclareLaunchArgument('{name}'): default {default_value!r} is not in {choices}")
        self.name = name
        self.default_value = None if default_value is None else normalize_to_list_of_substitutions(default_value)
        self.choices = None if choices is None else list(choices)
        if description is None:
            self.description = 'no description given' if choices is None else f'One of: {choices}'
        else:
            self.description = description
            if choices is not None:
                self.description += ('' if description.endswith('.') else '.') + f' Valid choices are: {choices}'

    def execute(self, context: LaunchContext) -> None:
        """Apply the default when the argument was not given; check the value against the choices."""
        if self.name not in context.launch_configurations:
            if self.default_value is None:
                raise LaunchError(f"required launch argument '{self.name}' was not given: add {self.name}:=VALUE")
            context.launch_configurations[self.name] = perform_substitutions(context, self.default_value)
        value = context.launch_configurations[self.name]
        if self.choices is not None and value not in self.choices:
            raise LaunchError(f"launch argument {self.name}:={value} is not valid; choose one of: "
                              f"{', '.join(self.choices)}")


class LogInfo(Action):
    """Print a message when visited."""

    def __init__(self, *, msg: Any, condition: Condition | None = None) -> None:
        super().__init__(condition=condition)
        self.msg = normalize_to_list_of_substitutions(msg)

    def execute(self, context: LaunchContext) -> None:
        """Queue the message for the launcher to print."""
        context.messages.append(perform_substitutions(context, self.msg))


class Shutdown(Action):
    """End the whole launch; as `on_exit=Shutdown()` of a process it makes that process required."""

    def __init__(self, *, reason: Any = 'reason not given', condition: Condition | None = None) -> None:
        super().__init__(condition=condition)
        self.reason = normalize_to_list_of_substitutions(reason)

    def execute(self, context: LaunchContext) -> None:
        """A visited top-level Shutdown ends the launch before anything after it."""
        context.shutdown_reason = perform_substitutions(context, self.reason)


def _as_bool(context: LaunchContext, value: Any, what: str) -> bool:
    """A bool, or text 'true'/'false' (substitutions allowed)."""
    if isinstance(value, bool):
        return value
    text = perform_substitutions(context, value).strip().lower()
    if text in ('true', '1'):
        return True
    if text in ('false', '0'):
        return False
    raise LaunchError(f'{what}: {text!r} is not a boolean; use true or false')


def _as_seconds(context: LaunchContext, value: Any, config: str, default: float) -> float:
    """A timeout: the given value, else launch configuration `config`, else `default` [s]."""
    if value is None:
        value = context.launch_configurations.get(config, default)
    text = value if isinstance(value, int | float) else perform_substitutions(context, value)
    try:
        return float(text)
    except ValueError as err:
        raise LaunchError(f'{config}: {text!r} is not a number of seconds') from err


class ExecuteProcess(Action):
    """Run a command as a supervised process (respawn, on_exit, SIGINT -> SIGTERM -> SIGKILL on shutdown)."""

    def __init__(self, *, cmd: list[Any], name: Any = None, cwd: Any = None,
                 additional_env: dict[str, Any] | None = None, output: str = 'log', respawn: Any = False,
                 respawn_delay: float | None = None, on_exit: Any = None, sigterm_timeout: Any = None,
                 sigkill_timeout: Any = None, emulate_tty: bool = False, condition: Condition | None = None,
                 **unsupported: Any) -> None:
        super().__init__(condition=condition)
        if unsupported:
            raise LaunchError(f'{type(self).__name__}() got unknown or unsupported argument(s) '
                              f'{", ".join(unsupported)}: groundfm launch implements a subset of launch_ros; fix '
                              'the name, or use ros2 launch on a system ROS 2')
        self.cmd = [normalize_to_list_of_substitutions(part) for part in cmd]
        self.name = name
        self.cwd = cwd
        self.additional_env = dict(additional_env or {})
        self.output = output
        self.respawn = respawn
        self.respawn_delay = respawn_delay
        self.on_exit = [] if on_exit is None else on_exit if isinstance(on_exit, list) else [on_exit]
        self.sigterm_timeout = sigterm_timeout
        self.sigkill_timeout = sigkill_timeout
        self.emulate_tty = emulate_tty  # accepted; output always goes through pipes, line by line

    def _command(self, context: LaunchContext, spec: ProcessSpec) -> list[str]:
        """The evaluated command line; records why it cannot start in spec.problems."""
        cmd = [perform_substitutions(context, part) for part in self.cmd]
        if cmd and not _is_runnable(cmd[0]):
            spec.problems.append(f"executable '{cmd[0]}' not found or not executable")
        return cmd

    def _label(self, context: LaunchContext, cmd: list[str]) -> str:
        """The process name without its number: `name`, else the executable's basename."""
        if self.name is not None:
            return perform_substitutions(context, self.name)
        return os.path.basename(cmd[0]) if cmd else 'process'

    def execute(self, context: LaunchContext) -> None:
        """Evaluate everything the process needs into a ProcessSpec."""
        spec = ProcessSpec(name='', cmd=[], output=self.output)
        spec.cmd = self._command(context, spec)
        context.process_count += 1
        spec.name = f'{self._label(context, spec.cmd)}-{context.process_count}'
        spec.cwd = None if self.cwd is None else perform_substitutions(context, self.cwd)
        spec.env = {perform_substitutions(context, k): perform_substitutions(context, v)
                    for k, v in self.additional_env.items()}
        spec.respawn = _as_bool(context, self.respawn, f'{spec.name} respawn')
        spec.respawn_delay = float(self.respawn_delay or 0.0)
        spec.sigterm_timeout = _as_seconds(context, self.sigterm_timeout, 'sigterm_timeout', DEFAULT_SIGTERM_TIMEOUT_S)
        spec.sigkill_timeout = _as_seconds(context, self.sigkill_timeout, 'sigkill_timeout', DEFAULT_SIGKILL_TIMEOUT_S)
        for action in self.on_exit:
            if isinstance(action, Shutdown):
                spec.required = True
            elif isinstance(action, LogInfo):
                spec.exit_messages.append(perform_substitutions(context, action.msg))
            else:
                raise LaunchError(f'{spec.name}: on_exit supports Shutdown() and LogInfo() here, '
                                  f'got {type(action).__name__}')
        context.processes.append(spec)


def _is_runnable(program: str) -> bool:
    """True if `program` is an executable path, or a name found on PATH (what exec would run)."""
    if os.sep in program:
        return os.path.isfile(program) and os.access(program, os.X_OK)
    return shutil.which(program) is not None
