"""totalplace: see a place whole.

>>> from totalplace import Place
>>> place = Place.open("examples/minitown")      # doctest: +SKIP
>>> place.ingest.run()                            # doctest: +SKIP
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("totalplace")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0+unknown"


def __getattr__(name: str):
    # Lazy so that `import totalplace` does no work and pulls in no heavy dependency.
    if name == "Place":
        from totalplace.place import Place

        return Place
    raise AttributeError(name)


__all__ = ["Place", "__version__"]
