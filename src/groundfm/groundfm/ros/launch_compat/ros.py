"""`launch_ros.actions.Node` and `launch_ros.substitutions.FindPackageShare`, plus package and executable lookup.

Node builds the command line the way launch_ros does: `EXE [arguments] --ros-args -r __node:=NAME -r __ns:=/NS
--params-file FILE ... -r FROM:=TO ...`. Dict parameters go to a temporary YAML file (prefix `launch_params_`) keyed by
the full node name when name and namespace are both given, else by `/**`.
"""

import importlib.metadata
import importlib.util
import os
import re
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from groundfm.ros.launch_compat.actions import ExecuteProcess, _is_runnable
from groundfm.ros.launch_compat.core import (
    LaunchContext,
    LaunchError,
    ProcessSpec,
    Substitution,
    describe,
    normalize_to_list_of_substitutions,
    perform_substitutions,
)

__all__ = ['FindPackageShare', 'Node', 'find_executable', 'package_share']

_NAME = re.compile(r'[A-Za-z_][A-Za-z0-9_]*')


def _source_package_dir(package: str) -> str | None:
    """The package's source folder when its Python package is imported from a checkout (package.xml beside it)."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    for location in (spec.submodule_search_locations or []) if spec else []:
        root = Path(location).resolve().parent
        manifest = root / 'package.xml'
        if manifest.is_file() and f'<name>{package}</name>' in manifest.read_text(encoding='utf-8'):
            return str(root)
    return None


def package_share(package: str) -> str:
    """share/<package>: the source folder when running from a checkout (edits apply at once), else the ament index."""
    source = _source_package_dir(package)
    if source is not None:
        return source
    try:
        from ament_index_python.packages import get_package_share_directory
    except ImportError as err:
        raise LaunchError(f"cannot find package '{package}': ament_index_python is not installed") from err
    try:
        return get_package_share_directory(package)
    except (KeyError, ValueError, LookupError) as err:
        raise LaunchError(f"package '{package}' not found in the ament index (AMENT_PREFIX_PATH="
                          f"{os.environ.get('AMENT_PREFIX_PATH', '')!r}): install it or source its setup file") from err


def _package_prefix(package: str) -> str | None:
    """The install prefix of `package` from the ament index, or None."""
    try:
        from ament_index_python.packages import get_package_prefix

        return get_package_prefix(package)
    except (ImportError, KeyError, ValueError, LookupError):
        return None


def _normalized(name: str) -> str:
    """Distribution names compare case-insensitively with - and _ alike."""
    return re.sub(r'[-_.]+', '_', name).lower()


def find_executable(package: str, executable: str) -> list[str]:
    """The command running `executable` of `package`: <prefix>/lib/<package>/<executable> (colcon, system ROS), else
    the console_scripts entry point of that name in the package's distribution (pip install), run by this Python."""
    looked = []
    prefix = _package_prefix(package)
    if prefix is not None:
        path = os.path.join(prefix, 'lib', package, executable)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return [path]
        looked.append(os.path.join(prefix, 'lib', package) + os.sep)
    for entry in importlib.metadata.entry_points(group='console_scripts', name=executable):
        dist = entry.dist.name if entry.dist is not None else ''
        if _normalized(dist) == _normalized(package) or entry.module.split('.')[0] == package:
            function = entry.attr.split('.')[0]
            return [sys.executable, '-c', f'import sys; from {entry.module} import {function}; sys.exit({function}())']
    looked.append(f"the console_scripts of distribution '{package}'")
    raise LaunchError(f"executable '{executable}' of package '{package}' not found (looked in {' and '.join(looked)})")


class FindPackageShare(Substitution):
    """The share directory of a package."""

    def __init__(self, package: Any) -> None:
        self.package = normalize_to_list_of_substitutions(package)

    def perform(self, context: LaunchContext) -> str:
        """share/<package>."""
        return package_share(perform_substitutions(context, self.package))

    def describe(self) -> str:
        """FindPackageShare(pkg='name')."""
        return f'FindPackageShare(pkg={describe(self.package)})'


def _uniform(name: str, items: list[Any]) -> list[Any]:
    """A parameter array: items of one type (ints mixed with floats become floats)."""
    types = {type(item) for item in items}
    if types == {int, float}:
        return [float(item) for item in items]
    if not items or len(types) != 1 or not types <= {bool, int, float, str}:
        raise LaunchError(f'parameter {name}: arrays need a non-empty list of one type (bool, int, float or str)')
    return items


def _evaluate_value(context: LaunchContext, name: str, value: Any) -> Any:
    """One dict parameter value, with launch_ros rules: substitutions are parsed as YAML, plain text stays text."""
    if isinstance(value, bool | int | float | str):
        return value
    is_text = isinstance(value, list | tuple) and all(isinstance(v, str | Substitution) for v in value)
    if isinstance(value, Substitution) or (is_text and any(isinstance(v, Substitution) for v in value)):
        text = perform_substitutions(context, value)
        try:
            loaded = yaml.safe_load(text) if text else ''
        except yaml.YAMLError as err:
            raise LaunchError(f'parameter {name}: {text!r} is not a YAML value') from err
        if isinstance(loaded, list):
            return _uniform(name, loaded)
        if not isinstance(loaded, bool | int | float | str):
            raise LaunchError(f'parameter {name}: {text!r} is a {type(loaded).__name__}; give a scalar or a list')
        return loaded
    if isinstance(value, list | tuple):
        items = [yaml.safe_load(perform_substitutions(context, v)) if isinstance(v, Substitution | list | tuple)
                 else v for v in value]
        return _uniform(name, items)
    raise LaunchError(f'parameter {name}: unsupported value {value!r}')


