"""FeatureServer routes (filled in by the datasets work)."""
from __future__ import annotations

from starlette.routing import BaseRoute

routes: list[BaseRoute] = []
