"""Errors raised by the numerical core for bad input (never for numerical failure, which is returned)."""

from __future__ import annotations


class InputError(ValueError):
    """Input that cannot be evaluated, with the location of the offending field.

    ``loc`` is a path into the request, e.g. ``("linear_objects", 0, "source_grid")``; ``msg`` is a sentence a
    scientist understands ("source_grid has 480 rows but the dataset has 484 over-sampled pixels").
    """

    def __init__(self, loc: tuple, msg: str):
        super().__init__(f"{'.'.join(map(str, loc))}: {msg}")
        self.loc = tuple(loc)
        self.msg = msg
