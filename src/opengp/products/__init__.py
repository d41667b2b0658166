"""Product generation: map products (a topographic sheet, an atlas page) for an area of interest."""
