"""Typed build options and the depth plan.

What a dataset *is* (every setting that can change a byte of its output) is compared by resume: a rerun
with any of it changed is another dataset, refused unless --overwrite. That is `BuildOptions`, plus, where
a teacher runs, its `TeacherRun`: the resolved device type, dtype, batch size and, on CPU, torch's thread
count (a model's last bits depend on each), plus the output format version (output/model.py). How a build
*runs* and nothing of its bytes lives in `RunOptions`: workers, engine, output folder, overwrite, progress,
gallery, skipping bad inputs, and the teacher's settings as given (`auto` is resolved into its TeacherRun).
`DepthPlan` decides once, from both, where the backgrounds' depth comes from, what depth is stored, and
which models make it where."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from .errors import UserError
from .rules import FIRST_MIX_MODES, BackgroundDepth, BlendMode, DepthMode, PlacementRule, choices, parsed

DEPTH_MODES = choices(DepthMode)
PLACEMENT_MODES = choices(PlacementRule)
SPLIT_BY = ("background", "foreground", "sample")
IMAGE_FORMATS = ("jpeg", "png")
ENGINES = ("local", "ray")
BLEND_CHOICES = choices(BlendMode)
DEFAULT_DEPTH_MODEL = "depth-anything/Depth-Anything-V2-Small-hf"
# The background depth model of photos without depth maps: metric (floor placement needs metres), run once
# per background. Short names for the usual choices; any metric transformers model goes by id or folder.
BACKGROUND_DEPTH_MODELS = {
    "indoor": "depth-anything/Depth-Anything-V2-Metric-Indoor-Small-hf",
    "outdoor": "depth-anything/Depth-Anything-V2-Metric-Outdoor-Small-hf",
    "depth-pro": "apple/DepthPro-hf",  # metric depth and a field of view; Apple's research licence
}
DEFAULT_BACKGROUND_DEPTH_MODEL = BACKGROUND_DEPTH_MODELS["indoor"]
BACKGROUND_MODEL_ROLE = "background depth model"  # how error lines name it (pipeline/loading.py)
NO_MODEL = "none"  # --background-depth-model none: no background model, even where one would run by default
INPUT_PATH_OPTIONS = ("backgrounds", "foregrounds", "masks", "background_depths", "fg_heights")
MODEL_OPTIONS = ("depth_model", "background_depth_model")
# Options a build records but no flag gives: --blend mix records the modes it draws from (pipeline/blend.py).
RECORDED_ONLY = ("mix_modes",)
# Options the manifest leaves out at these values, so a build that does not use them records what it did
# before they existed.
OMITTED_AT_DEFAULT = {"objects": "1", "distractors": 0}
MAX_OBJECTS = 8  # objects per composite: the floor of a 224 px room rarely holds more apart

# The built-in demo is small so the README's main command takes seconds on 2 cores.
DEMO_BACKGROUNDS = 10
DEMO_FOREGROUNDS = 10


def recorded_model(model: str | None) -> str | None:
    """A Hub id as it is; a local model folder by its name (the teacher record adds its files' sha256)."""
    return Path(model).name if model is not None and Path(model).exists() else model


@dataclass(frozen=True)
class TeacherSettings:
    """A depth model and where and how it runs. In RunOptions the model is left at its default: which
    model labels a build is a BuildOptions field, and DepthPlan puts it here."""

    model: str = DEFAULT_DEPTH_MODEL  # Hub id or local folder
    device: str = "auto"  # auto|cpu|cuda|mps
    dtype: str = "auto"  # auto|fp32|fp16|bf16; auto = bf16/fp16 on CUDA, fp32 on cpu/mps
    batch_size: int = 32
    trust_remote_code: bool = False


@dataclass(frozen=True)
class TeacherRun:
    """How a teacher runs, resolved (no `auto`): its output's last bits depend on each of these, so they are
    part of what a dataset is: the manifest's `teacher_run`, compared on resume like the options."""

    device: str  # cpu | cuda | mps
    dtype: str  # fp32 | fp16 | bf16
    batch_size: int
    torch_threads: int | None  # torch's intra-op threads on CPU; None on a GPU

    def recorded(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class BuildOptions:
    """Everything that determines the bytes of the shards."""

    demo: bool = False
    backgrounds: str | None = None
    foregrounds: str | None = None
    masks: str | None = None
    background_depths: str | None = None
    num_backgrounds: int | None = None
    num_foregrounds: int | None = None
    bg_size: int = 224
    fg_size: int | None = None  # None: half of bg_size
    placements: int = 20
    flip: bool = True
    scale_jitter: float = 0.0
    placement: PlacementRule = PlacementRule.AUTO  # auto: floor where the backgrounds' metric depth is known, else uniform
    fov: float | None = None  # --fov: horizontal field of view (degrees) of every background photo; None: EXIF, a model's, or 60
    fg_heights: str | None = None  # CSV name,height_m: real heights of the foregrounds (floor placement)
    fg_height: float = 1.0  # metres, for foregrounds without a height of their own
    soft_mask: bool = False
    depth: DepthMode = DepthMode.SCENE
    depth_model: str | None = None  # --depth model: the teacher for every composite
    background_depth_model: str | None = None  # a model run once per background: the depth placement stands on
    image_format: str = "jpeg"
    jpeg_quality: int = 95
    test_fraction: float = 0.3
    split_by: str = "background"
    shard_size: int = 1000
    seed: int = 0
    # Edges and light (pipeline/blend.py, light.py, matting.py).
    blend: BlendMode = BlendMode.ALPHA
    # What --blend mix draws from, recorded with the dataset so that a mode registered later never changes
    # its draw; None where the blend is not mix (then it is not recorded at all).
    mix_modes: tuple[str, ...] | None = None
    decontaminate: bool = True  # estimate each cut-out's true colours under partial alpha
    shadow: bool = False  # a soft contact shadow under objects standing on the floor
    harmonize: bool = False
    background_jitter: bool = False  # the stored background is a perturbed copy
    objects: str = "1"  # objects per composite: "N" or "MIN-MAX" (extra ones stand on the floor)
    distractors: int = 0  # objects pasted the same way but not labelled

    @property
    def several(self) -> bool:
        """Whether composites may show more than their own object (--objects, --distractors)."""
        return self.objects != "1" or self.distractors > 0

    def __post_init__(self):
        # The rules are parsed here, once, whichever way the options come (flags, a manifest, a test).
        for name, kind in (("placement", PlacementRule), ("depth", DepthMode), ("blend", BlendMode)):
            object.__setattr__(self, name, parsed(kind, getattr(self, name)))
        if self.mix_modes is not None:
            object.__setattr__(self, "mix_modes", tuple(parsed(BlendMode, m) for m in self.mix_modes))

    @property
    def fg_longest_side(self) -> int:
        return self.fg_size if self.fg_size is not None else self.bg_size // 2

    @property
    def flips(self) -> tuple[bool, ...]:
        return (False, True) if self.flip else (False,)

    def input_counts(self) -> tuple[int | None, int | None]:
        """(backgrounds, foregrounds) as far as known before any input is read: the counts given, the
        demo's own, or None for "all the files found"."""
        return (self.num_backgrounds or (DEMO_BACKGROUNDS if self.demo else None),
                self.num_foregrounds or (DEMO_FOREGROUNDS if self.demo else None))

    def samples_at_most(self) -> int | None:
        """An upper bound on the build's samples known before any input is read (None where the inputs'
        counts are not)."""
        num_bg, num_fg = self.input_counts()
        return None if num_bg is None or num_fg is None else num_bg * num_fg * len(self.flips) * self.placements

    @property
    def objects_range(self) -> tuple[int, int]:
        """(fewest, most) objects per composite from `objects` ("N" or "MIN-MAX")."""
        low, _, high = self.objects.partition("-")
        try:
            fewest, most = int(low), int(high or low)
        except ValueError:
            raise UserError(f"--objects takes N or MIN-MAX, got {self.objects!r}") from None
        return fewest, most

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def recorded(self) -> dict:
        """The options as the manifest keeps them: input folders and files, and a local model folder, by
        their names, never where they were on the builder's disk. The inputs themselves are known by their
        sha256 (the manifest's `inputs`), so a rerun from moved inputs is the same dataset."""
        data = self.to_dict()
        for key in INPUT_PATH_OPTIONS:
            if data[key] is not None:
                data[key] = Path(data[key]).name
        for key in MODEL_OPTIONS:
            data[key] = recorded_model(data[key])
        for key, default in OMITTED_AT_DEFAULT.items():
            if data[key] == default:
                del data[key]
        if data["mix_modes"] is None:
            del data["mix_modes"]
        else:
            data["mix_modes"] = list(data["mix_modes"])
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "BuildOptions":
        known = {f.name for f in dataclasses.fields(cls)}
        options = cls(**{k: v for k, v in data.items() if k in known})
        if options.blend == BlendMode.MIX and options.mix_modes is None:
            return dataclasses.replace(options, mix_modes=FIRST_MIX_MODES)
        return options

    def validate(self) -> None:
        """Refuse contradictory or out-of-range options with one line each."""
        if self.demo and (self.backgrounds or self.foregrounds):
            raise UserError("--demo makes its own inputs: drop --backgrounds/--foregrounds, or drop --demo")
        if not self.demo and not (self.backgrounds and self.foregrounds):
            raise UserError("give --backgrounds DIR and --foregrounds DIR, or --demo for built-in inputs")
        _check_choice("--depth", self.depth, DEPTH_MODES)
        _check_choice("--placement", self.placement, PLACEMENT_MODES)
        _check_choice("--split-by", self.split_by, SPLIT_BY)
        _check_choice("--image-format", self.image_format, IMAGE_FORMATS)
        _check_choice("--blend", self.blend, BLEND_CHOICES)
        _check_range("--bg-size", self.bg_size, 8, 8192)
        _check_range("--placements", self.placements, 1, 100_000)
        _check_range("--shard-size", self.shard_size, 1, 10_000_000)
        _check_range("--jpeg-quality", self.jpeg_quality, 1, 100)
        _check_range("--seed", self.seed, 0, 2**63 - 1)
        fewest, most = self.objects_range
        _check_range("--objects", fewest, 1, MAX_OBJECTS)
        _check_range("--objects", most, fewest, MAX_OBJECTS)
        _check_range("--distractors", self.distractors, 0, MAX_OBJECTS)
        if self.fg_size is not None:
            _check_range("--fg-size", self.fg_size, 1, 8192)
        for flag, value in (("--num-backgrounds", self.num_backgrounds), ("--num-foregrounds", self.num_foregrounds)):
            if value is not None:
                _check_range(flag, value, 1, 10_000_000)
        if not 0.0 <= self.scale_jitter < 1.0:
            raise UserError(f"--scale-jitter must be in [0, 1), got {self.scale_jitter}")
        if not 0.0 <= self.test_fraction < 1.0:
            raise UserError(f"--test-fraction must be in [0, 1), got {self.test_fraction}")
        if self.fg_longest_side * (1 + self.scale_jitter) > self.bg_size:
            raise UserError(
                f"foregrounds of {self.fg_longest_side} px (x{1 + self.scale_jitter:g} jitter) do not fit "
                f"in {self.bg_size} px backgrounds: lower --fg-size/--scale-jitter or raise --bg-size"
            )
        if self.fov is not None and not 1.0 <= self.fov <= 179.0:
            raise UserError(f"--fov must be between 1 and 179 degrees; got {self.fov:g}")
        if not 0.01 <= self.fg_height <= 100.0:
            raise UserError(f"--fg-height must be between 0.01 and 100 metres; got {self.fg_height:g}")
        if self.fg_heights and self.demo:
            raise UserError("--fg-heights goes with --foregrounds: the demo sprites know their heights")
        if self.masks and self.demo:
            raise UserError("--masks goes with --foregrounds, not --demo")
        if self.blend == BlendMode.MIX and self.mix_modes is not None:
            for mode in self.mix_modes:
                _check_choice("mix_modes", mode, tuple(m for m in BLEND_CHOICES if m != BlendMode.MIX))
        if self.depth == DepthMode.MODEL and not self.depth_model:
            raise UserError("--depth model needs --depth-model ID_OR_PATH")
        for option in INPUT_PATH_OPTIONS:
            check_utf8(f"--{option.replace('_', '-')}", getattr(self, option))


@dataclass(frozen=True)
class RunOptions:
    """How a build runs; none of this changes the bytes of the output (the teacher's settings as given are
    resolved into a TeacherRun, which does and is compared as part of the dataset)."""

    out: Path | str  # a local folder, or an fsspec URL (file://, s3://, ...)
    workers: int = 1
    overwrite: bool = False
    progress: bool = True
    gallery: bool = True  # draw OUT/gallery/ after the shards (reads a few rows back)
    skip_bad_inputs: bool = False  # leave bad input files out (recorded in the manifest) instead of stopping
    teacher: TeacherSettings = field(default_factory=TeacherSettings)
    engine: str = "local"  # local: worker processes on this machine; ray: actors on a Ray cluster
    ray_address: str | None = None  # None: start a Ray instance on this machine; auto or HOST:PORT: join a cluster
    gpus_per_worker: float = 0  # Ray engine: GPUs each actor reserves (0: CPU actors)


def _check_choice(flag: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise UserError(f"{flag} must be one of {', '.join(choices)}; got {value!r}")


def check_utf8(flag: str, path: str | None) -> None:
    """The manifest and the card record folders by name: a name that is not UTF-8 (its bytes kept as lone
    surrogates) could not be written there, nor opened by pyarrow. The files inside may have any name."""
    if path is None:
        return
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        shown = str(path).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        raise UserError(f"{flag} {shown}: the name is not valid UTF-8; rename it or link to it under a UTF-8 name") from None


def _check_range(flag: str, value: int, low: int, high: int) -> None:
    if not low <= value <= high:
        raise UserError(f"{flag} must be between {low} and {high}; got {value}")


def default_depth_mode(demo: bool, background_depths: str | None, background_depth_model: str | None) -> DepthMode:
    """--depth when not given: the scene rule wherever the backgrounds have a depth (the demo's, the user's
    maps, a background model's), else none."""
    return DepthMode.SCENE if demo or background_depths or background_depth_model else DepthMode.NONE


def default_background_model(demo: bool, background_depths: str | None, depth: DepthMode | None, placement: PlacementRule) -> str | None:
    """The background depth model a command runs when --background-depth-model is not given: the metric
    default for photos without depth maps whose objects may stand on the floor or whose labels follow the
    scene rule (`depth` None: not given, so the scene rule); none otherwise, so that `--depth none
    --placement uniform` downloads nothing."""
    if demo or background_depths:
        return None
    needed = parsed(PlacementRule, placement) in (PlacementRule.AUTO, PlacementRule.FLOOR) or depth in (None, DepthMode.SCENE)
    return DEFAULT_BACKGROUND_DEPTH_MODEL if needed else None


def background_model_named(name: str) -> str | None:
    """--background-depth-model as given: a short name (indoor, outdoor, depth-pro) for its model id,
    `none` for no model, anything else (a Hub id, a folder) as it is."""
    return None if name == NO_MODEL else BACKGROUND_DEPTH_MODELS.get(name, name)


@dataclass(frozen=True)
class DepthPlan:
    """Two decisions about depth, made once from the options and passed down.

    The background depth (`background`): what floor placement and the scene rule stand on: the demo's
    exact rooms, the user's maps, or `background_model` run once per background (given, its depth is used
    instead of the demo's or the user's maps), or none. The labels (`mode`): none, the scene rule on that
    background depth, or `teacher` (--depth-model) on every composite. `teacher_in_workers`: every engine
    worker loads its own copy of the teacher (Ray actors on their GPUs) instead of this process labelling
    each shard and handing the depth maps to the workers."""

    mode: DepthMode
    background: BackgroundDepth = BackgroundDepth.NONE
    background_model: TeacherSettings | None = None
    teacher: TeacherSettings | None = None
    teacher_in_workers: bool = False

    @classmethod
    def of(cls, options: BuildOptions, settings: TeacherSettings = TeacherSettings(), engine: str = "local") -> "DepthPlan":
        background_model = None
        if options.background_depth_model:
            background = BackgroundDepth.MODEL
            background_model = dataclasses.replace(settings, model=options.background_depth_model)
        elif options.demo:
            background = BackgroundDepth.DEMO
        else:
            background = BackgroundDepth.MAPS if options.background_depths else BackgroundDepth.NONE
        teacher = None
        if options.depth == DepthMode.MODEL and options.depth_model:
            teacher = dataclasses.replace(settings, model=options.depth_model)
        return cls(options.depth, background, background_model, teacher, teacher is not None and engine == "ray")

    @property
    def models(self) -> tuple[TeacherSettings, ...]:
        """The models this build loads: the background model, then the teacher."""
        return tuple(model for model in (self.background_model, self.teacher) if model is not None)


def placement_rule(options: BuildOptions, metric_depth: bool, why_not: str = "") -> PlacementRule:
    """The placement a build uses: `floor` (objects standing on the scene's floor, sized by depth,
    hidden behind nearer things) wherever the backgrounds' metric depth is known, else the chosen rule.
    `why_not`: why the backgrounds' depth has no metric scale (a relative model), for the refusal's line."""
    if options.placement == PlacementRule.FLOOR and not metric_depth:
        raise UserError(
            f"--placement floor needs the backgrounds' metric depth{' (' + why_not + ')' if why_not else ''}: --demo, "
            "--background-depths DIR, or a metric --background-depth-model (indoor, outdoor, depth-pro); or use --placement uniform"
        )
    if options.placement == PlacementRule.AUTO:
        return PlacementRule.FLOOR if metric_depth else PlacementRule.UNIFORM
    return options.placement
