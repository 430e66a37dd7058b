"""Step specs: per workflow rule, the settings its outputs depend on, typed, and the version of its algorithms.

Each rule with a rerun key has one frozen settings class here.  Its fields declare the dotted config key they read
(``field(metadata={"key": "encoding.alphas"})``) and carry no default: the schema
(the workflow's ``config.schema.yaml``) owns every default.  The class's ``VERSION`` is the version of the
algorithms the step runs (:data:`STAGE_VERSIONS`, re-exported by :mod:`vlencode.versions`, is derived from them).
A spec serves the two ends of one rule:

- the rule's ``params: settings=`` is :meth:`Step.rerun_key` of the canonical config (one canonical JSON string,
  :func:`vlencode.config.rule_params`): the step reruns when, and only when, one of its declared settings, its version
  or its script changes.  Knobs (schema annotations ``x-performance: true`` and ``x-log-only: true``) are never
  declared: they reach their rules as Snakemake ``resources``;
- the step's script parses that string back with :meth:`Step.from_params` into the typed settings object.

A declared key that is optional and has no value in the config (``dataset.bids_task``) is left out of the rerun key
and reads back as ``None``.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from vlencode.config import rule_params

if TYPE_CHECKING:  # the library's classes are imported where a script builds one, not when the workflow is parsed
    from vlencode.epochs import EpochWindows
    from vlencode.neural import PreprocessConfig

S = TypeVar("S", bound="Step")


def key(dotted: str) -> Any:
    """A settings field reading the dotted config key ``dotted`` (no default: the schema owns it)."""
    return field(metadata={"key": dotted})


@dataclass(frozen=True)
class Step:
    """Base of the step specs: the rerun key of a rule, and its settings parsed back for the script.

    Subclasses set ``STAGE`` (the step's name in :data:`vlencode.versions.STAGE_VERSIONS`) and ``VERSION``, and declare
    their settings with :func:`key`.
    """

    STAGE: ClassVar[str]
    VERSION: ClassVar[int]

    @classmethod
    def keys(cls) -> dict[str, str]:
        """Field name -> the dotted config key it reads, in declaration order."""
        return {f.name: f.metadata["key"] for f in fields(cls)}

    @classmethod
    def rerun_key(
        cls,
        canonical: Mapping[str, Any],
        schema: Mapping[str, Any],
        *,
        script: str | None = None,
        without: Collection[str] = (),
    ) -> str:
        """The rule's rerun key: canonical JSON of the declared settings, the version and the script's digest.

        Parameters
        ----------
        canonical
            The output of :func:`vlencode.config.canonical_config`.
        schema
            The config schema.
        script
            The sha256 of the step's script.
        without
            Field names left out of this rule's key (a rule whose job does not read them, e.g. the detection settings
            of a movie whose scene cuts are annotated); they read back as ``None``.

        Raises
        ------
        ValueError
            A declared key the schema does not declare, or one it marks as a performance knob; a name in ``without``
            that is no field.
        """
        declared = cls.keys()
        unknown = sorted(set(without) - set(declared))
        if unknown:
            raise ValueError(f"step {cls.STAGE}: {unknown} are not fields of {cls.__name__}")
        keys = [k for name, k in declared.items() if name not in without]
        return rule_params(
            canonical, keys, stage=cls.STAGE, version=STAGE_VERSIONS[cls.STAGE], schema=schema, script=script
        )

    @classmethod
    def from_params(cls: type[S], text: str) -> S:
        """The settings of a rerun key made by :meth:`rerun_key` (a declared key absent from it reads as ``None``).

        The parsed key itself stays available as :attr:`params`: the provenance the step's outputs record, and the
        mapping that library functions reading config sections (``open_dataset``) take.
        """
        params = json.loads(text)
        values = {}
        for name, dotted in cls.keys().items():
            node: Any = params
            for part in dotted.split("."):
                node = node.get(part) if isinstance(node, Mapping) else None
            values[name] = node
        settings = cls(**values)
        object.__setattr__(settings, "_params", params)
        return settings

    @property
    def params(self) -> dict[str, Any]:
        """The rerun key this object was parsed from, as nested mappings (settings, ``version``, ``script``)."""
        return self.__dict__["_params"]


# --- the dataset ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ReplicaMovie(Step):
    """Rule replica_movie: one rendered movie and its scene annotation."""

    STAGE = "replica"
    VERSION = 1
    minutes: float = key("replica.minutes")
    frame_size: list[int] = key("replica.frame_size")
    fps: float = key("replica.fps")
    mean_scene_s: float = key("replica.mean_scene_s")
    seed: int = key("replica.seed")


@dataclass(frozen=True)
class ReplicaSubject(Step):
    """Rule replica_subject (and replica_corrupted): one subject's electrodes and localization."""

    STAGE = "replica"
    VERSION = 1
    electrodes_per_subject: int = key("replica.electrodes_per_subject")
    corrupted_per_subject: int = key("replica.corrupted_per_subject")
    seed: int = key("replica.seed")


