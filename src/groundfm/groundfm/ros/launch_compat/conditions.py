"""`launch.conditions` subset: IfCondition and UnlessCondition on 'true'/'false'/'1'/'0' expressions."""

from typing import Any

from groundfm.ros.launch_compat.core import (
    Condition,
    LaunchContext,
    LaunchError,
    normalize_to_list_of_substitutions,
    perform_substitutions,
)

__all__ = ['Condition', 'IfCondition', 'UnlessCondition']


def evaluate_condition_expression(context: LaunchContext, expression: Any) -> bool:
    """'true'/'1' -> True, 'false'/'0' -> False (any case); anything else is an error, as in launch."""
    text = perform_substitutions(context, expression).strip().lower()
    if text in ('true', '1'):
        return True
    if text in ('false', '0'):
        return False
    raise LaunchError(f"condition expression {text!r} is not a boolean: use 'true' or 'false'")


class IfCondition(Condition):
    """Run the action when the expression is true."""

    def __init__(self, predicate_expression: Any) -> None:
        self.predicate_expression = normalize_to_list_of_substitutions(predicate_expression)

    def evaluate(self, context: LaunchContext) -> bool:
        """The expression's truth value."""
        return evaluate_condition_expression(context, self.predicate_expression)


class UnlessCondition(Condition):
    """Run the action when the expression is false."""

    def __init__(self, predicate_expression: Any) -> None:
        self.predicate_expression = normalize_to_list_of_substitutions(predicate_expression)

    def evaluate(self, context: LaunchContext) -> bool:
        """The negated truth value."""
        return not evaluate_condition_expression(context, self.predicate_expression)
