"""Layerwise activations of a model instance for a movie's stimuli: the activation cache.

Each unique frame and each unique text is fed once to the streams that read it (:mod:`vlencode.models.networks`),
in batches under ``torch.inference_mode``; layers are pooled per the registry, reduced with a seeded sparse random
projection when their dimension exceeds the Johnson-Lindenstrauss bound, and gathered back to one row per stimulus.
A layer that comes out the same for every stimulus carries nothing an encoding model could use: it is dropped, logged
with its reason and listed in the store's ``dropped_layers``.

The store's ``cache_key`` hashes everything the activations depend on: the weights, the init seed, the input
preprocessing (image size, normalisation, tokenizer files, max tokens), the stimuli's content (frames by the hashes the
stimuli table records), the layers, the pooling and the projection.  Every part of it reaches the features rule
either as params (the instance dict and the projection config) or as input content (the stimuli table and frames), so
Snakemake reruns exactly when it changes.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import logging
import warnings
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse
import torch
from sklearn.exceptions import DataDimensionalityWarning
from sklearn.random_projection import SparseRandomProjection, johnson_lindenstrauss_min_dim
from tqdm import tqdm

from vlencode.device import resolve_device
from vlencode.models.inputs import ImageInputs, tokenize
from vlencode.models.networks import STREAMS, Network, load_network
from vlencode.models.registry import ModelInstance, RegistryError
from vlencode.stores.features import read_features

log = logging.getLogger("vlencode.features")

#: Columns of the stimuli table the extractor reads.
STIMULUS_COLUMNS = ("stimulus_id", "frame_index", "frame_sha256", "text")
#: Instance keys that name or classify a model without changing its activations, left out of the cache key.
_PRESENTATION_KEYS = ("name", "base", "family", "pair")
#: A layer is constant when no row departs from the first by more than this fraction of the layer's largest absolute
#: value: float rounding of one input computed in different batches stays orders of magnitude below it.
CONSTANT_RTOL = 1e-5


def select_layers(available: Sequence[str], requested: str | Sequence[str], model: str) -> list[str]:
    """The registry's ``layers`` resolved against a network's layers, in the network's order.

    ``all``, ``last``, or a list of names and shell-style patterns (``vision.*``: one tower's layers).

    Raises
    ------
    RegistryError
        A name or pattern that matches no layer (the message lists the network's layers).
    """
    if requested == "all":
        return list(available)
    if requested == "last":
        return [available[-1]]
    unknown = [name for name in requested if not fnmatch.filter(available, name)]
    if unknown:
        raise RegistryError(
            f"{model}: key 'layers' of its registry entry (models.registry) names {', '.join(unknown)}, no layer of "
            f"this network; it has {', '.join(available)}"
        )
    return [name for name in available if any(fnmatch.fnmatchcase(name, pattern) for pattern in requested)]


def projection_dim(n_samples: int, eps: float) -> int:
    """The Johnson-Lindenstrauss dimension that keeps pairwise distances of ``n_samples`` points within ``eps``.

    Raises
    ------
    ValueError
        Fewer than two samples: there is no distance to keep (scikit-learn's bound is 0).
    """
    if n_samples < 2:
        raise ValueError(f"a random projection needs at least 2 samples, got {n_samples}")
    return int(johnson_lindenstrauss_min_dim(n_samples, eps=eps))


def make_projection(
    n_features: int, n_samples: int, eps: float, seed: int, *, upsample: bool = False
) -> SparseRandomProjection | None:
    """A fitted sparse random projection to the JL dimension, or ``None`` when ``n_features`` is already below it.

    Only the feature count matters for fitting, so batches can be projected as they are computed.  ``upsample``
    projects a narrower layer up to the JL dimension too, in float64, as the study's code does
    (``get_feature_map_srps(upsampling=True)``, whose input scikit-learn converts to float64).
    """
    n_components = projection_dim(n_samples, eps)
    if n_features <= n_components and not upsample:
        return None
    projection = SparseRandomProjection(n_components=n_components, dense_output=True, random_state=seed)
    with warnings.catch_warnings():  # projecting up is the study's choice, not an accident to warn about
        warnings.simplefilter("ignore", DataDimensionalityWarning)
        return projection.fit(np.zeros((1, n_features), dtype=np.float64 if upsample else np.float32))


@dataclass(frozen=True)
class DeviceProjection:
    """A fitted sparse random projection whose matrix sits on the network's device.

    :meth:`project` is scikit-learn's ``transform`` (``X @ components_.T``, in the components' dtype) as one sparse
    product there, which gives scikit-learn's bytes on the CPU.  SciPy's sparse product runs on one core; torch's
    uses the process's threads, and on a GPU a layer no longer crosses to the host at its flattened width (a ViT-B/16
    block is 151,296 columns) to be projected there.  Measured on this project's 2-core machine, the study extraction
    of a ViT-B/16's 13 blocks (151,296 -> 8,168 columns, float64 as the study's code), per batch of 32: 2.0 s before
    and 1.1 s with two threads (2.1 s on one, as before).
    """

    matrix: torch.Tensor

    @classmethod
    def of(cls, projection: SparseRandomProjection, device: torch.device) -> DeviceProjection:
        """``projection``'s ``components_`` (``[n_components, n_features]``) as a sparse CSR tensor on ``device``."""
        # Dense where scikit-learn's density is 1 (a layer of one column); its CSR rows keep their columns unsorted.
        components = scipy.sparse.csr_matrix(projection.components_)
        if device.type != "cpu":
            # cuSPARSE expects sorted columns; on the CPU the drawn order sums as scikit-learn does (the same bytes).
            components = components.sorted_indices()
        with warnings.catch_warnings():  # torch calls its sparse CSR support beta; the product used here is tested
            warnings.simplefilter("ignore", UserWarning)
            matrix = torch.sparse_csr_tensor(
                torch.from_numpy(components.indptr.astype(np.int64)),
                torch.from_numpy(components.indices.astype(np.int64)),
                torch.from_numpy(components.data),
                size=components.shape,
                check_invariants=False,  # unsorted columns on the CPU, which torch's check refuses
            )
        return cls(matrix.to(device))

    @property
    def n_components(self) -> int:
        return int(self.matrix.shape[0])

    def project(self, values: torch.Tensor) -> np.ndarray:
        """``[batch, n_features]`` -> ``[batch, n_components]`` on the host, in the components' dtype."""
        return (self.matrix @ values.to(self.matrix.dtype).T).T.cpu().numpy()


