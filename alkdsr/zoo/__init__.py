"""Pretrained weights by name (``alkdnet-x4``): the registry and the verified download cache."""

from .cache import WeightsError, cache_dir, cached_path, fetch, import_file, is_cached, lookup, resolve
from .registry import WEIGHTS, PretrainedWeights, default_name

__all__ = [
    'WEIGHTS',
    'PretrainedWeights',
    'WeightsError',
    'cache_dir',
    'cached_path',
    'default_name',
    'fetch',
    'import_file',
    'is_cached',
    'lookup',
    'resolve',
]
