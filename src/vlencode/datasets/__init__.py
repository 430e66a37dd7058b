"""Dataset readers behind one interface (:mod:`vlencode.datasets.base`) and the embedded replica generator."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from vlencode.datasets.base import ClockAlignment, Dataset, DatasetError, Recording

__all__ = [
    "ClockAlignment",
    "Dataset",
    "DatasetError",
    "Recording",
    "check_dataset_files",
    "open_dataset",
    "trial_movies",
]


def open_dataset(config: Mapping[str, Any], *, built: bool = True) -> Dataset:
    """The reader named by ``config['dataset']['format']`` over ``config['dataset']['root']``.

    ``built=False`` gives the layout of the embedded replica before its rules have built it (its files' paths).
    """
    dataset = config["dataset"]
    if dataset["format"] == "braintreebank":
        from vlencode.datasets.braintreebank import BrainTreebank

        return BrainTreebank(dataset["root"], must_exist=built)
    if dataset["format"] == "bids":
        from vlencode.datasets.bids import BidsIeeg

        return BidsIeeg(dataset["root"], task=dataset.get("bids_task"))
    raise DatasetError(f"dataset.format: unknown format {dataset['format']!r}; use braintreebank or bids")


def trial_movies(config: Mapping[str, Any], source: str = "config") -> dict[tuple[str, str], str]:
    """The movie each configured (subject, trial) watched, known before any data is built (``config`` canonical).

    For the replica this comes from the real trial-to-movie map shipped in the neuroprobe wheel, so the workflow's
    DAG can be planned before the replica rules have run; otherwise the dataset's own metadata is read.

    Raises
    ------
    DatasetError
        A recording whose movie cannot be read, named by its ``dataset.recordings`` entry and ``source`` (the config
        files): most often a subject or trial the dataset does not have.
    """
    recordings = [(r["subject"], r["trial"]) for r in config["dataset"]["recordings"]]
    if config["replica"]["enabled"]:
        from vlencode.datasets.replica import replica_movies

        try:
            return replica_movies(recordings)
        except DatasetError as error:  # it names the entry and the trials a replica can have
            raise DatasetError(f"{source}: {error}") from None
    dataset = open_dataset(config)
    movies = {}
    for index, (subject, trial) in enumerate(recordings):
        try:
            movies[subject, trial] = dataset.movie(subject, trial)
        except DatasetError as error:
            raise DatasetError(
                f"{source}: dataset.recordings[{index}] (subject {subject}, trial {trial}): {error}"
            ) from None
    return movies


def check_dataset_files(dataset: Dataset, movie_of: Mapping[tuple[str, str], str]) -> None:
    """Refuse a dataset missing a file the workflow's rules read: every configured recording's files, its events'
    files and its movie.

    Snakemake does not rerun, nor stop at, a job whose input file is missing while its outputs exist: it would reuse
    outputs built from another file, for instance after ``dataset.root`` moved to a copy that lacks it.

    Parameters
    ----------
    dataset : Dataset
    movie_of : mapping (subject, trial) -> movie
        The configured recordings (:func:`trial_movies`).

    Raises
    ------
    DatasetError
        Naming the first missing file and how many are missing.
    """
    needed: dict[Path, None] = {}
    for (subject, trial), movie in movie_of.items():
        for path in dataset.recording_files(subject, trial) + dataset.event_files(subject, trial, movie):
            needed[Path(path)] = None
        needed[Path(dataset.movie_path(movie))] = None
    missing = [path for path in needed if not path.exists()]
    if missing:
        more = f" (and {len(missing) - 1} more files of dataset.root)" if len(missing) > 1 else ""
        raise DatasetError(
            f"{missing[0]}: missing{more}; the workflow reads it, and would otherwise keep results built from an "
            "earlier copy: restore it, or remove its recording from dataset.recordings"
        )
