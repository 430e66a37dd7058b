"""Where the ridge engine computes and how many targets it processes at once.

The engine keeps the design, its per-fold decompositions and one batch of targets on the device.  The decompositions,
and the float64 work of the folds decomposed side by side, are a fixed cost (:func:`fixed_bytes`, per fold form:
a primal fold's bases grow with the features squared, a dual fold's with its training rows squared); every target of a
batch adds a column to the target matrices, the projected targets and the predictions.  :func:`plan_targets_batch`
turns a memory budget into the largest batch that fits.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import numpy  # noqa: F401  (loads NumPy's BLAS before the thread-pool controller looks for it)
import psutil
import scipy.linalg  # noqa: F401  (and SciPy's own)
import torch
from threadpoolctl import ThreadpoolController

Item = TypeVar("Item")
Result = TypeVar("Result")

#: Share of the memory reported free that the planner takes when no budget is given: the rest is left to allocator
#: fragmentation, other processes and the caller's own arrays (the result lives in host memory outside the budget).
AVAILABLE_SHARE = 0.5


def available_memory_bytes(device: torch.device) -> int:
    """Memory free for this process on ``device``.

    On CUDA ``torch.cuda.mem_get_info``.  On the CPU the least of: ``MemAvailable`` of /proc/meminfo (the machine's);
    the room left under this process's memory cgroup and each cgroup above it (:func:`cgroup_room`: a SLURM job, a
    container), which /proc/meminfo does not see, so that a job given 64 GB on a node with 512 GB free does not plan
    for 256; and, under SLURM, the job's memory request less this process's resident memory (for sites that
    enforce the request by polling rather than by cgroup; :func:`slurm_memory_mb`).

    Parameters
    ----------
    device : torch.device

    Returns
    -------
    int
        Free bytes.

    Raises
    ------
    ValueError
        On a CPU without /proc/meminfo's ``MemAvailable``.
    """
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free)
    meminfo = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines() if ":" in line)
    if "MemAvailable" not in meminfo:
        raise ValueError("/proc/meminfo has no MemAvailable line; pass memory_gb or targets_batch to the ridge engine")
    bounds = [int(meminfo["MemAvailable"].split()[0]) * 1024]
    room = cgroup_room()
    if room is not None:
        bounds.append(room)
    slurm_mb = slurm_memory_mb()
    if slurm_mb:
        bounds.append(max(0, slurm_mb * 2**20 - psutil.Process().memory_info().rss))
    return min(bounds)


def slurm_memory_mb() -> int:
    """The SLURM job's memory request on this node in MB (``--mem``: ``SLURM_MEM_PER_NODE``; ``--mem-per-cpu``:
    ``SLURM_MEM_PER_CPU`` times ``SLURM_CPUS_ON_NODE``); 0 outside SLURM or for ``--mem=0`` (the whole node)."""
    per_node = os.environ.get("SLURM_MEM_PER_NODE", "")
    if per_node.isdigit():
        return int(per_node)
    per_cpu, cpus = os.environ.get("SLURM_MEM_PER_CPU", ""), os.environ.get("SLURM_CPUS_ON_NODE", "")
    return int(per_cpu) * int(cpus) if per_cpu.isdigit() and cpus.isdigit() else 0


def cgroup_room(proc_cgroup: Path = Path("/proc/self/cgroup"), root: Path = Path("/sys/fs/cgroup")) -> int | None:
    """Bytes this process's memory cgroups still allow: over its cgroup and every one above it, the least of the limit
    less the usage (page cache that can be dropped, ``inactive_file``, counted as free).

    Reads cgroup v2 (``memory.max``, ``memory.current``, ``memory.stat``) or, where ``proc_cgroup`` names a v1
    ``memory`` controller, v1 (``memory.limit_in_bytes``, ``memory.usage_in_bytes``, ``total_inactive_file``).

    Returns
    -------
    int or None
        None where no cgroup sets a limit (or none can be read).
    """
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        return None
    entries = [line.split(":", 2) for line in lines if line.count(":") >= 2]
    v1 = [path for _, controllers, path in entries if "memory" in controllers.split(",")]
    if v1:
        base, files = root / "memory", ("memory.limit_in_bytes", "memory.usage_in_bytes", "total_inactive_file")
        path = v1[0]
    else:
        v2 = [path for hierarchy, controllers, path in entries if hierarchy == "0" and controllers == ""]
        if not v2:
            return None
        base, files, path = root, ("memory.max", "memory.current", "inactive_file"), v2[0]
    rooms = []
    parts = [part for part in path.strip("/").split("/") if part]
    for depth in range(len(parts), -1, -1):
        folder = base.joinpath(*parts[:depth])
        try:
            limit = (folder / files[0]).read_text().strip()
            usage = int((folder / files[1]).read_text().strip())
        except (OSError, ValueError):
            continue
        if not limit.isdigit() or int(limit) >= 2**62:  # v2's "max" or v1's page-rounded 2**63: no limit here
            continue
        stat = {}
        with contextlib.suppress(OSError):
            stat = dict(line.split(" ", 1) for line in (folder / "memory.stat").read_text().splitlines() if " " in line)
        reclaimable = int(stat.get(files[2], "0").strip() or 0)
        rooms.append(max(0, int(limit) - usage + reclaimable))
    return min(rooms) if rooms else None


def fold_bytes(
    n_train: int, n_held: int, n_features: int, primal: bool, downdated: bool, itemsize: int
) -> tuple[int, int]:
    """Bytes of one fold (or, with ``n_held`` 0, of the refit's decomposition of all rows): kept, and while decomposed.

    Parameters
    ----------
    n_train, n_held, n_features : int
        Training rows, held-out rows (validation + test) and features.
    primal : bool
        Whether the fold decomposes ``X'X`` (rank ``n_features``) rather than ``XX'`` (rank ``n_train``).
    downdated : bool
        Whether the fold is downdated from the Gram matrices over all rows (primal, no training basis).
    itemsize : int
        Bytes per element of the compute dtype.

    Returns
    -------
    kept, transient : int
        ``kept``: what a prepared fold holds until the end (primal: the feature basis, the training basis with its
        column of ones, or the downdated projection basis, and the held-out projections; dual: the training basis
        with its column of ones and the held-out projections; the refit keeps its bases and the dual's float64
        scaled rows and eigenvectors).  ``transient``: the float64 work of its decomposition (scaled training rows,
        Gram matrix or kernel, its eigenvectors and LAPACK's divide-and-conquer workspace of about two more) and the
        dual's float64 held-out rows and cross-kernel.
    """
    if primal:
        kept = (n_features + (n_features if downdated else n_train) + n_held) * n_features * itemsize
        transient = ((0 if downdated else n_train * n_features) + 4 * n_features**2) * 8
        return kept, transient
    kept = (n_train + n_held) * n_train * itemsize
    if n_held == 0:
        kept += n_train * (n_features + n_train) * 8
    transient = (n_train * n_features + 4 * n_train**2 + n_held * (n_train + n_features)) * 8
    return kept, transient


def fixed_bytes(
    n_samples: int,
    n_features: int,
    fold_shapes: list[tuple[int, int, bool, bool]],
    itemsize: int,
    concurrent: int,
    centred: bool,
) -> int:
    """Bytes the engine holds whatever the batch: the design, every fold's decomposition, and the work of the folds
    decomposed side by side.

    Parameters
    ----------
    n_samples, n_features : int
        Shape of the design.
    fold_shapes : list of (n_train, n_held, primal, downdated)
        Per fold (and, with ``n_held`` 0, the refit's decomposition of all rows): training rows, held-out rows
        (validation + test), its form and whether it is downdated (:func:`fold_bytes`).
    itemsize : int
        Bytes per element of the compute dtype.
    concurrent : int
        Folds decomposed at once (:func:`map_single_threaded`): the largest transients of that many are counted.
    centred : bool
        Whether a fold may be downdated, for this design or a banded candidate's columns: the design centred over
        all rows and the held-out Gram matrices are then counted.  A downdated fold is primal, so its Gram matrices
        have at most as many columns as it has training rows.

    Returns
    -------
    int
    """
    design = n_samples * n_features * itemsize
    sizes = [
        fold_bytes(n_train, n_held, n_features, primal, down, itemsize) for n_train, n_held, primal, down in fold_shapes
    ]
    if centred:
        # The design centred over all rows in float64 and in the compute dtype, and the float64 Gram matrices of
        # every fold's held-out rows, of the rows never held out, and their total.
        gram_columns = min(n_features, max(n_train for n_train, *_ in fold_shapes))
        held_blocks = sum(n_held > 0 for _, n_held, _, _ in fold_shapes)
        design += n_samples * n_features * (8 + itemsize) + (held_blocks + 2) * gram_columns**2 * 8
    transients = sorted((transient for _, transient in sizes), reverse=True)[: max(1, concurrent)]
    return design + sum(kept for kept, _ in sizes) + sum(transients)


def concurrent_items(n_items: int, device: torch.device) -> int:
    """How many items :func:`map_single_threaded` runs at once: one per torch thread on the CPU, one on CUDA."""
    return min(torch.get_num_threads(), n_items) if device.type == "cpu" else 1


def bytes_per_target(n_samples: int, n_held: int, rank: int, n_alphas: int, itemsize: int, cross_rows: int = 0) -> int:
    """Bytes one more target adds to a batch.

    Counts the target column on the device and its centred copy (plus a contiguous host copy when the batch is a
    strided slice of a float32 array), per fold the projected targets and their products with the validation
    projection, the chosen-alpha weights, the prediction buffers and centred copies of the held-out targets, the
    per-alpha scores, and the held-out cross-products of downdated folds.

    Parameters
    ----------
    n_samples, n_held, rank, n_alphas : int
        Events, the largest held-out set of a fold, the largest decomposition rank and the number of alphas.
    itemsize : int
        Bytes per element of the compute dtype.
    cross_rows : int
        Rows of held-out cross-products kept per target: ``(n_folds + 1) * n_features`` when folds are downdated
        (one per fold, overwritten by its training part, and their total), else 0.

    Returns
    -------
    int
    """
    return (2 * n_samples + 5 * n_held + 7 * rank + 3 * n_alphas + cross_rows) * itemsize + n_samples * 4


def plan_targets_batch(
    n_targets: int, per_target: int, fixed: int, budget_bytes: int | None, device: torch.device
) -> int:
    """The largest number of targets per batch whose working memory fits the budget.

    Parameters
    ----------
    n_targets : int
        Targets in the problem (the batch never exceeds it).
    per_target : int
        Bytes per target, from :func:`bytes_per_target`.
    fixed : int
        Bytes held whatever the batch, from :func:`fixed_bytes`.
    budget_bytes : int or None
        Memory the engine may use; None takes :data:`AVAILABLE_SHARE` of :func:`available_memory_bytes`.
    device : torch.device
        Where the engine computes (for the default budget).

    Returns
    -------
    int
        Targets per batch, between 1 and ``n_targets``.
    """
    if budget_bytes is None:
        budget_bytes = int(available_memory_bytes(device) * AVAILABLE_SHARE)
    room = budget_bytes - fixed
    if room < per_target:
        raise ValueError(
            f"ridge needs {(fixed + per_target) / 2**30:.3g} GiB for the design, its decompositions and one target "
            f"but the budget is {budget_bytes / 2**30:.3g} GiB (memory_gb, or under auto half of what this process "
            f"may use on {device}: the least of the memory free, its cgroup's room and its SLURM request); give the "
            "job more memory, or a memory_gb it can hold"
        )
    return max(1, min(n_targets, room // per_target))


@contextlib.contextmanager
def torch_threads(n_threads: int | None) -> Iterator[None]:
    """Run the block with ``n_threads`` intra-op torch threads (None: leave torch's setting), restoring it after."""
    if n_threads is None:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(n_threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@contextlib.contextmanager
def blas_threads(n_threads: int) -> Iterator[None]:
    """Run the block with NumPy's and SciPy's BLAS (OpenBLAS) on ``n_threads`` threads, restoring them after.

    The engine's CPU Gram matrices and eigendecompositions go through NumPy (:mod:`vlencode.ridge.decomposition`),
    whose BLAS keeps its own thread pool beside torch's: without a limit it takes every core of the machine, whatever
    the job was given.  Uses ``threadpoolctl`` (the limit is process-wide: callers running side by side set the same
    one, as :func:`map_single_threaded` does).
    """
    with _thread_pools().limit(limits=n_threads, user_api="blas"):
        yield


@functools.cache
def _thread_pools() -> ThreadpoolController:
    """The process's thread pools, found once (finding them reads every loaded library: about 1 ms a call)."""
    return ThreadpoolController()


def map_single_threaded(
    function: Callable[[Item], Result], items: Sequence[Item], device: torch.device, workers: int | None = None
) -> list[Result]:
    """``[function(item) for item in items]``, on the CPU with several items at once, each on one torch thread.

    The per-fold work of the engine (float64 Gram matrices of a few hundred features, their eigendecomposition, the
    held-out projections) is dominated by LAPACK calls that gain little from threads.  Running folds side by side on
    one thread each keeps every core busy: six eigendecompositions of 768 x 768 took 0.33 s on 2 cores this way,
    against 0.68 s one after another on one thread and 0.38 s one after another on two.  Side-by-side single-threaded
    calls also never spin-wait on each other when other processes share the cores.  As many items run at once as torch
    has intra-op threads (at most ``workers``); on CUDA, or with one thread, the items run in order.  NumPy's BLAS
    runs on one thread per item too (:func:`blas_threads`).

    Parameters
    ----------
    function : callable
        Applied to each item; it must not depend on the order the items run in.
    items : sequence
        The work items (e.g. fold indices).
    device : torch.device
        Where the work computes.
    workers : int or None
        At most this many items at once (the memory plan's limit, see :func:`fixed_bytes`); None for
        :func:`concurrent_items`.

    Returns
    -------
    list
        The results in the order of ``items``.
    """
    most = concurrent_items(len(items), device)
    workers = most if workers is None else min(workers, most)
    if workers <= 1:
        return [function(item) for item in items]
    with torch_threads(1), blas_threads(1), ThreadPoolExecutor(workers) as pool:
        return list(pool.map(function, items))
