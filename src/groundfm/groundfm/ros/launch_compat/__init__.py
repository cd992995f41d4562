"""A faithful subset of the ROS 2 `launch` / `launch_ros` Python API, for installs without them (ROS 2 from PyPI).

groundfm's launcher imports launch files through it: `installed()` maps the module names `launch`, `launch.actions`,
`launch.substitutions`, `launch.conditions`, `launch_ros`, `launch_ros.actions` and `launch_ros.substitutions` onto
these modules while a launch file is loaded, and only when the real packages are not importable; the names are removed
again afterwards, so `import launch` keeps failing everywhere else. `evaluate()` visits a description like the launch
service does and returns a `LaunchPlan`: each process's exact command line, built as launch_ros builds it.
"""

import contextlib
import importlib.util
import sys
import tempfile
import traceback
import types
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from groundfm.ros.launch_compat import actions, conditions, ros, substitutions
from groundfm.ros.launch_compat.core import (
    Action,
    Condition,
    LaunchContext,
    LaunchDescription,
    LaunchError,
    ProcessSpec,
    Substitution,
    visit_all,
)

__all__ = ['Action', 'Condition', 'LaunchContext', 'LaunchDescription', 'LaunchError', 'LaunchPlan', 'ProcessSpec',
           'Substitution', 'evaluate', 'installed', 'load_launch_file', 'real_launch_available']

# Launch configurations that launch itself reads (ExecuteProcess timeouts): accepted on the command line undeclared.
BUILTIN_CONFIGURATIONS = ('sigterm_timeout', 'sigkill_timeout')


@dataclass
class LaunchPlan:
    """What a launch description does with given arguments: the processes to start, in order."""

    processes: list[ProcessSpec]
    configurations: dict[str, str]  # every launch configuration after the visit (defaults applied)
    messages: list[str] = field(default_factory=list)  # LogInfo output
    temp_files: list[str] = field(default_factory=list)  # dict parameter files written for the processes
    shutdown_reason: str | None = None  # a top-level Shutdown() was reached


def real_launch_available() -> bool:
    """True if the real ROS 2 launch and launch_ros packages are importable (then they are used, never this one)."""
    if any(getattr(sys.modules.get(name), '__groundfm_compat__', False) for name in ('launch', 'launch_ros')):
        return False
    try:
        specs = [importlib.util.find_spec(name) for name in ('launch', 'launch_ros')]
    except (ImportError, ValueError):
        return False
    # A folder named launch/ on sys.path (this repository's) is a namespace package, not ROS launch.
    return all(spec is not None and spec.origin not in (None, 'namespace') for spec in specs)


def _alias_modules() -> dict[str, types.ModuleType]:
    """Module objects standing in for the real launch packages."""
    this = sys.modules[__name__]
    launch_ros = types.ModuleType('launch_ros', 'groundfm stand-in for launch_ros')
    launch_ros.__path__ = []  # a package, so `import launch_ros.actions` resolves through sys.modules
    launch_ros.actions = ros
    launch_ros.substitutions = ros
    for module in (this, launch_ros):
        module.__groundfm_compat__ = True
    return {
        'launch': this,
        'launch.actions': actions,
        'launch.substitutions': substitutions,
        'launch.conditions': conditions,
        'launch_ros': launch_ros,
        'launch_ros.actions': ros,
        'launch_ros.substitutions': ros,
    }


@contextlib.contextmanager
def installed() -> Iterator[bool]:
    """Make `import launch` / `import launch_ros` resolve to this subset for the duration; yields False (and changes
    nothing) when the real packages are importable."""
    if real_launch_available():
        yield False
        return
    aliases = _alias_modules()
    previous = {name: sys.modules[name] for name in aliases if name in sys.modules}
    sys.modules.update(aliases)
    try:
        yield True
    finally:
        for name in aliases:
            sys.modules.pop(name, None)
        sys.modules.update(previous)


def load_launch_file(path: str | Path) -> LaunchDescription:
    """Import a .launch.py file and return its generate_launch_description(); errors name the file and line."""
    path = Path(path).resolve()
    module_name = 'groundfm_launch_' + path.name.replace('.', '_')
    with installed():
        try:
            spec = importlib.util.spec_from_file_location(module_name, path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            generate = getattr(module, 'generate_launch_description', None)
            if generate is None:
                raise LaunchError('no generate_launch_description() function')
            description = generate()
        except Exception as err:  # any error in user code becomes one readable line, naming the file and line
            frames = [f for f in traceback.extract_tb(err.__traceback__) if f.filename == str(path)]
            where = f'{path}:{frames[-1].lineno}' if frames else str(path)
            kind = '' if isinstance(err, LaunchError) else f'{type(err).__name__}: '
            hint = ''
            if isinstance(err, ImportError) and 'launch_compat' in str(err):
                hint = (' — groundfm launch implements only part of launch/launch_ros (see '
                        'groundfm.ros.launch_compat); run this file with ros2 launch on a system ROS 2')
            raise LaunchError(f'{where}: {kind}{err}{hint}') from err
    if not isinstance(description, LaunchDescription):
        raise LaunchError(f'{path}: generate_launch_description() returned {type(description).__name__}, '
                          'expected launch.LaunchDescription')
    return description


def evaluate(description: LaunchDescription, arguments: dict[str, str], temp_dir: str | None = None) -> LaunchPlan:
    """Visit the description with launch arguments `name -> value`; unknown argument names are an error."""
    declared = {argument.name for argument in description.get_launch_arguments()}
    unknown = [name for name in arguments if name not in declared and name not in BUILTIN_CONFIGURATIONS]
    if unknown:
        raise LaunchError(f'unknown launch argument(s) {", ".join(unknown)}; declared: '
                          f'{", ".join(sorted(declared)) or "none"} (list them with --show-args)')
    context = LaunchContext(arguments, temp_dir=temp_dir or tempfile.gettempdir())
    try:
        visit_all(description.entities, context)
    except LaunchError:
        for path in context.temp_files:
            Path(path).unlink(missing_ok=True)
        raise
    return LaunchPlan(context.processes, context.launch_configurations, context.messages, context.temp_files,
                      context.shutdown_reason)
