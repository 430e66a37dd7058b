"""The encoding protocol for one subject and model, and its bootstrap (docs/method.md §7 and §8).

Targets are every (electrode, time bin) of a subject's epoched responses; the design matrix is one layer of a
model's features for the stimulus each event showed.  All trials of the subject are pooled in config order, events in
the epochs store's order, and cut into contiguous folds that never straddle a trial boundary
(:mod:`vlencode.encoding.folds`).  Each fold's held-out block is split in half: the first half validates (chooses the
alpha of every target), the second half tests.  The ridge engine (:mod:`vlencode.ridge`) standardises X with
training-fold statistics.  One layer per (subject, model, alignment) is chosen by mean validation r over all targets,
or the last layer; screening ranks the layers on a cheap proxy first and fits all targets only for the leading ones
(:mod:`vlencode.encoding.screening`).  The concatenation baseline (a features store with a ``bands`` attribute) is
fitted twice: plain ridge on the concatenation (layer ``concat``) and banded ridge with one alpha per feature space
(layer ``concat-banded``).

Reported per layer and target: ``val_r`` and ``test_r`` averaged over folds (each fold at its own best alpha) and
``alpha``, the per-target median over folds of the chosen alpha (taken on log10 alpha, so with an odd number of folds
it is one of the grid values).

Degenerate input, documented rather than fatal: a feature constant over a training fold gets unit scale, so it is a
column of zeros that the ridge ignores; a target constant over a fold's validation or test events scores r = 0, in the
fit and in every bootstrap resample.  NaNs in features or responses, too few events for the folds, stimuli missing
from a features store and resamples drawn for other events are one-line errors naming the file and the fix.

Modules: :mod:`~vlencode.encoding.folds` (folds and layer choice), :mod:`~vlencode.encoding.screening` (the
layer screening's proxy), :mod:`~vlencode.encoding.inputs` (responses, features, design matrix),
:mod:`~vlencode.encoding.fitting` (ridge settings, the layer search, and the bootstrap by the protocols of
:mod:`vlencode.bootstrap`), :mod:`~vlencode.encoding.resamples` (the shared resamples) and
:mod:`~vlencode.encoding.scores` (the scores table).  The layouts of the stores read and written here are owned by
:mod:`vlencode.stores`.
"""

from vlencode.encoding.fitting import (
    LayerSearch,
    RidgeSettings,
    bootstrap_layer,
    fit_alignment,
    fit_subject_model,
    memory_budget_gb,
    null_inflation,
    null_targets,
    search_layers,
    summarize_folds,
    widens,
)
from vlencode.encoding.folds import Split, contiguous_splits, select_layer
from vlencode.encoding.inputs import (
    BANDED_LAYER,
    CONCAT_LAYER,
    Design,
    Features,
    Responses,
    design_matrix,
    epoch_event_keys,
    load_responses,
    open_features,
)
from vlencode.encoding.resamples import subject_resamples
from vlencode.encoding.scores import SCORE_COLUMNS, scores_table
from vlencode.encoding.screening import Screening
from vlencode.stores.fit import AlignmentFit, FitStore, LayerFit, SubjectModelFit
from vlencode.stores.resamples import SubjectResamples

__all__ = [
    "BANDED_LAYER",
    "CONCAT_LAYER",
    "SCORE_COLUMNS",
    "AlignmentFit",
    "Design",
    "Features",
    "FitStore",
    "LayerFit",
    "LayerSearch",
    "Responses",
    "RidgeSettings",
    "Screening",
    "Split",
    "SubjectModelFit",
    "SubjectResamples",
    "bootstrap_layer",
    "contiguous_splits",
    "design_matrix",
    "epoch_event_keys",
    "fit_alignment",
    "fit_subject_model",
    "load_responses",
    "memory_budget_gb",
    "null_inflation",
    "null_targets",
    "open_features",
    "scores_table",
    "search_layers",
    "select_layer",
    "subject_resamples",
    "summarize_folds",
    "widens",
]
