"""What a product is: its versions, each a page layout over dataset layers.

Placeholder: the renderer work fills this in (page, scale, layers, symbology,
decorations, output types).
"""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ProductVersion(BaseModel):
    """One version of a product: everything needed to lay out and export a sheet."""

    model_config = ConfigDict(extra="forbid")

    name: str
    output_types: list[Literal["pdf", "png", "tiff"]] = Field(default_factory=lambda: ["pdf", "png", "tiff"])


class Product(BaseModel):
    """A named product and its versions."""

    model_config = ConfigDict(extra="forbid")

    name: str
    description: str = ""
    versions: list[ProductVersion] = Field(min_length=1)