def half_rounded(values: torch.Tensor, layer: str) -> torch.Tensor:
    """``values`` rounded to float16 and back, as the study's code stores every layer before projecting it
    (``get_all_feature_maps(numpy=True)`` casts to ``np.float16``).

    Raises
    ------
    ValueError
        A value beyond float16's range (65504), which the study's code would have stored as infinite.
    """
    largest = float(values.abs().max()) if values.numel() else 0.0
    if not np.isfinite(largest) or largest > float(np.finfo(np.float16).max):
        raise ValueError(
            f"layer {layer}: a value of {largest:.3g} exceeds float16's range, in which the study's "
            "extraction stores layers; use features.extraction: pooled for this network"
        )
    return values.half().float()


def cache_key(model: Mapping[str, Any], stimuli_sha256: str, projection: Mapping[str, Any], weights_sha256: str) -> str:
    """The content key of a features store.

    Parameters
    ----------
    model
        ``ModelInstance.as_dict()``: entry (source, preprocessing, layers, pooling), init, seed, file fingerprints.
    stimuli_sha256
        Content hash of what the model read: stimulus ids, and its frames' hashes and/or its texts
        (:func:`stimuli_digest`).
    projection
        ``{"eps": ..., "seed": ...}`` of the sparse random projection.
    weights_sha256
        Hash of the weights actually loaded or drawn (:func:`state_sha256`).
    """
    content = {key: value for key, value in model.items() if key not in _PRESENTATION_KEYS}
    content["entry"] = {k: v for k, v in model["entry"].items() if k not in _PRESENTATION_KEYS}
    payload = {"model": content, "stimuli": stimuli_sha256, "projection": dict(projection), "weights": weights_sha256}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def state_sha256(module: torch.nn.Module) -> str:
    """SHA-256 over the names and bytes of a module's parameters and buffers, in state-dict order."""
    digest = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def _check_table(table: pd.DataFrame) -> None:
    missing = [c for c in STIMULUS_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"stimuli table lacks columns {', '.join(missing)}; rebuild it with rule stimuli")
    if len(table) == 0:
        raise ValueError("stimuli table is empty (no valid event of this movie); check the events and the recordings")
    if len(table) == 1:
        raise ValueError(
            f"movie {_movie(table)} has a single stimulus: features cannot vary over one stimulus, so no "
            "encoding model can be fitted; check its events, or leave out the recordings that show it"
        )
    if table["stimulus_id"].duplicated().any():
        raise ValueError("stimuli table repeats stimulus ids; rebuild it with rule stimuli")


