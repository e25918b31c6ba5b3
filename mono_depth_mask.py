"""The `datasets` builder of mono-depth-mask.

`datasets` >= 4 no longer runs dataset scripts through `load_dataset`: the published dataset is Parquet
shards plus the README's YAML `configs`, which `load_dataset("org/mono-depth-mask")` reads directly.
This builder is the same pipeline behind the builder API, for building into the `datasets` cache
without the CLI:

    from mono_depth_mask import MonoDepthMask
    builder = MonoDepthMask(config_name="demo")
    builder.download_and_prepare()
    ds = builder.as_dataset()

    # your own inputs: DIR/backgrounds, DIR/foregrounds and optionally DIR/masks, DIR/background_depths
    builder = MonoDepthMask(config_name="full", data_dir="DIR")

    # plain photos in DIR/photos instead of DIR/foregrounds: cut out what the prompt names first
    builder = MonoDepthMask(config_name="full", data_dir="DIR", prompt="a dog")

Any build option can be changed with `build=BuildOptions(...)`. Features, split names and shard
contents come from the same modules the CLI's writer uses (generator.schema, generator.engines.job), so a
table built here is the table written to Parquet there.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import datasets

from generator.config import BuildOptions, DepthPlan, TeacherSettings, default_depth_mode
from generator.engines.job import shard_table
from generator.errors import UserError
from generator.extract.gates import Gates
from generator.extract.defaults import DEFAULT_MATTING_MODEL, DEFAULT_SEGMENTER
from generator.output.folder import sha256_file
from generator.output.model import FORMAT
from generator.pipeline.blend import with_mix_modes
from generator.pipeline.plan import plan_shards
from generator.pipeline.shard import make_context, shard_composites
from generator.schema import FG_BG, features

_DESCRIPTION = "Foreground cut-outs and their flips pasted on backgrounds, with masks and depth maps."
# Sub-folders of data_dir for the `full` config.
INPUT_FOLDERS = {"backgrounds": "backgrounds", "foregrounds": "foregrounds", "masks": "masks", "background_depths": "background_depths"}
PHOTOS = "photos"  # plain photos, cut out with the config's prompt when there is no foregrounds folder


@dataclass
class MonoDepthMaskConfig(datasets.BuilderConfig):
    """A named set of build options."""

    build: BuildOptions | None = field(default_factory=BuildOptions)  # None: decided from data_dir
    teacher: TeacherSettings = field(default_factory=TeacherSettings)
    # data_dir/photos instead of data_dir/foregrounds: the objects `prompt` names are cut out of them first
    # (the `cutouts` command, with these models; the teacher's device, dtype and batch size).
    prompt: str | None = None
    detector: str | None = None  # None: the cutouts command's default
    segmenter: str = DEFAULT_SEGMENTER
    matting_model: str | None = DEFAULT_MATTING_MODEL  # None: no matting, the mask softened at its edge
    gates: Gates = field(default_factory=Gates)  # which objects become cut-outs (min score, min size, ...)

    def cutout_options(self, photos: str, out: Path):
        from generator.extract.run import CutoutOptions

        return CutoutOptions(photos=photos, out=out, prompt=self.prompt, detector=self.detector, segmenter=self.segmenter,
                             matting_model=self.matting_model, gates=self.gates, settings=self.teacher, progress=False)

    def create_config_id(self, config_kwargs: dict, custom_features=None) -> str:
        """The cache's key: `datasets` keys it by the config's arguments (data_dir by its path); the inputs'
        content and the output format join them, as the CLI keys a resume, so a background replaced or
        added in data_dir, or a new version of the code's bytes, is another dataset, not the cached one.
        Cut-outs made from photos depend on the prompt, on every model and on the gates, defaults included."""
        keyed = {**config_kwargs, "format": FORMAT, "inputs_sha256": inputs_digest(self.data_dir)}
        if self.prompt:
            models = {f"{role}_model": name for role, name in self.cutout_options("", Path()).models().items()}
            keyed.update(prompt=self.prompt, **models, gates=dataclasses.asdict(self.gates))
        return super().create_config_id(keyed, custom_features)


def inputs_digest(data_dir: str | None) -> str | None:
    """One sha256 over the names and contents of every file in data_dir's input folders."""
    if not data_dir:
        return None
    digest = hashlib.sha256()
    for folder in INPUT_FOLDERS.values():
        root = Path(data_dir) / folder
        for path in sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else []:
            digest.update(f"{path.relative_to(data_dir).as_posix()}\0{sha256_file(path)}\0".encode())
    return digest.hexdigest()


