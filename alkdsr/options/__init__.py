"""The option files of ``alkdsr/train.py`` and ``alkdsr/test.py``: the whole tree declared once
(``schema.py``, pydantic models: keys, types, ranges, registry names), and the checks a declaration
cannot make (``checks.py``: a built network, a checkpoint on disk, dataset folders, named weights)."""
