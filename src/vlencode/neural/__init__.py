"""Neural preprocessing: quality checks, re-referencing, zero-phase filtering, resampling, streamed into Zarr.

Submodules: :mod:`~vlencode.neural.montage` (re-referencing), :mod:`~vlencode.neural.filters` (MNE FIR designs and
their block-wise application), :mod:`~vlencode.neural.quality` (channel checks, NaN filling, running statistics) and
:mod:`~vlencode.neural.stream` (the streaming driver).
"""

from vlencode.neural.montage import Montage, montage
from vlencode.neural.stream import PreprocessConfig, make_plan, preprocess_recording, write_neural_store

__all__ = [
    "Montage",
    "PreprocessConfig",
    "make_plan",
    "montage",
    "preprocess_recording",
    "write_neural_store",
]