def _movie(table: pd.DataFrame) -> str:
    """The movie a stimuli table belongs to, for messages."""
    movies = table["movie"].dropna().unique() if "movie" in table.columns else []
    return ", ".join(map(str, movies)) if len(movies) else "(unnamed)"


def constant_layers(layers: Mapping[str, np.ndarray], rtol: float = CONSTANT_RTOL) -> dict[str, str]:
    """The layers whose rows are all equal, beyond float rounding, with the reason each is dropped.

    Parameters
    ----------
    layers
        ``{layer: [n_stimuli, dim]}``, ``n_stimuli`` >= 2.
    rtol
        A layer is constant when no row departs from the first by more than ``rtol`` times the layer's largest
        absolute value.

    Returns
    -------
    dict
        ``{layer: reason}`` in the order of ``layers``.
    """
    dropped = {}
    for name, values in layers.items():
        scale = float(np.abs(values).max())
        spread = float(np.abs(values - values[:1]).max())
        if spread <= rtol * scale:
            dropped[name] = (
                f"the same for all {len(values)} stimuli (largest departure {spread:.1e}, largest value {scale:.1e})"
            )
    return dropped


def stimuli_digest(stimuli_table: pd.DataFrame, frames: bool, texts: bool) -> str:
    """SHA-256 of the stimuli a network reads: the ids, and each row's frame hash and text if it reads them.

    The frames enter by the digests the stimuli stage recorded (``frame_sha256``), so no model hashes pixels.
    """
    columns = ["stimulus_id"] + ["frame_sha256"] * frames + ["text"] * texts
    rows = stimuli_table[columns].fillna("").astype(str).to_numpy().tolist()
    return hashlib.sha256(json.dumps({"columns": columns, "rows": rows}).encode()).hexdigest()


def _read_frames(frames: Any, indices: np.ndarray) -> np.ndarray:
    """Rows ``indices`` of a numpy or zarr frames array; each distinct row read once, a range in one slice."""
    unique, inverse = np.unique(indices, return_inverse=True)
    if unique[-1] - unique[0] + 1 == len(unique):
        block = np.asarray(frames[int(unique[0]) : int(unique[-1]) + 1])
    elif hasattr(frames, "oindex"):
        block = np.asarray(frames.oindex[unique])
    else:
        block = np.asarray(frames[unique])
    return block[inverse]


def _joint(image: np.ndarray, text: np.ndarray) -> np.ndarray:
    """Two embeddings of the same stimuli, each scaled to unit norm, side by side."""

    def unit(x: np.ndarray) -> np.ndarray:
        return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)

    return np.concatenate([unit(image), unit(text)], axis=1)


