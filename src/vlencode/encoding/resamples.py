"""The bootstrap resamples every model of a subject shares: drawn once per subject and alignment."""

from __future__ import annotations

from collections.abc import Sequence

from vlencode import bootstrap
from vlencode.encoding.inputs import PathLike, epoch_event_keys
from vlencode.stores.resamples import SubjectResamples, events_sha256


def subject_resamples(
    *,
    subject: str,
    trials: Sequence[str],
    epochs_paths: Sequence[PathLike],
    alignments: Sequence[str],
    n_resamples: int,
    seed: int,
) -> SubjectResamples:
    """Draw the resamples every model of ``subject`` shares, one stream per alignment seeded by (seed, subject,
    alignment)."""
    indices, hashes = {}, {}
    for alignment in alignments:
        keys = epoch_event_keys(epochs_paths, trials, alignment)
        if len(keys) == 0:
            raise ValueError(f"sub-{subject}: no epoched {alignment} events; drop {alignment} from encoding.alignments")
        indices[alignment] = bootstrap.draw_resamples(
            len(keys), n_resamples, bootstrap.resample_seed(seed, subject, alignment)
        )
        hashes[alignment] = events_sha256(keys)
    return SubjectResamples(str(subject), int(seed), indices, hashes)
