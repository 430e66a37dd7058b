"""Precision and recall of scene-cut detection on transition clips and on a replica movie (not part of the test suite).

Clips (:mod:`vlencode.datasets._clips`, 6 s, 24 fps, 128 x 72) hold one planted transition each: none, a hard cut, a
2-frame white flash, a fade to black and back into the same shot, a 1 s fade through black or a 1 s dissolve into
another shot.  Three sets: ``slow pan`` (0.1 frame widths per second, the second shot of the opposite visual class),
``fast pan`` (0.25 widths per second) and ``same palette`` (the second shot of the same colour family, other texture).
The replica movie is rendered as the replica renders it (:mod:`vlencode.datasets._movie`, the ``replica`` section of
``config/config.yaml``), hard cuts only.

A detected cut is a hit when it lies within ``--tolerance-s`` of a planted cut or inside a planted transition (each
planted cut matched at most once).  Each set is scored twice: with ``stimuli.scene_detection`` at its schema defaults
and with the flash, fade and gradual checks off (a bare ContentDetector with the minimum scene length).

    python benchmarks/scene_detection.py                 # 4 seeds, a 2-minute replica movie
    python benchmarks/scene_detection.py --seeds 2 --replica-minutes 0.5
"""

from __future__ import annotations

import argparse
import tempfile
from fractions import Fraction
from pathlib import Path

import numpy as np
import yaml

from vlencode.datasets._clips import TRANSITIONS, transition_clip, write_clip
from vlencode.datasets._movie import plan_scenes, render_movie
from vlencode.stimuli.scenes import detect_cuts

ROOT = Path(__file__).resolve().parents[1]
FPS = 24
SETS = {
    "slow pan": {"pan_per_s": 0.1},
    "fast pan": {"pan_per_s": 0.25},
    "same palette": {"pan_per_s": 0.1, "same_palette": True},
}


def schema_defaults() -> dict:
    schema = yaml.safe_load((ROOT / "workflow" / "schemas" / "config.schema.yaml").read_text())
    keys = schema["properties"]["stimuli"]["properties"]["scene_detection"]["properties"]
    return {name: spec["default"] for name, spec in keys.items()}


def score(detected: np.ndarray, windows: list[tuple[float, float]], tolerance_s: float) -> tuple[int, int, int]:
    """``(hits, detections, planted)``: greedy one-to-one matching of detections to planted cut windows."""
    used = [False] * len(windows)
    hits = 0
    for t in detected:
        for i, (first, last) in enumerate(windows):
            if not used[i] and first - tolerance_s <= t <= last + tolerance_s:
                used[i], hits = True, hits + 1
                break
    return hits, len(detected), len(windows)


def clip_cases(directory: Path, seeds: int, pan_per_s: float, same_palette: bool = False):
    """``(kind, path, windows)`` for every transition and seed."""
    for seed in range(seeds):
        for kind in TRANSITIONS:
            other = None
            if same_palette:
                first = int(np.random.default_rng(seed).integers(4))
                other = first ^ 1  # VISUAL_CLASSES pairs the two textures of each colour family
            clip = transition_clip(kind, pan_per_s=pan_per_s, other_class=other, seed=seed)
            path = directory / f"{kind}-{seed}.mp4"
            write_clip(path, clip.frames, np.arange(len(clip.frames)), Fraction(1, FPS))
            yield kind, path, [] if clip.cut_window_s is None else [clip.cut_window_s]


def replica_case(directory: Path, minutes: float, seed: int) -> tuple[Path, list[tuple[float, float]]]:
    replica = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())["replica"]
    fps = float(replica["fps"])
    scenes = plan_scenes(int(minutes * 60 * fps), fps, float(replica["mean_scene_s"]), np.random.default_rng(seed))
    path = directory / "replica.mp4"
    render_movie(path, scenes, tuple(replica["frame_size"]), fps)
    return path, [(t, t) for t in scenes["cut_s"].to_numpy()[1:]]


def report(name: str, totals: dict[str, list[int]]) -> None:
    hits, detections, planted = (sum(column) for column in zip(*totals.values(), strict=True))
    precision = hits / detections if detections else 1.0
    recall = hits / planted if planted else 1.0
    false = {kind: d - h for kind, (h, d, _) in totals.items() if d - h}
    missed = {kind: p - h for kind, (h, _, p) in totals.items() if p - h}
    print(
        f"  {name:<8} precision {precision:.3f} recall {recall:.3f} ({hits} hits / {detections} detected / "
        f"{planted} planted); false cuts: {false or 'none'}; missed: {missed or 'none'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].replace("\n", " "))
    parser.add_argument("--seeds", type=int, default=4, help="clips per transition kind and set")
    parser.add_argument("--replica-minutes", type=float, default=2.0)
    parser.add_argument("--tolerance-s", type=float, default=1.0 / FPS, help="slack around a planted cut")
    args = parser.parse_args()
    defaults = schema_defaults()
    settings = {
        "defaults": defaults,
        "bare": {**defaults, "flash_max_s": 0.0, "fade_threshold": None, "transition_s": 0.0},
    }
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        for set_name, options in SETS.items():
            cases = list(clip_cases(directory, args.seeds, options["pan_per_s"], options.get("same_palette", False)))
            print(f"{set_name}: {len(cases)} clips ({args.seeds} per kind), tolerance {args.tolerance_s:.3f} s")
            for name, kwargs in settings.items():
                totals: dict[str, list[int]] = {kind: [0, 0, 0] for kind in TRANSITIONS}
                for kind, path, windows in cases:
                    counts = score(detect_cuts(path, **kwargs), windows, args.tolerance_s)
                    totals[kind] = [a + b for a, b in zip(totals[kind], counts, strict=True)]
                report(name, totals)
        path, windows = replica_case(directory, args.replica_minutes, seed=0)
        print(f"replica movie: {args.replica_minutes} min, {len(windows)} planted hard cuts")
        for name, kwargs in settings.items():
            report(name, {"cut": list(score(detect_cuts(path, **kwargs), windows, args.tolerance_s))})


if __name__ == "__main__":
    main()