class _LayerSink:
    """Collects pooled layers batch by batch.

    A layer within the JL dimension stays on the network's device and is copied to the host once, at the end (a copy
    per layer and batch would stall a GPU); a wider layer is projected batch by batch on the device
    (:class:`DeviceProjection`) and only its projection copied to the host, so a flattened layer is never held whole.
    Under the study's extraction every layer is rounded to float16 and every flattened one (not in ``vectors``) is
    projected, narrow ones up too.  Layers of one width share one projection: scikit-learn draws the matrix from the
    seed and the widths alone, so it is the one each layer's own fit would draw (as the study's code fitted one per
    layer), drawn once: 5-6 s instead of 55 s for a ViT-B/16's 13 blocks at 13,767 stimuli (151,296 -> 8,168).
    Each stream computes on its unique inputs (frames, texts, pairs); ``rows`` maps a layer back to stimulus rows.
    """

    def __init__(
        self, n_samples: int, projection: Mapping[str, Any], study: bool = False, vectors: frozenset[str] = frozenset()
    ):
        self.n_samples = n_samples
        self.eps, self.seed = float(projection["eps"]), int(projection["seed"])
        self.jl_dim = projection_dim(n_samples, self.eps)
        self.study, self.vectors = study, vectors
        self.parts: dict[str, list[torch.Tensor | np.ndarray]] = {}
        self.row_index: dict[str, np.ndarray] = {}
        self.projections: dict[str, DeviceProjection | None] = {}
        self.by_width: dict[tuple[int, bool], DeviceProjection | None] = {}
        self.dims: dict[str, list[int]] = {}

    def add(self, layers: Sequence[str], outputs: Mapping[str, torch.Tensor], row_index: np.ndarray) -> None:
        for name in layers:
            values = outputs[name].float()
            if self.study:
                values = half_rounded(values, name)
            if name not in self.parts:
                projection = None
                upsample = self.study and name not in self.vectors
                if values.shape[1] > self.jl_dim or upsample:
                    projection = self._projection(values.shape[1], upsample, values.device)
                out_dim = values.shape[1] if projection is None else projection.n_components
                self.projections[name] = projection
                self.dims[name] = [int(values.shape[1]), int(out_dim)]
                self.parts[name] = []
                self.row_index[name] = row_index
            fitted = self.projections[name]
            if fitted is None:
                # A view (a CLS slice) would keep its batch's whole hidden state alive until the end.
                self.parts[name].append(values.clone() if values._base is not None else values)
            else:
                if not bool(torch.isfinite(values).all()):  # a projection would spread them over every column
                    raise ValueError(f"layer {name}: NaN or infinite activations; check the network's weights")
                self.parts[name].append(fitted.project(values))

    def _projection(self, width: int, upsample: bool, device: torch.device) -> DeviceProjection | None:
        """The projection of layers ``width`` wide (shared by every layer of that width)."""
        key = (width, upsample)
        if key not in self.by_width:
            fitted = make_projection(width, self.n_samples, self.eps, self.seed, upsample=upsample)
            self.by_width[key] = None if fitted is None else DeviceProjection.of(fitted, device)
        return self.by_width[key]

    def __contains__(self, name: str) -> bool:
        return name in self.parts

    def rows(self, name: str) -> np.ndarray:
        parts = self.parts[name]
        # A layer's parts are all tensors (kept on the device) or all arrays (projected on the host).
        tensors = [part for part in parts if isinstance(part, torch.Tensor)]
        values = torch.cat(tensors).cpu().numpy() if len(tensors) == len(parts) else np.concatenate(parts)
        return np.ascontiguousarray(values[self.row_index[name]], dtype=np.float32)


def _batches(n: int, batch_size: int, desc: str):
    starts = range(0, n, batch_size)
    return tqdm(starts, total=len(starts), desc=desc, unit="batch", leave=False, dynamic_ncols=True)


@dataclass
class Extraction:
    """What :func:`run_network` computed: the layers, their dimensions before/after projection, counts and the
    content hash of everything the network read."""

    layers: dict[str, np.ndarray]
    dims: dict[str, list[int]]
    counts: dict[str, int]
    stimuli_sha256: str
    dropped: dict[str, str]


