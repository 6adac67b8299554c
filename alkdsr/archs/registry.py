"""``ARCH_REGISTRY``: the architectures by name, filled by a decorator as BasicSR's registry is.

BasicSR's ``Registry`` lives in ``basicsr.utils.registry``, and importing that runs ``basicsr/__init__``
(all of BasicSR's architectures, models and datasets, torchvision, scipy: more than a second). The networks
need only torch, so their names are kept here, and ``alkdsr.training.registration`` hands every entry to
BasicSR's ``ARCH_REGISTRY`` when BasicSR is used.
"""

from __future__ import annotations

from collections.abc import Iterator


class Registry:
    """Name -> class, with BasicSR's ``register()`` decorator, ``get``, ``in`` and iteration over the pairs."""

    def __init__(self, name: str):
        self.name = name
        self._classes: dict[str, type] = {}

    def register(self):
        def add(cls: type) -> type:
            if cls.__name__ in self._classes:
                raise KeyError(f'{cls.__name__} is already in the {self.name} registry')
            self._classes[cls.__name__] = cls
            return cls

        return add

    def get(self, name: str) -> type:
        return self._classes[name]

    def __contains__(self, name) -> bool:
        return name in self._classes

    def __iter__(self) -> Iterator[tuple[str, type]]:
        return iter(list(self._classes.items()))


ARCH_REGISTRY = Registry('arch')