def evaluate_parameter_dict(context: LaunchContext, params: Mapping[Any, Any], prefix: str = '') -> dict[str, Any]:
    """Flatten nested dicts with '.' and evaluate every value."""
    values: dict[str, Any] = {}
    for key, value in params.items():
        name = prefix + perform_substitutions(context, key)
        if isinstance(value, Mapping):
            values.update(evaluate_parameter_dict(context, value, name + '.'))
        else:
            values[name] = _evaluate_value(context, name, value)
    return values


class Node(ExecuteProcess):
    """A ROS 2 node: an executable of a package (or a path) with its name, namespace, parameters and remappings."""

    def __init__(self, *, executable: Any, package: Any = None, name: Any = None, namespace: Any = None,
                 exec_name: Any = None, parameters: list[Any] | None = None,
                 remappings: list[tuple[Any, Any]] | None = None, ros_arguments: list[Any] | None = None,
                 arguments: list[Any] | None = None, **kwargs: Any) -> None:
        super().__init__(cmd=[], name=exec_name, **kwargs)
        if parameters is not None and not isinstance(parameters, list | tuple):
            raise LaunchError(f'Node parameters must be a list of files and dicts, got {parameters!r}')
        self.package = package
        self.executable = executable
        self.node_name = name
        self.namespace = namespace
        self.parameters = list(parameters or [])
        self.remappings = list(remappings or [])
        self.ros_arguments = ros_arguments
        self.arguments = list(arguments or [])

    def _label(self, context: LaunchContext, cmd: list[str]) -> str:
        """exec_name, else the executable's basename, as launch_ros names the process."""
        if self.name is not None:
            return perform_substitutions(context, self.name)
        return os.path.basename(perform_substitutions(context, self.executable))

    def _command(self, context: LaunchContext, spec: ProcessSpec) -> list[str]:
        """EXE [arguments] [--ros-args ros_arguments] --ros-args -r __node:= -r __ns:= --params-file ... -r from:=to."""
        executable = perform_substitutions(context, self.executable)
        spec.executable = executable
        if self.package is not None:
            spec.package = perform_substitutions(context, self.package)
            try:
                cmd = find_executable(spec.package, executable)
            except LaunchError as err:
                spec.problems.append(str(err))
                cmd = [executable]
        else:
            cmd = [executable]
            if not _is_runnable(executable):
                spec.problems.append(f"executable '{executable}' not found or not executable")
        cmd += [perform_substitutions(context, arg) for arg in self.arguments]
        if self.ros_arguments is not None:
            cmd += ['--ros-args', *(perform_substitutions(context, arg) for arg in self.ros_arguments)]
        cmd.append('--ros-args')
        if self.node_name is not None:
            spec.node_name = perform_substitutions(context, self.node_name)
            if not _NAME.fullmatch(spec.node_name):
                raise LaunchError(f'invalid node name {spec.node_name!r}: use letters, digits and _')
            cmd += ['-r', f'__node:={spec.node_name}']
        namespace = None
        if self.namespace is not None:
            namespace = '/' + perform_substitutions(context, self.namespace).strip('/')
            if namespace != '/' and not all(_NAME.fullmatch(part) for part in namespace[1:].split('/')):
                raise LaunchError(f'invalid namespace {namespace!r}: use /-separated names of letters, digits and _')
            cmd += ['-r', f'__ns:={namespace}']
        full_name = None
        if spec.node_name is not None and namespace is not None:
            full_name = namespace.rstrip('/') + '/' + spec.node_name
        for param in self.parameters:
            if isinstance(param, Mapping):
                values = evaluate_parameter_dict(context, param)
                spec.param_dicts.append(values)
                path = self._write_params(context, full_name or '/**', values)
            else:
                path = perform_substitutions(context, param)
                spec.param_files.append(path)
                if not os.path.isfile(path):
                    spec.problems.append(f'parameter file {path} does not exist')
            cmd += ['--params-file', path]
        for source, target in self.remappings:
            cmd += ['-r', f'{perform_substitutions(context, source)}:={perform_substitutions(context, target)}']
        return cmd

    @staticmethod
    def _write_params(context: LaunchContext, key: str, values: dict[str, Any]) -> str:
        """Dump dict parameters to a temporary parameter file, as launch_ros does; return its path."""
        with tempfile.NamedTemporaryFile('w', prefix='launch_params_', delete=False, dir=context.temp_dir) as f:
            yaml.dump({key: {'ros__parameters': values}}, f, default_flow_style=False)
        context.temp_files.append(f.name)
        return f.name
