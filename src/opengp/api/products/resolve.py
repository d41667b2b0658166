"""A product version made ready for the worker: excluded layers dropped, every
other layer's ``dataset``/``layer`` resolved to the file it is read from.

The worker only ever reads files named here, by the server from its own
config; nothing in a request can point it at another file.  A product draws
its layers for whoever may use the product service: the publisher chose them.
"""
from __future__ import annotations

from typing import Any

from ...products.definition import LayerSource, ProductVersion
from .aoi import bad


def _excluded(layer: Any, exclusions: set[str], catalog: Any, hosts: tuple[str, ...]) -> str | None:
    """The exclusion entry that names this layer (its title, its layer name or its URL), if any."""
    for entry in exclusions:
        if entry.lower() in (layer.title.lower(), layer.layer.lower()):
            return entry
        found = catalog.find_url(entry, extra_hosts=hosts) if "/" in entry else None
        if found is not None and found[0].key == layer.dataset and found[1].name == layer.layer:
            return entry
    return None


def resolve_definition(catalog: Any, version: ProductVersion, exclusions: list[str],
                       hosts: tuple[str, ...] = ()) -> str:
    """The version as JSON for the GenerateProduct tool."""
    wanted = set(exclusions)
    used: set[str] = set()
    layers = []
    for layer in version.layers:
        entry = _excluded(layer, wanted, catalog, hosts)
        if entry is not None:
            used.add(entry)
            continue
        dataset = catalog.dataset(layer.dataset)
        found = next((d for d in dataset.layers if d.name == layer.layer), None) if dataset else None
        if found is None:
            raise bad(f"The product's layer '{layer.title}' reads '{layer.layer}' of dataset '{layer.dataset}', "
                      "which the server does not have; ask the administrator to fix the product definition.")
        layers.append(layer.model_copy(update={"source": LayerSource(path=str(found.path), layer=found.source_layer)}))
    unknown = sorted(wanted - used)
    if unknown:
        raise bad(f"'layerExclusion' names layers this product does not have: {', '.join(unknown)}; its layers: "
                  f"{', '.join(layer.title for layer in version.layers)}.")
    if not layers:
        raise bad("'layerExclusion' leaves no layer to draw.")
    return version.model_copy(update={"layers": layers}).model_dump_json()