@dataclass(frozen=True)
class ReplicaSignal(Step):
    """Rule replica_recording (and replica_truth): one trial's simulated recording with its planted truth."""

    STAGE = "replica"
    VERSION = 1
    minutes: float = key("replica.minutes")
    fps: float = key("replica.fps")
    mean_scene_s: float = key("replica.mean_scene_s")
    electrodes_per_subject: int = key("replica.electrodes_per_subject")
    corrupted_per_subject: int = key("replica.corrupted_per_subject")
    plant_null: bool = key("replica.plant_null")
    seed: int = key("replica.seed")


@dataclass(frozen=True)
class Reader(Step):
    """The settings a step reading the dataset uses to open it (paths and reader), never the list of recordings."""

    format: str = key("dataset.format")
    root: str = key("dataset.root")
    bids_task: str | None = key("dataset.bids_task")


@dataclass(frozen=True)
class Cuts(Reader):
    """Rule cuts: one movie's scene-cut times, annotated or detected (``detection`` only where detected)."""

    STAGE = "cuts"
    VERSION = 1
    scene_cuts: str = key("dataset.scene_cuts")
    detection: Mapping[str, Any] | None = key("stimuli.scene_detection")


@dataclass(frozen=True)
class Events(Reader):
    """Rule events: one trial's word, sentence and scene events on its neural clock."""

    STAGE = "events"
    VERSION = 2
    text_context: str = key("events.text_context")


@dataclass(frozen=True)
class Preprocess(Reader):
    """Rule preprocess: one trial's recording checked, re-referenced, filtered and resampled
    (:class:`vlencode.neural.PreprocessConfig`; ``chunk_s`` is a performance knob, a resource)."""

    STAGE = "preprocess"
    VERSION = 3
    line_freq_hz: float | str = key("preprocess.line_freq_hz")
    notch_max_hz: float = key("preprocess.notch_max_hz")
    notch_trans_bandwidth_hz: float = key("preprocess.notch_trans_bandwidth_hz")
    reference: str = key("preprocess.reference")
    laplacian_neighbours: str = key("preprocess.laplacian_neighbours")
    high_gamma: bool = key("preprocess.high_gamma.enabled")
    high_gamma_band_hz: list[float] = key("preprocess.high_gamma.band_hz")
    envelope: bool = key("preprocess.high_gamma.envelope")
    despike: bool = key("preprocess.despike.enabled")
    despike_threshold_mad: float = key("preprocess.despike.threshold_mad")
    zscore: bool = key("preprocess.zscore")
    rate_hz: float = key("preprocess.rate_hz")
    source_rate_hz: float | None = key("preprocess.source_rate_hz")
    flat_tolerance_uv: float = key("preprocess.flat_tolerance_uv")
    max_nan_gap_s: float = key("preprocess.max_nan_gap_s")
    saturation_fraction: float = key("preprocess.saturation_fraction")

    def config(self, chunk_s: float) -> PreprocessConfig:
        """The preprocessing settings, with the block length ``chunk_s`` (s; the ``chunk_s`` resource)."""
        from vlencode.neural import PreprocessConfig

        values = {name: getattr(self, name) for name in self.keys() if name not in Reader.keys()}
        return PreprocessConfig.from_config({**values, "chunk_s": float(chunk_s)})


