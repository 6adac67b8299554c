"""Pretrained weights by name (``alkdnet-x4``): the registry and the verified download cache."""

from alkdsr.zoo.cache import (
    cache_dir,
    cache_state,
    cached_path,
    fetch,
    import_file,
    import_files,
    is_cached,
    lookup,
    registered_scale,
    resolve,
)
from alkdsr.zoo.registry import WEIGHTS, PretrainedWeights, default_name

__all__ = [
    'WEIGHTS',
    'PretrainedWeights',
    'cache_dir',
    'cache_state',
    'cached_path',
    'default_name',
    'fetch',
    'import_file',
    'import_files',
    'is_cached',
    'lookup',
    'registered_scale',
    'resolve',
]
