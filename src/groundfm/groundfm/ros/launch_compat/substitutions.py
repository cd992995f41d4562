"""`launch.substitutions` subset: TextSubstitution, LaunchConfiguration, PathJoinSubstitution, PythonExpression,
EnvironmentVariable."""

import importlib
import os
from typing import Any

from groundfm.ros.launch_compat.core import (
    LaunchContext,
    LaunchError,
    Substitution,
    describe,
    normalize_to_list_of_substitutions,
    perform_substitutions,
)

__all__ = ['EnvironmentVariable', 'LaunchConfiguration', 'PathJoinSubstitution', 'PythonExpression', 'Substitution',
           'TextSubstitution']


class TextSubstitution(Substitution):
    """Literal text."""

    def __init__(self, *, text: str) -> None:
        self.text = text

    def perform(self, context: LaunchContext) -> str:
        """The text itself."""
        return self.text

    def describe(self) -> str:
        """Quoted text."""
        return f"'{self.text}'"


class LaunchConfiguration(Substitution):
    """The value of a launch configuration (a declared argument), or `default` when it is unset."""

    def __init__(self, variable_name: Any, *, default: Any = None) -> None:
        self.variable_name = normalize_to_list_of_substitutions(variable_name)
        self.default = None if default is None else normalize_to_list_of_substitutions(default)

    def perform(self, context: LaunchContext) -> str:
        """The configuration's value in `context`."""
        name = perform_substitutions(context, self.variable_name)
        if name in context.launch_configurations:
            return context.launch_configurations[name]
        if self.default is not None:
            return perform_substitutions(context, self.default)
        raise LaunchError(f"launch configuration '{name}' does not exist: declare it with DeclareLaunchArgument")

    def describe(self) -> str:
        """LaunchConfig('name')."""
        return f'LaunchConfig({describe(self.variable_name)})'


class PathJoinSubstitution(Substitution):
    """Path components joined with the platform separator."""

    def __init__(self, substitutions: list[Any]) -> None:
        self.substitutions = [normalize_to_list_of_substitutions(part) for part in substitutions]

    def perform(self, context: LaunchContext) -> str:
        """The joined path."""
        return os.path.join(*(perform_substitutions(context, part) for part in self.substitutions))

    def describe(self) -> str:
        """PathJoin('a' + 'b')."""
        return f"PathJoin('{' + '.join(describe(part) for part in self.substitutions)}')"


class PythonExpression(Substitution):
    """str(eval(expression)) with `python_modules` (default math) importable by name."""

    def __init__(self, expression: Any, python_modules: Any = ('math',)) -> None:
        self.expression = normalize_to_list_of_substitutions(expression)
        self.python_modules = normalize_to_list_of_substitutions(list(python_modules))

    def perform(self, context: LaunchContext) -> str:
        """The evaluated expression, as text."""
        names: dict[str, Any] = {}
        for module_name in (sub.perform(context) for sub in self.python_modules):
            module = importlib.import_module(module_name)
            if module_name == 'math':  # launch lets expressions use math names unqualified
                names.update(vars(module))
            names[module_name] = module
        expression = perform_substitutions(context, self.expression)
        try:
            return str(eval(expression, {}, names))  # launch semantics: the launch file is trusted code
        except Exception as err:  # report any failure of the expression
            raise LaunchError(f'PythonExpression {expression!r} failed: {err}') from err

    def describe(self) -> str:
        """PythonExpr(expression, [modules])."""
        return f'PythonExpr({describe(self.expression)}, [{", ".join(s.describe() for s in self.python_modules)}])'


class EnvironmentVariable(Substitution):
    """An environment variable of the launcher, or `default_value`."""

    def __init__(self, name: Any, *, default_value: Any = None) -> None:
        self.name = normalize_to_list_of_substitutions(name)
        self.default_value = None if default_value is None else normalize_to_list_of_substitutions(default_value)

    def perform(self, context: LaunchContext) -> str:
        """The variable's value."""
        name = perform_substitutions(context, self.name)
        if name in os.environ:
            return os.environ[name]
        if self.default_value is None:
            raise LaunchError(f"environment variable '{name}' is not set and has no default_value")
        return perform_substitutions(context, self.default_value)

    def describe(self) -> str:
        """EnvVar(name)."""
        return f'EnvVar({describe(self.name)})'
