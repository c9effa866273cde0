"""totalplace: see a place whole.

>>> from totalplace import Place
>>> place = Place.open("examples/minitown")      # doctest: +SKIP
>>> place.ingest.run()                            # doctest: +SKIP
"""

from __future__ import annotations


def __getattr__(name: str):
    # Lazy so that `import totalplace` does no work and pulls in no heavy dependency
    # (importlib.metadata alone takes about 0.2 s, paid by every command line call).
    if name == "Place":
        from totalplace.place import Place

        return Place
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("totalplace")
        except PackageNotFoundError:  # running from a source tree without installing
            return "0.0.0+unknown"
    raise AttributeError(name)


__all__ = ["Place", "__version__"]
