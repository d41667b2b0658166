"""@tool reads a function's signature into GP task metadata and leaves it callable."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Optional

import pytest

from opengp import JobContext, Param, tool
from opengp.tools.gptypes import InvalidValue, ParseEnv
from opengp.tools.params import tool_spec


@dataclass
class Pair:
    low: int
    high: Annotated[int, Param(display_name="High value")]


@tool(name="Split", description="Split a number.", category="Math")
def split(n: Annotated[int, Param(display_name="Number", choices=[1, 2, 3])],
          note: Optional[str] = None, ctx: JobContext = None) -> Pair:
    return Pair(n // 2, n - n // 2)


def test_decorated_function_is_still_a_plain_function():
    assert split(3) == Pair(1, 2)


def test_inputs_outputs_and_context_are_read_from_hints():
    spec = tool_spec(split)
    assert spec.name == "Split" and spec.category == "Math" and spec.context_arg == "ctx"
    n, note = spec.inputs
    assert (n.name, n.data_type, n.display_name, n.required, n.choices) == ("n", "GPLong", "Number", True, (1, 2, 3))
    assert (note.name, note.data_type, note.required) == ("note", "GPString", False)
    assert [(o.name, o.data_type, o.display_name) for o in spec.outputs] == [
        ("low", "GPLong", "Low"), ("high", "GPLong", "High value")]


def test_validate_normalizes_and_names_every_problem():
    spec = tool_spec(split)
    assert spec.validate({"n": "2", "note": ""}, ParseEnv()) == {"n": 2}
    with pytest.raises(InvalidValue) as exc:
        spec.validate({"n": "7"}, ParseEnv())
    assert "'n'" in str(exc.value) and "one of" in str(exc.value)
    with pytest.raises(InvalidValue, match="Missing required parameter 'n'"):
        spec.validate({}, ParseEnv())


def test_unsupported_hint_names_the_tool_and_parameter():
    @tool
    def bad(x: complex) -> str:
        return ""

    with pytest.raises(TypeError, match="'bad', parameter 'x'"):
        tool_spec(bad)


def test_input_and_output_names_must_differ():
    """arcgis' import_toolbox maps names to wire names in one dict: a clash silently drops inputs."""
    @tool(output_name="text")
    def shout(text: str) -> str:
        return text.upper()

    with pytest.raises(TypeError, match="unique.*repeated: text"):
        tool_spec(shout)


def test_request_setting_names_are_reserved():
    """A parameter called token would store the caller's token in the job record."""
    @tool
    def leaky(token: str) -> str:
        return token

    with pytest.raises(TypeError, match="token cannot be parameter names"):
        tool_spec(leaky)
