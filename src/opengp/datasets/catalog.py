"""The registered datasets, by key (placeholder: the datasets work fills this in)."""
from __future__ import annotations

from ..config import Settings


class Catalog:
    """Every dataset the config registers, opened lazily."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @classmethod
    def from_settings(cls, settings: Settings) -> "Catalog":
        return cls(settings)
