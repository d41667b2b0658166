"""Turn a Python function's signature into GP task metadata.

``@tool`` only marks a function; :func:`tool_spec` reads its type hints the
first time the task is needed (so hints may name classes defined further down
the toolbox module).  The function itself stays a plain callable.
"""
from __future__ import annotations

import dataclasses
import inspect
import types
import typing
from dataclasses import dataclass, field
from typing import Annotated, Any, Callable, Union, get_args, get_origin

from ..core import FileStoreError
from .context import JobContext
from .gptypes import DumpEnv, GPType, InvalidValue, ParseEnv, gp_type_for

_SPEC_ATTR = "__opengp_tool__"
# Form fields every GP request may carry besides the parameters.
RESERVED = frozenset({"f", "token", "context", "env:outSR", "env:processSR", "returnZ", "returnM",
                      "returnMessages", "returnTrueCurves", "returnFeatureCollection", "returnColumnName"})
_MISSING = inspect.Parameter.empty


@dataclass(frozen=True)
class Param:
    """Metadata for one parameter, given as ``Annotated[T, Param(...)]``.

    name          the wire name (defaults to the Python argument name)
    display_name  label shown by clients (defaults to the name, underscores as spaces)
    description   help text
    choices       allowed values, published as ``choiceList``
    category      groups parameters in client dialogs
    withheld      the value is the server's own business (file paths, say): job views name the
                  input but never show its value
    """

    display_name: str | None = None
    description: str | None = None
    choices: list[Any] | None = None
    category: str | None = None
    name: str | None = None
    withheld: bool = False


WITHHELD = "(not shown: the server's own)"      # what job views show for a withheld input's value


@dataclass(frozen=True)
class ParamSpec:
    """One input or output parameter of a task, as published."""

    name: str
    arg: str
    gp: GPType
    display_name: str
    description: str = ""
    required: bool = True
    default: Any = None
    choices: tuple[Any, ...] | None = None
    category: str = ""
    output: bool = False
    withheld: bool = False

    @property
    def data_type(self) -> str:
        return self.gp.data_type

    @property
    def default_json(self) -> Any:
        """The default as a job stores it: what a job that left this input unset ran with
        (None: no value)."""
        return None if self.default is None else self.gp.to_json(self.default)


@dataclass(frozen=True)
class ToolSpec:
    """A task: its function, its inputs and outputs."""

    name: str
    func: Callable[..., Any]
    display_name: str
    description: str
    category: str
    inputs: tuple[ParamSpec, ...]
    outputs: tuple[ParamSpec, ...]
    context_arg: str | None = None
    multi_output: bool = False
    by_name: dict[str, ParamSpec] = field(default_factory=dict, compare=False)

    def param(self, name: str, *, output: bool) -> ParamSpec | None:
        spec = self.by_name.get(("out:" if output else "in:") + name)
        return spec

    def validate(self, form: dict[str, Any], env: ParseEnv) -> dict[str, Any]:
        """Check request values; returns the normalized JSON inputs to store.

        Raises InvalidValue naming every bad parameter at once.
        """
        normalized: dict[str, Any] = {}
        problems: list[str] = []
        for p in self.inputs:
            raw = form.get(p.name)
            if raw is None or raw == "":
                if p.required:
                    problems.append(f"Missing required parameter '{p.name}'.")
                elif p.default is not None:
                    normalized[p.name] = p.default_json
                continue
            try:
                value = p.gp.parse(raw, env)
                if p.choices is not None and value not in p.choices:
                    raise InvalidValue(f"must be one of {list(p.choices)}, got {value!r}")
                normalized[p.name] = p.gp.to_json(value)
            except FileStoreError:      # the uploads' store failed: the server's trouble, not the input's
                raise
            except Exception as exc:  # InvalidValue, or any parse error: the input is bad, not the server
                problems.append(f"Invalid value for parameter '{p.name}' ({p.data_type}): {exc}")
        if problems:
            raise InvalidValue("; ".join(problems))
        return normalized

    def load(self, stored: dict[str, Any], env: ParseEnv) -> dict[str, Any]:
        """Stored inputs -> keyword arguments for the function."""
        kwargs: dict[str, Any] = {}
        for p in self.inputs:
            if p.name in stored:
                kwargs[p.arg] = p.gp.parse(stored[p.name], env)
        return kwargs

    def dump(self, returned: Any, env: DumpEnv) -> dict[str, dict[str, Any]]:
        """The function's return value -> ``{name: {"dataType", "value"}}``."""
        if not self.outputs:
            return {}
        if self.multi_output:
            get = returned.get if isinstance(returned, dict) else (lambda k: getattr(returned, k, None))
            values = {p.name: get(p.arg) for p in self.outputs}
        else:
            values = {self.outputs[0].name: returned}
        out = {}
        for p in self.outputs:
            value = values[p.name]
            try:
                dumped = None if value is None else p.gp.dump(value, env)
            except InvalidValue as exc:
                raise InvalidValue(f"output '{p.name}' ({p.data_type}): {exc}") from exc
            out[p.name] = {"dataType": p.data_type, "value": dumped}
        return out


@dataclass(frozen=True)
class _ToolOptions:
    name: str | None
    display_name: str | None
    description: str | None
    category: str | None
    output_name: str
    output_display_name: str | None


