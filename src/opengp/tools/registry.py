"""Services and their tasks, loaded from toolbox modules named in the config."""
from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from types import ModuleType

from ..config import ServiceConfig, Settings
from ..core import NotFound, ShowMessages
from .params import ToolSpec, is_tool, tool_spec


@dataclass
class Service:
    """A published toolbox: its settings and its tasks, in definition order."""

    config: ServiceConfig
    tools: dict[str, ToolSpec] = field(default_factory=dict)
    state: str = "STARTED"            # or "STOPPED": takes no new jobs
    owner: str | None = None          # the publisher who created it over the admin API

    @property
    def key(self) -> str:
        return self.config.key

    @property
    def synchronous(self) -> bool:
        return self.config.execution_type == "synchronous"

    @property
    def execute_wait(self) -> float:
        """How long a synchronous execute waits for its job: the job is timed out at maxUsageTime,
        and 5 s more let its end be recorded."""
        return self.config.max_usage_time + 5

    @cached_property
    def config_json(self) -> str:
        """The settings as JSON, as they travel to workers with each job (computed once)."""
        return self.config.model_dump_json()

    @property
    def started(self) -> bool:
        return self.state == "STARTED"

    def tool(self, name: str) -> ToolSpec:
        try:
            return self.tools[name]
        except KeyError:
            raise NotFound(f"Task '{name}' not found in service '{self.key}'.") from None


class Registry:
    """All services, by key (``Folder/Name``)."""

    def __init__(self, services: list[Service]) -> None:
        self.services = {s.key: s for s in services}
        if len(self.services) != len(services):
            raise ValueError("two services share one folder/name")

    @classmethod
    def from_settings(cls, settings: Settings) -> Registry:
        return cls([load_service(c, settings.config_dir) for c in settings.services])

    def service(self, key: str) -> Service:
        try:
            return self.services[key]
        except KeyError:
            raise NotFound(f"Service {key}/GPServer not found") from None

    def show_messages(self, key: str) -> ShowMessages:
        """The message level of the service ``key`` (its jobs' messages that clients see); the
        default for a service no longer published."""
        service = self.services.get(key)
        return service.config.show_messages if service is not None else ServiceConfig.model_fields[
            "show_messages"].default

    def put(self, service: Service) -> None:
        """Publish ``service``, replacing the one with its key (jobs read the new one from now on)."""
        self.services[service.key] = service

    def remove(self, key: str) -> Service | None:
        return self.services.pop(key, None)

    def folders(self) -> list[str]:
        return sorted({s.config.folder for s in self.services.values() if s.config.folder})

    def in_folder(self, folder: str | None) -> list[Service]:
        return [s for s in self.services.values() if s.config.folder == folder]


def toolbox_file(ref: str, base: Path = Path(".")) -> Path | None:
    """The file a toolbox reference names: a ``.py`` path (relative to ``base``), or the
    module's source; None for a module that cannot be found."""
    if ref.endswith(".py") or "/" in ref or "\\" in ref:
        path = Path(ref)
        if not path.is_absolute():
            path = (base / path) if (base / path).exists() else path.resolve()
        return path
    try:
        spec = importlib.util.find_spec(ref)
    except (ImportError, ValueError):
        return None
    return Path(spec.origin) if spec is not None and spec.origin else None


def load_toolbox(ref: str, base: Path = Path(".")) -> ModuleType:
    """Import a toolbox by module name or by ``.py`` path (relative to ``base``).

    A file is imported under a name made from its path and its content, so publishing a file
    again after fixing it imports the fixed text; a failed import leaves nothing behind."""
    if ref.endswith(".py") or "/" in ref or "\\" in ref:
        path = toolbox_file(ref, base)
        assert path is not None
        if not path.exists():
            raise FileNotFoundError(f"toolbox file not found: {path}")
        digest = hashlib.sha1(str(path.resolve()).encode() + b"\0" + path.read_bytes()).hexdigest()[:8]
        name = f"opengp_toolbox_{path.stem}_{digest}"
        if name in sys.modules:
            return sys.modules[name]
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[name]
            raise
        return module
    importlib.invalidate_caches()   # a module written since the server started is found
    return importlib.import_module(ref)


def load_service(config: ServiceConfig, base: Path = Path(".")) -> Service:
    try:
        module = load_toolbox(config.toolbox, base)
        tools: dict[str, ToolSpec] = {}
        for obj in vars(module).values():
            if is_tool(obj) and getattr(obj, "__module__", None) == module.__name__:
                spec = tool_spec(obj)
                tools[spec.name] = spec
    except Exception as exc:   # say which service, whatever the toolbox raised
        raise ValueError(f"service '{config.key}' (toolbox {config.toolbox!r}): {exc}") from exc
    if not tools:
        raise ValueError(f"toolbox {config.toolbox!r} has no @tool functions")
    description = config.description or (module.__doc__ or "").strip()
    config = config.model_copy(update={"description": description})
    return Service(config, tools)
