"""What the fuzz tests (tests/faults) publish: quick tools whose parameters cover every GP type."""
from __future__ import annotations

from datetime import datetime

from opengp import ArealUnit, DataFile, FeatureSet, LinearUnit, RasterData, RecordSet, tool


@tool(name="AllTypes", description="One optional parameter of every GP type; returns at once.")
def all_types(text: str = "", whole: int = 0, real: float = 0.0, flag: bool = False, when: datetime | None = None,
              names: list[str] | None = None, numbers: list[float] | None = None,
              distance: LinearUnit | None = None, area: ArealUnit | None = None, file: DataFile | None = None,
              raster: RasterData | None = None, features: FeatureSet | None = None,
              table: RecordSet | None = None) -> str:
    return "taken"


@tool(name="Features", description="Returns the features it is given (a feature result for the fuzzers).")
def features(features: FeatureSet) -> FeatureSet:
    return features


@tool(name="Fail", description="Always fails.")
def fail(message: str = "failed on purpose") -> str:
    raise RuntimeError(message)