def tool(
    fn: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    display_name: str | None = None,
    description: str | None = None,
    category: str | None = None,
    output_name: str = "result",
    output_display_name: str | None = None,
) -> Any:
    """Mark a function as a geoprocessing task.

    Usable bare (``@tool``) or with options (``@tool(name="Buffer")``).  The task
    is named after the function unless ``name`` is given; a single return value
    is published as the output ``output_name``.  The function is returned
    unchanged, so it can still be called and tested as plain Python.
    """
    opts = _ToolOptions(name, display_name, description, category, output_name, output_display_name)

    def mark(f: Callable[..., Any]) -> Callable[..., Any]:
        setattr(f, _SPEC_ATTR, opts)
        return f

    return mark(fn) if fn is not None else mark


def is_tool(obj: Any) -> bool:
    return callable(obj) and isinstance(getattr(obj, _SPEC_ATTR, None), (_ToolOptions, ToolSpec))


def tool_spec(fn: Callable[..., Any]) -> ToolSpec:
    """Build (once) and return the task description of a ``@tool`` function."""
    marked = getattr(fn, _SPEC_ATTR)
    if isinstance(marked, ToolSpec):
        return marked
    spec = _build(fn, marked)
    setattr(fn, _SPEC_ATTR, spec)
    return spec


def _humanize(name: str) -> str:
    return name.replace("_", " ").strip().title() if "_" in name or name.islower() else name


def _unwrap(hint: Any) -> tuple[Any, Param, bool]:
    """``Annotated[Optional[T], Param]`` -> (T, Param, optional)."""
    meta = Param()
    if get_origin(hint) is Annotated:
        hint, *extras = get_args(hint)
        meta = next((e for e in extras if isinstance(e, Param)), meta)
    optional = False
    if get_origin(hint) in (Union, types.UnionType):
        args = [a for a in get_args(hint) if a is not type(None)]
        optional = len(args) < len(get_args(hint))
        if len(args) == 1:
            hint = args[0]
    return hint, meta, optional


def _build(fn: Callable[..., Any], opts: _ToolOptions) -> ToolSpec:
    task = opts.name or fn.__name__
    try:
        hints = typing.get_type_hints(fn, include_extras=True)
    except Exception as exc:  # unresolvable names: say which tool
        raise TypeError(f"tool {task!r}: cannot resolve type hints: {exc}") from exc
    inputs: list[ParamSpec] = []
    context_arg = None
    for arg, p in inspect.signature(fn).parameters.items():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise TypeError(f"tool {task!r}: *args/**kwargs cannot be published")
        hint, meta, optional = _unwrap(hints.get(arg, str))
        if hint is JobContext:
            context_arg = arg
            continue
        gp = _gp_type(task, arg, hint)
        has_default = p.default is not _MISSING
        inputs.append(ParamSpec(
            name=meta.name or arg, arg=arg, gp=gp,
            display_name=meta.display_name or _humanize(meta.name or arg),
            description=meta.description or "", required=not (has_default or optional),
            default=p.default if has_default else None,
            choices=tuple(meta.choices) if meta.choices is not None else None,
            category=meta.category or "", withheld=meta.withheld,
        ))
    outputs, multi = _outputs(task, hints.get("return", type(None)), opts)
    reserved = sorted({p.name for p in inputs} & RESERVED)
    if reserved:
        raise TypeError(f"tool {task!r}: {', '.join(reserved)} cannot be parameter names: "
                        "clients send request settings (and tokens) under them")
    names = [p.name for p in inputs + outputs]
    clash = sorted({n for n in names if names.count(n) > 1})
    if clash:
        raise TypeError(f"tool {task!r}: parameter names must be unique across inputs and outputs "
                        f"(ArcGIS clients look them up by name); repeated: {', '.join(clash)}")
    spec = ToolSpec(
        name=task, func=fn, display_name=opts.display_name or _humanize(task),
        description=opts.description or inspect.getdoc(fn) or "",
        category=opts.category or "", inputs=tuple(inputs), outputs=tuple(outputs),
        context_arg=context_arg, multi_output=multi,
    )
    spec.by_name.update({"in:" + p.name: p for p in inputs})
    spec.by_name.update({"out:" + p.name: p for p in outputs})
    return spec


def _gp_type(task: str, arg: str, hint: Any) -> GPType:
    try:
        return gp_type_for(hint)
    except TypeError as exc:
        raise TypeError(f"tool {task!r}, parameter {arg!r}: {exc}") from exc


def _outputs(task: str, ret: Any, opts: _ToolOptions) -> tuple[list[ParamSpec], bool]:
    ret, meta, _ = _unwrap(ret)
    if ret is type(None) or ret is None:
        return [], False
    fields: dict[str, Any] | None = None
    try:
        gp_type_for(ret)
        is_value = True       # a GP value class (FeatureSet, DataFile...) is one output
    except TypeError:
        is_value = False
    if is_value:
        pass
    elif dataclasses.is_dataclass(ret) and isinstance(ret, type):
        fields = typing.get_type_hints(ret, include_extras=True)
        fields = {f.name: fields[f.name] for f in dataclasses.fields(ret)}
    elif typing.is_typeddict(ret):
        fields = typing.get_type_hints(ret, include_extras=True)
    if fields is None:
        name = meta.name or opts.output_name
        return [ParamSpec(
            name=name, arg=name, gp=_gp_type(task, "return", ret),
            display_name=opts.output_display_name or meta.display_name or _humanize(name),
            description=meta.description or "", output=True,
        )], False
    outs = []
    for arg, hint in fields.items():
        hint, fmeta, _ = _unwrap(hint)
        name = fmeta.name or arg
        outs.append(ParamSpec(
            name=name, arg=arg, gp=_gp_type(task, arg, hint),
            display_name=fmeta.display_name or _humanize(name),
            description=fmeta.description or "", output=True,
        ))
    return outs, True