@dataclass(frozen=True)
class Epochs(Step):
    """Rule epochs: bin times and averaging windows around each event (:class:`vlencode.epochs.EpochWindows`)."""

    STAGE = "epochs"
    VERSION = 1
    tmin_s: float = key("epochs.tmin_s")
    tmax_s: float = key("epochs.tmax_s")
    step_s: float = key("epochs.step_s")
    window_s: float = key("epochs.window_s")
    window_placement: str = key("epochs.window_placement")

    def windows(self) -> EpochWindows:
        """The bin times and averaging windows (checked)."""
        from vlencode.epochs import EpochWindows

        return EpochWindows.from_config(asdict(self))


# --- stimuli and features ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Stimuli(Step):
    """Rule stimuli: one movie's unique (frame, text) stimuli, frames decoded once."""

    STAGE = "stimuli"
    VERSION = 2
    max_frame_side: int | None = key("stimuli.max_frame_side")


@dataclass(frozen=True)
class Features(Step):
    """Rule features: layerwise activations of one model instance for one movie's stimuli."""

    STAGE = "features"
    VERSION = 2
    eps: float | None = key("features.projection.eps")
    projection_seed: int | None = key("features.projection.seed")
    extraction: str = key("features.extraction")


# --- encoding ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Resamples(Step):
    """Rule resamples: one subject's block-bootstrap resamples of the events, shared by its fits."""

    STAGE = "resamples"
    VERSION = 2
    seed: int = key("seed")
    n_resamples: int = key("bootstrap.n_resamples")
    block_s: float = key("bootstrap.block_s")
    block_kind: str = key("bootstrap.block_kind")
    alignments: list[str] = key("encoding.alignments")


@dataclass(frozen=True)
class Fit(Step):
    """Rule fit: one subject x model, every alignment, its layer search and the chosen layer's bootstrap
    (``encoding.memory_gb`` and ``device`` are performance knobs, resources)."""

    STAGE = "fit"
    VERSION = 4
    seed: int = key("seed")
    alignments: list[str] = key("encoding.alignments")
    n_folds: int = key("encoding.n_folds")
    alphas: Mapping[str, float] = key("encoding.alphas")
    layer_selection: str = key("encoding.layer_selection")
    screening: Mapping[str, float] = key("encoding.screening")
    banded_iterations: int = key("encoding.banded.n_iter")
    protocol: str = key("bootstrap.protocol")
    inflation: str = key("bootstrap.inflation")
    ci: float = key("bootstrap.ci")


@dataclass(frozen=True)
class Scores(Step):
    """Rule scores: every fit's chosen-layer scores in one table."""

    STAGE = "scores"
    VERSION = 2


# --- statistics -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Compare(Step):
    """Rule compare: one subject's paired model comparisons and keep decisions (``statistics.alpha_edge_fraction``,
    which sets only a warning of its log, is a log-only knob, a resource)."""

    STAGE = "compare"
    VERSION = 7
    ci: float = key("bootstrap.ci")
    keep_rules: list[str] = key("statistics.keep_rules")
    min_bins: int = key("statistics.min_bins")


@dataclass(frozen=True)
class Sites(Step):
    """Rule sites: multimodal sites over all subjects."""

    STAGE = "sites"
    VERSION = 3
    n_resamples: int = key("bootstrap.n_resamples")
    fdr_q: float = key("statistics.fdr_q")
    multimodal_tests: list[str] = key("statistics.multimodal_tests")
    min_bins: int = key("statistics.min_bins")


@dataclass(frozen=True)
class Recovery(Step):
    """Rule recovery: the replica's planted truth against the sites found."""

    STAGE = "recovery"
    VERSION = 1
    min_bins: int = key("statistics.min_bins")


