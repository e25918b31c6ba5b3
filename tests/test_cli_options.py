"""The generate command declares each build option once: every BuildOptions field is a flag of the same
name with the same default, and the options a command line gives are the fields it names."""

from __future__ import annotations

import dataclasses

from generator.cli import DERIVED_OPTIONS, generate_options, parser
from generator.config import RECORDED_ONLY, BuildOptions


def _generate_actions() -> dict:
    sub = next(a for a in parser()._actions if a.dest == "command" or getattr(a, "choices", None) and "generate" in a.choices)
    return {a.dest: a for a in sub.choices["generate"]._actions}


def test_every_build_option_is_a_generate_flag_with_its_default():
    actions = _generate_actions()
    defaults = BuildOptions()
    for f in dataclasses.fields(BuildOptions):
        if f.name in RECORDED_ONLY:  # recorded by the build (the registered modes), never given
            continue
        assert f.name in actions, f"BuildOptions.{f.name} has no generate flag"
        if f.name in DERIVED_OPTIONS:
            continue
        assert actions[f.name].default == getattr(defaults, f.name), f.name


def test_a_command_line_sets_the_fields_it_names():
    args = parser().parse_args(["generate", "--demo", "--out", "x", "--bg-size", "96", "--placement", "ground",
                                "--blend", "box", "--no-flip", "--seed", "7", "--depth", "none"])
    build, _ = generate_options(args)
    assert (build.bg_size, build.placement, build.blend, build.flip, build.seed, build.depth) == (96, "ground", "box", False, 7, "none")
    assert build == dataclasses.replace(BuildOptions(demo=True), bg_size=96, placement="ground", blend="box", flip=False, seed=7, depth="none")
