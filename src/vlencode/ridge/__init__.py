"""The ridge engine: cross-validated multi-target ridge regression with intercept, on CPU or CUDA (torch).

Plain functions on arrays (no Snakemake, no files).  One eigendecomposition per fold (of ``X'X``, or of ``XX'`` when a
fold has fewer training samples than features), every alpha evaluated at once, targets processed in batches whose size
a planner derives from the available memory.  The score is Pearson r per target.

Public API
----------
cross_validated_ridge
    Per fold and target: the alpha with the best validation r, the validation and test r at that alpha and the
    out-of-fold predictions.
banded_ridge_cv
    The same with one regularisation per feature space (random search over the simplex of space weights).
ridge_coefficients
    Coefficients and intercept of one ridge fit, for reference checks and refits.
shared_kernel_validation_r, shared_kernel_pays, scaling_agrees
    Every fold's validation r from one eigendecomposition of the kernel over all rows (the screening proxy of wide
    layers), whether that is faster than the engine's decomposition per fold, and whether its standardisation over
    all rows stands in for each fold's.
plan_targets_batch, available_memory_bytes, concurrent_items
    The memory planner behind ``targets_batch=None``, and how many folds are decomposed side by side.
riders_pay
    Whether more targets are cheaper fitted beside each of several fits than in one fit of their own.
"""

from vlencode.ridge.banded import band_weight_candidates, banded_ridge_cv
from vlencode.ridge.coefficients import ridge_coefficients
from vlencode.ridge.cost import riders_pay
from vlencode.ridge.cv import RidgeCVResult, cross_validated_ridge
from vlencode.ridge.memory import available_memory_bytes, concurrent_items, plan_targets_batch
from vlencode.ridge.shared_kernel import scaling_agrees, shared_kernel_pays, shared_kernel_validation_r

__all__ = [
    "RidgeCVResult",
    "available_memory_bytes",
    "band_weight_candidates",
    "banded_ridge_cv",
    "concurrent_items",
    "cross_validated_ridge",
    "plan_targets_batch",
    "ridge_coefficients",
    "riders_pay",
    "scaling_agrees",
    "shared_kernel_pays",
    "shared_kernel_validation_r",
]
