"""opengp: publish Python functions as geoprocessing services and run them as jobs.

What toolbox authors import is here and nowhere else (guarded by
tests/unit/test_public_api.py)::

    from opengp import tool, Param, JobContext, FeatureSet, RecordSet, LinearUnit, ArealUnit, DataFile, RasterData
"""
from __future__ import annotations

from .tools.context import JobContext
from .tools.values import ArealUnit, DataFile, FeatureSet, LinearUnit, RasterData, RecordSet
from .tools.params import Param, tool

__version__ = "0.1.0"
__all__ = [
    "ArealUnit", "DataFile", "FeatureSet", "JobContext", "LinearUnit", "Param", "RasterData",
    "RecordSet", "tool",
]
