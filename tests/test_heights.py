"""A foreground's height: from --fg-heights, else from the class a whole word of its file name names,
else --fg-height; its category and the height's source recorded."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from generator.pipeline.heights import assign_heights
from generator.pipeline.sources import Foreground


def _foregrounds(*names: str) -> list[Foreground]:
    return [Foreground(name, np.zeros((2, 2, 4), np.uint8)) for name in names]


def test_a_class_word_in_the_name_gives_the_class_height_unless_the_csv_lists_it(tmp_path):
    names = ("two-chairs_3", "Dog_1", "carpet", "cartoon_man", "my_thing", "horse")
    files = [Path(f"/fg/{name}.png") for name in names]
    (tmp_path / "heights.csv").write_text("name,height_m\nhorse,1.5\n")
    foregrounds = _foregrounds(*names)
    assign_heights(foregrounds, files, str(tmp_path / "heights.csv"), 1.0)
    found = {f.name: (f.category, f.height_m, f.height_source) for f in foregrounds}
    assert found == {
        "two-chairs_3": ("chair", 0.9, "class"),
        "Dog_1": ("dog", 0.6, "class"),
        "carpet": (None, 1.0, "default"),  # a car only as part of a word: no class
        "cartoon_man": ("person", 1.7, "class"),  # `man` is a whole word, `car` in `cartoon` is not
        "my_thing": (None, 1.0, "default"),
        "horse": ("horse", 1.5, "csv"),  # the file's figure wins over the table's
    }


def test_without_a_heights_file_every_name_is_looked_up():
    foregrounds = _foregrounds("cars", "carpets")
    assign_heights(foregrounds, [], None, 2.0)
    assert [(f.category, f.height_m, f.height_source) for f in foregrounds] == [("car", 1.5, "class"), (None, 2.0, "default")]


def test_demo_sprites_record_their_kind_and_demo_heights():
    from generator.config import BuildOptions
    from generator.pipeline.sources import load_sources

    foregrounds = load_sources(BuildOptions(demo=True, num_backgrounds=1, num_foregrounds=3, bg_size=64)).foregrounds
    assert all(f.category and f.height_source == "demo" and f.height_m > 0 for f in foregrounds)