@dataclass(frozen=True)
class Calibration(Step):
    """Rule calibration: the validation harness at small scale
    (:func:`vlencode.validation.harness.calibration_table`)."""

    STAGE = "calibration"
    VERSION = 5
    seed: int = key("seed")
    ci: float = key("bootstrap.ci")
    block_s: float = key("bootstrap.block_s")
    block_kind: str = key("bootstrap.block_kind")
    inflation: str = key("bootstrap.inflation")
    n_folds: int = key("encoding.n_folds")
    alphas: Mapping[str, float] = key("encoding.alphas")
    min_bins: int = key("statistics.min_bins")
    fdr_q: float = key("statistics.fdr_q")
    multimodal_tests: list[str] = key("statistics.multimodal_tests")
    minutes: float = key("statistics.calibration.minutes")
    electrodes_per_category: int = key("statistics.calibration.electrodes_per_category")
    n_resamples: int = key("statistics.calibration.n_resamples")
    refit_resamples: int = key("statistics.calibration.refit_resamples")
    tmin_s: float = key("statistics.calibration.tmin_s")
    tmax_s: float = key("statistics.calibration.tmax_s")


# --- regions and report -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Electrodes(Reader):
    """Rule electrodes: the atlas label of every electrode."""

    STAGE = "electrodes"
    VERSION = 2
    atlas: str = key("regions.atlas")
    radius_mm: float = key("regions.radius_mm")


@dataclass(frozen=True)
class Regions(Step):
    """Rule regions: sites and scores summarised per region, hemisphere and alignment."""

    STAGE = "regions"
    VERSION = 1
    seed: int = key("seed")
    n_resamples: int = key("regions.n_resamples")
    ci: float = key("regions.ci")


@dataclass(frozen=True)
class Qc(Reader):
    """Rule qc: channel, clock, event and alpha-edge quality tables."""

    STAGE = "qc"
    VERSION = 1


@dataclass(frozen=True)
class Figures(Step):
    """Rule figures: the report's figures."""

    STAGE = "figures"
    VERSION = 2
    seed: int = key("seed")
    atlas: str = key("regions.atlas")


@dataclass(frozen=True)
class Tables(Step):
    """Rule tables: one result table as a report page."""

    STAGE = "tables"
    VERSION = 1


@dataclass(frozen=True)
class Protocol(Step):
    """Rule protocol: the settings, the model zoo and the limits of this run as a report page."""

    STAGE = "protocol"
    VERSION = 1


#: Workflow rule -> its spec.
STEPS: dict[str, type[Step]] = {
    "replica_movie": ReplicaMovie,
    "replica_subject": ReplicaSubject,
    "replica_corrupted": ReplicaSubject,
    "replica_recording": ReplicaSignal,
    "replica_truth": ReplicaSignal,
    "cuts": Cuts,
    "events": Events,
    "preprocess": Preprocess,
    "epochs": Epochs,
    "stimuli": Stimuli,
    "features": Features,
    "resamples": Resamples,
    "fit": Fit,
    "scores": Scores,
    "compare": Compare,
    "sites": Sites,
    "recovery": Recovery,
    "calibration": Calibration,
    "electrodes": Electrodes,
    "regions": Regions,
    "qc": Qc,
    "figures": Figures,
    "tables": Tables,
    "protocol": Protocol,
}

#: Step name (the workflow rule, ``replica`` for the ``replica_*`` rules) -> version of the algorithms it runs: the
#: ``VERSION`` beside each spec, the one place a version is raised.  Read when a rerun key is made, so a test may
#: raise one here to simulate a bump (re-exported as :data:`vlencode.versions.STAGE_VERSIONS`).
STAGE_VERSIONS: dict[str, int] = {spec.STAGE: spec.VERSION for spec in STEPS.values()}
_disagreeing = sorted({spec.STAGE for spec in STEPS.values() if spec.VERSION != STAGE_VERSIONS[spec.STAGE]})
if _disagreeing:  # the replica rules' specs share one stage: a version raised on one alone would be lost
    raise ValueError(f"vlencode.steps: the specs of stage(s) {_disagreeing} differ in VERSION; raise them together")