def depth_from_inputs(found: dict[str, str]) -> BuildOptions:
    """The `full` config's depth when no build options are given: the CLI's default (scene where the
    backgrounds have depth maps), except that no model is downloaded unasked: without depth maps no
    background depth model (the CLI's default there), so no depth and the uniform placement."""
    return BuildOptions(depth=default_depth_mode(False, found.get("background_depths"), None))


class MonoDepthMask(datasets.ArrowBasedBuilder):
    BUILDER_CONFIG_CLASS = MonoDepthMaskConfig
    BUILDER_CONFIGS = [
        MonoDepthMaskConfig(name="demo", description="built-in procedural rooms and sprites", build=BuildOptions(demo=True)),
        # Depth as the CLI decides it: scene with DIR/background_depths; without them none here, where the CLI
        # would download a background depth model (pass build=BuildOptions(background_depth_model=...) for that).
        MonoDepthMaskConfig(name="full", description="your inputs from data_dir", build=None),
    ]
    DEFAULT_CONFIG_NAME = "demo"

    def _info(self) -> datasets.DatasetInfo:
        return datasets.DatasetInfo(description=_DESCRIPTION, features=features(FG_BG))

    def _options(self) -> BuildOptions:
        options = self.config.build
        if not (options and options.demo) and self.config.data_dir:
            root = Path(self.config.data_dir)
            found = {key: str(root / folder) for key, folder in INPUT_FOLDERS.items() if (root / folder).is_dir()}
            if "foregrounds" not in found and (root / PHOTOS).is_dir():
                found.update(self._cutouts(root / PHOTOS))
                if options and options.fg_heights:  # the user's own heights win over the class table's
                    found.pop("fg_heights", None)
            options = dataclasses.replace(options or depth_from_inputs(found), **found)
        options = with_mix_modes(options or depth_from_inputs({}))
        options.validate()
        return options

    def _cutouts(self, photos: Path) -> dict[str, str]:
        """The photos' cut-outs (and their heights, where their class is known), made once into the cache."""
        from generator.extract.report import HEIGHTS, REPORT
        from generator.extract.run import FOREGROUNDS, make_cutouts

        if not self.config.prompt:
            raise UserError(f"{photos} holds plain photos: pass prompt=\"a dog\" (what to cut out of them) or give a foregrounds folder")
        out = Path(self._cache_dir_root) / "mono_depth_mask_cutouts" / self.config_id
        if not (out / REPORT).is_file():
            make_cutouts(self.config.cutout_options(str(photos), out))
        found = {"foregrounds": str(out / FOREGROUNDS)}
        if (out / HEIGHTS).is_file():
            found["fg_heights"] = str(out / HEIGHTS)
        return found

    def _split_generators(self, dl_manager):
        options = self._options()
        self._plan = DepthPlan.of(options, self.config.teacher)
        self._context, self._teacher = make_context(options, self._plan)
        shards = plan_shards(self._context.grid, options)
        splits = dict.fromkeys(s.split for s in shards)
        return [
            datasets.SplitGenerator(name=split, gen_kwargs={"shards": [s for s in shards if s.split == split]})
            for split in splits
        ]

    def _generate_tables(self, shards):
        # One job per shard, as in the packaged Parquet builder: the same table the CLI writes to a file.
        for spec in shards:
            depths = self._teacher.predict(shard_composites(self._context, spec)) if self._plan.teacher is not None else None
            yield f"{spec.split}-{spec.index:05d}", shard_table(self._context, spec, depths)
