"""What toolbox authors import is small and stable."""
from __future__ import annotations

import opengp


def test_exported_members():
    assert sorted(opengp.__all__) == sorted([
        "ArealUnit", "DataFile", "FeatureSet", "JobContext", "LinearUnit", "Param", "RasterData",
        "RecordSet", "tool"])
    for name in opengp.__all__:
        assert getattr(opengp, name) is not None