def extract_features(
    instance: ModelInstance,
    stimuli_table: pd.DataFrame,
    frames: Any,
    cfg: Mapping[str, Any],
    *,
    device: str | torch.device | None = None,
    batch_size: int = 32,
    locations: Mapping[str, Any] | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Layer activations of one network instance for every row of a movie's stimuli table.

    Parameters
    ----------
    instance
        A network instance (not a concat baseline: see :func:`concat_features`).
    stimuli_table
        Columns ``stimulus_id, frame_index, frame_sha256, text``; one row per unique (frame, text) stimulus.
    frames
        ``[n_frames, H, W, 3]`` uint8, numpy or zarr; row ``frame_index`` is a stimulus's frame.
    cfg
        ``{"features": {"projection": {"eps", "seed"}, "extraction"}, "device": ...}``: the canonical config's
        ``features`` section (the schema's defaults filled in); ``device`` only where the ``device`` argument is None.
    device
        Overrides ``cfg['device']``; ``auto`` is CUDA when present.
    batch_size
        Frames, texts or pairs per forward pass.
    locations
        Where the weights step put the instance's files (``weights``, ``tokenizer``; :func:`vlencode.models.weights.
        read_lock`); without them the registry's sources are read.

    Returns
    -------
    layers, attrs
        ``{layer: [n_stimuli, dim] float32}`` in network depth order, and the store attributes (``model, family,
        init, seed, source, weights_sha256, pooling, extraction, projection, cache_key, layers, dropped_layers`` and
        counts).
        A layer constant over the stimuli is dropped and logged; ``dropped_layers`` maps it to the reason.

    Raises
    ------
    ValueError
        An empty, one-stimulus or malformed stimuli table, unknown layers in the registry entry, or every layer
        constant over the stimuli.
    """
    _check_table(stimuli_table)
    projection = dict(cfg["features"]["projection"])
    extraction = cfg["features"]["extraction"]
    device = resolve_device(device if device is not None else cfg["device"])
    network = load_network(instance.entry, instance.init, instance.seed, device, extraction, locations)
    result = run_network(network, instance.name, stimuli_table, frames, projection, batch_size)
    if result.counts["n_truncated"]:
        log.warning(
            "%s: %d texts longer than %d tokens were cut on the left (each keeps its end, the word it was "
            "made for); %d stimuli share their tokens with a stimulus of another text",
            instance.name,
            result.counts["n_truncated"],
            network.text_length,
            result.counts["n_stimuli_sharing_tokens"],
        )
    for layer, reason in result.dropped.items():
        log.warning("%s: layer %s dropped: %s", instance.name, layer, reason)
    weights = state_sha256(network.module)
    attrs = {
        "model": instance.name,
        "family": instance.family,
        "init": instance.init,
        "seed": instance.seed,
        "source": instance.entry["source"],
        "weights_sha256": weights,
        "pooling": instance.entry["pooling"],
        "extraction": extraction,
        "projection": {**projection, "dims": result.dims},
        "layers": list(result.layers),
        "dropped_layers": result.dropped,
        "stimuli_sha256": result.stimuli_sha256,
        "cache_key": cache_key(
            instance.as_dict(), result.stimuli_sha256, {**projection, "extraction": extraction}, weights
        ),
        **result.counts,
    }
    log.info("%s: %d stimuli, %d layers, device %s", instance.name, len(stimuli_table), len(result.layers), device)
    return result.layers, attrs


def run_network(
    network: Network,
    name: str,
    stimuli_table: pd.DataFrame,
    frames: Any,
    projection: Mapping[str, Any],
    batch_size: int,
) -> Extraction:
    """Feed a loaded network each unique frame, text or pair once and gather its layers back to stimulus rows.

    Parameters
    ----------
    network
        From :func:`vlencode.models.networks.load_network`.
    name
        The instance name, for messages and progress bars.
    stimuli_table, frames, batch_size
        As in :func:`extract_features`.
    projection
        ``{"eps", "seed"}`` of the sparse random projection; its JL dimension is computed for the table's rows.

    Raises
    ------
    ValueError
        Every layer is the same for all stimuli (one line naming the movie).
    """
    entry = network.entry
    wanted = select_layers(network.layers, entry["layers"], name)
    n = len(stimuli_table)
    frame_index = stimuli_table["frame_index"].to_numpy(dtype=np.int64)
    texts = stimuli_table["text"].fillna("").astype(str).tolist()
    reads_image, reads_text = "image" in entry["inputs"], "text" in entry["inputs"]
    if reads_image and (frame_index.min() < 0 or frame_index.max() >= frames.shape[0]):
        raise ValueError(
            f"stimuli table refers to frame {frame_index.max()} but the frames store holds "
            f"{frames.shape[0]}; rebuild both with rule stimuli"
        )
    needed = set(wanted) | {part for layer in wanted for part in network.joint.get(layer, ())}
    streams = {stream: [layer for layer in network.streams.get(stream, []) if layer in needed] for stream in STREAMS}
    digest = stimuli_digest(
        stimuli_table,
        reads_image and bool(streams["image"] or streams["pair"]),
        reads_text and bool(streams["text"] or streams["pair"]),
    )
    sink = _LayerSink(n, projection, study=network.extraction == "study", vectors=frozenset(network.vectors))
    counts = {"n_stimuli": n, "n_truncated": 0, "n_stimuli_sharing_tokens": 0}
    image_inputs = ImageInputs(entry["image_size"], entry["normalize"], network.device) if reads_image else None
    tokens = None
    if reads_text and (streams["text"] or streams["pair"]):
        unique_texts = sorted(set(texts), key=lambda t: (len(t), t))  # similar lengths batch with little padding
        position = {text: i for i, text in enumerate(unique_texts)}
        text_rows = np.array([position[text] for text in texts], dtype=np.int64)
        flatten = any(network.pooling(stream) == "flatten" for stream in ("text", "pair") if streams[stream])
        tokens = tokenize(network.tokenizer, unique_texts, network.text_length, flatten, network.pad_token_id)
        counts["n_truncated"] = tokens.n_truncated
        # Distinct texts that read as one token sequence once truncated: their stimuli get one text feature row.
        sequences = [tuple(ids) for ids in tokens.ids]
        shared = {seq for seq, count in Counter(sequences).items() if count > 1}
        counts["n_stimuli_sharing_tokens"] = int(sum(sequences[i] in shared for i in text_rows))

    with torch.inference_mode():
        if streams["image"] and image_inputs is not None:
            unique_frames, frame_rows = np.unique(frame_index, return_inverse=True)
            counts["n_frames"] = len(unique_frames)
            for start in _batches(len(unique_frames), batch_size, f"{name} frames"):
                batch = _read_frames(frames, unique_frames[start : start + batch_size])
                sink.add(streams["image"], network.image_layers(image_inputs(batch)), frame_rows)
        if streams["text"] and tokens is not None:
            counts["n_texts"] = len(unique_texts)
            for start in _batches(len(unique_texts), batch_size, f"{name} texts"):
                batch_tokens = tokens.batch(range(start, min(start + batch_size, len(unique_texts))), network.device)
                sink.add(streams["text"], network.text_layers(batch_tokens), text_rows)
        if streams["pair"] and image_inputs is not None and tokens is not None:
            order = np.argsort(frame_index, kind="stable")  # neighbouring rows share frames: fewer reads
            inverse = np.empty(n, dtype=np.int64)
            inverse[order] = np.arange(n)
            for start in _batches(n, batch_size, f"{name} pairs"):
                picked = order[start : start + batch_size]
                batch = _read_frames(frames, frame_index[picked])
                pair_tokens = tokens.batch(text_rows[picked], network.device)
                sink.add(streams["pair"], network.pair_layers(image_inputs(batch), pair_tokens), inverse)

    missing = [layer for layer in sorted(needed) if layer not in sink and layer not in network.joint]
    if missing:
        raise ValueError(
            f"{name}: layers {', '.join(missing)} need inputs the registry entry does not give "
            f"(inputs: {entry['inputs']}); fix its layers: or inputs: key"
        )
    layers = {}
    for layer in wanted:
        if layer in network.joint:
            layers[layer] = _joint(*(sink.rows(part) for part in network.joint[layer]))
            sink.dims[layer] = [layers[layer].shape[1]] * 2
        else:
            layers[layer] = sink.rows(layer)
    dropped = constant_layers(layers)
    if len(dropped) == len(layers):
        raise ValueError(
            f"{name}: every layer is the same for all {n} stimuli of movie {_movie(stimuli_table)} "
            f"({len(np.unique(frame_index))} distinct frames, {len(set(texts))} distinct texts); "
            "the model reads nothing that varies: check the movie's events"
        )
    kept = [layer for layer in wanted if layer not in dropped]
    return Extraction(
        {layer: layers[layer] for layer in kept}, {layer: sink.dims[layer] for layer in kept}, counts, digest, dropped
    )


def concat_features(
    instance: ModelInstance, components: Mapping[str, Any]
) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, Any]]:
    """The linear-integration baseline: each component's chosen layer side by side, as one layer ``concat``.

    Parameters
    ----------
    instance
        A concat instance; ``instance.components`` names the component instances in band order and the entry's
        ``components[i].layer`` picks each one's layer (``last`` = its deepest stored layer).
    components
        Open features stores of the components, by instance name.

    Returns
    -------
    stimulus_ids, layers, attrs
        ``layers == {"concat": [n, sum of dims]}``; ``attrs['bands']`` lists ``[component, start_col, stop_col]`` so
        a banded ridge can give each band its own penalty.
    """
    blocks: list[np.ndarray] = []
    bands: list[list[Any]] = []
    parts: list[dict[str, Any]] = []
    start = 0
    ids: np.ndarray | None = None
    for name, spec in zip(instance.components, instance.entry["components"], strict=True):
        if spec["layer"] != "last" and spec["layer"] not in components[name].attrs["layers"]:
            raise RegistryError(
                f"{instance.name}: key 'components' of its registry entry (models.registry) reads layer "
                f"{spec['layer']!r} of {name}, whose features hold {', '.join(components[name].attrs['layers'])}; "
                f"name one of them, or add it to {name}'s layers:"
            )
        part_ids, layer, attrs = read_features(components[name], spec["layer"])
        if ids is None:
            ids = part_ids
        elif not np.array_equal(ids, part_ids):
            raise ValueError(
                f"{instance.name}: {name}'s features cover other stimuli than {instance.components[0]}'s; "
                "rebuild the components' features from the same stimuli table"
            )
        ((layer_name, values),) = layer.items()
        blocks.append(values)
        bands.append([name, start, start + values.shape[1]])
        parts.append(
            {
                "model": name,
                "layer": layer_name,
                "cache_key": attrs["cache_key"],
                "weights_sha256": attrs["weights_sha256"],
                "pooling": attrs["pooling"],
            }
        )
        start += values.shape[1]
    if ids is None:
        raise ValueError(f"{instance.name}: a concat instance needs at least one component")
    key = hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()
    attrs = {
        "model": instance.name,
        "family": instance.family,
        "init": instance.init,
        "seed": instance.seed,
        "source": "concat:" + "+".join(instance.components),
        "weights_sha256": hashlib.sha256("".join(p["weights_sha256"] for p in parts).encode()).hexdigest(),
        "pooling": {p["model"]: p["pooling"] for p in parts},
        "projection": None,
        "layers": ["concat"],
        "bands": bands,
        "components": parts,
        "cache_key": key,
        "n_stimuli": len(ids),
    }
    return ids, {"concat": np.concatenate(blocks, axis=1).astype(np.float32)}, attrs
