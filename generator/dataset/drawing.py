"""The gallery's pictures, drawn with Pillow: contact sheets (tiles in a grid with labels and an optional
colour bar) and step histograms. Pillow, not matplotlib: importing matplotlib and drawing the figures with
it costs more than all the rest of a one-sample build, while the sheets are
pixels pasted side by side and the plots are a few filled histograms on two axes."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

import numpy as np
from PIL import Image, ImageDraw, ImageFont

BLACK, GREY, WHITE = (0, 0, 0), (110, 110, 110), (255, 255, 255)
BLUE, ORANGE = (31, 119, 180), (255, 127, 14)  # the first two colours of matplotlib's default cycle
GAP, LABEL, TITLE, BAR = 8, 16, 34, 80  # px
MIN_TILE = 160  # small images (tests, --bg-size 64) are enlarged so their labels fit

# matplotlib's "turbo" colour map (Google's, Apache-2.0) as 256 RGB bytes: the value of matplotlib's
# colormaps["turbo"](i)[:3] * 255 truncated to uint8 (tests/test_gallery.py compares the two).
TURBO = np.frombuffer(bytes.fromhex(
    "30123b31154232184a341b51351e5836215f37236538266c3929723a2c793b2f7f3c32853c358b3d37913e3a963f3d9c"
    "4040a14043a64145ab4148b0424bb5434eba4350be4353c24456c74458cb455bce455ed24560d64563d94666dd4668e0"
    "466be3466de64670e84673eb4675ed4678f0467af2467df4467ff64682f84584f94587fb4589fc448cfd438efd4291fe"
    "4193fe4096fe3f98fe3e9bfe3c9dfd3ba0fc39a2fc38a5fb36a8f934aaf833acf631aff52fb1f32db4f12bb6ef2ab9ed"
    "28bbeb26bde925c0e623c2e421c4e120c6df1ec9dc1dcbda1ccdd71bcfd41ad1d219d3cf18d5cc18d7ca17d9c717dac4"
    "17dcc217debf18e0bd18e1ba19e3b81ae4b61be5b41de7b11ee8af20e9ac22eba924eca627eda329eea02cef9d2ff09a"
    "32f19735f39438f4913bf48d3ff58a42f68746f7834af8804df97c51f97955fa7659fb725dfb6f61fc6c65fc6869fd65"
    "6dfd6271fd5f74fe5c78fe597cfe5680fe5384fe5087fe4d8bfe4b8efe4892fe4695fe4498fe429bfd409efd3ea1fc3d"
    "a4fc3ba6fb3aa9fb39acfa37aef937b1f836b3f835b6f735b9f534bbf434bef334c0f233c3f133c5ef33c8ee33caed33"
    "cdeb34cfea34d1e834d4e735d6e535d8e335dae236dde036dfde36e1dc37e3da37e5d838e7d738e8d538ead339ecd139"
    "edcf39efcd39f0cb3af2c83af3c63af4c43af6c23af7c039f8be39f9bc39f9ba38fab737fbb537fbb336fcb035fcae34"
    "fdab33fda932fda631fda330fea12ffe9e2efe9b2dfe982cfd952bfd9229fd8f28fd8c27fc8926fc8624fb8323fb8022"
    "fa7d20fa7a1ff9771ef8741cf7711bf76e1af66b18f56817f46516f36315f26014f15d13ef5a11ee5810ed550fec520e"
    "ea500de94d0de84b0ce6490be5460ae3440ae24209e04008de3e08dd3c07db3a07d93806d73606d63405d43205d23005"
    "d02f04ce2d04cb2b03c92903c72803c52602c32402c02302be2102bb1f01b91e01b61c01b41b01b11901ae1801ac1601"
    "a91501a61401a31201a011019d10019a0e01970d01940c01910b018e0a018b09018708018407018106027d05027a0402"
), np.uint8).reshape(256, 3)


@lru_cache(maxsize=None)
def font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    """Pillow's own font (no font files to find on the system); its bitmap font where Pillow lacks FreeType."""
    return ImageFont.load_default(size)


def turbo(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """RGB uint8 of `values` mapped linearly from `low` (first colour) to `high` (last colour); NaN (unknown
    depth) is black."""
    values = np.asarray(values, np.float64)
    scaled = (values - low) / (high - low) if high > low else np.zeros(np.shape(values))
    unknown = np.isnan(values)
    rgb = TURBO[np.clip((np.where(unknown, 0, scaled) * 256).astype(np.int64), 0, 255)]
    rgb[unknown] = 0
    return rgb


@dataclass(frozen=True)
class ColourBar:
    low: float
    high: float
    label: str


# --- contact sheets -----------------------------------------------------------------------------------


def mosaic(tiles: list[np.ndarray], labels: list[str], title: str, columns: int,
           headings: list[str] | None = None, colour_bar: ColourBar | None = None) -> Image.Image:
    """`tiles` (RGB uint8) in a grid, pasted 1:1 (enlarged by a whole factor when small), a label under
    each, optional column headings and an optional turbo colour bar on the right."""
    tile_h, tile_w = max(t.shape[0] for t in tiles), max(t.shape[1] for t in tiles)
    zoom = max(1, -(-MIN_TILE // max(tile_h, tile_w)))
    tile_h, tile_w = tile_h * zoom, tile_w * zoom
    rows = -(-len(tiles) // columns)
    top = TITLE + (LABEL if headings else 0)
    image_w = columns * (tile_w + GAP) + GAP
    height = top + rows * (tile_h + LABEL + GAP)
    canvas = np.full((height, image_w + (BAR if colour_bar else 0), 3), 255, dtype=np.uint8)
    centres = []
    for i, tile in enumerate(tiles):
        tile = np.repeat(np.repeat(tile, zoom, axis=0), zoom, axis=1) if zoom > 1 else tile
        row, column = divmod(i, columns)
        y = top + row * (tile_h + LABEL + GAP) + (tile_h - tile.shape[0]) // 2
        x = GAP + column * (tile_w + GAP) + (tile_w - tile.shape[1]) // 2
        canvas[y : y + tile.shape[0], x : x + tile.shape[1]] = tile
        centres.append((GAP + column * (tile_w + GAP) + tile_w / 2, top + row * (tile_h + LABEL + GAP) + tile_h + LABEL / 2))
    picture = Image.fromarray(canvas)
    draw = ImageDraw.Draw(picture)
    draw.text((image_w / 2, TITLE / 2), title, fill=BLACK, font=font(15), anchor="mm")
    for column, heading in enumerate(headings or []):
        draw.text((GAP + column * (tile_w + GAP) + tile_w / 2, TITLE + LABEL / 2), heading, fill=BLACK, font=font(12), anchor="mm")
    for (x, y), label in zip(centres, labels):
        draw.text((x, y), _fitted(label, font(10), tile_w + GAP), fill=BLACK, font=font(10), anchor="mm")
    if colour_bar:
        _draw_colour_bar(picture, colour_bar, image_w + 8, top, height - GAP - LABEL)
    return picture


def _fitted(text: str, face, width: float) -> str:
    """`text`, cut short with an ellipsis where it would run into the next tile's label."""
    if face.getlength(text) <= width:
        return text
    while text and face.getlength(text + "…") > width:
        text = text[:-1]
    return text + "…"


def _draw_colour_bar(picture: Image.Image, bar: ColourBar, x: int, top: int, bottom: int) -> None:
    """A vertical turbo gradient from `bar.high` (top) to `bar.low`, with ticks and a rotated label."""
    length = bottom - top
    values = np.linspace(bar.high, bar.low, length)
    picture.paste(Image.fromarray(np.repeat(turbo(values, bar.low, bar.high)[:, None], 16, axis=1)), (x, top))
    draw = ImageDraw.Draw(picture)
    draw.rectangle((x, top, x + 15, bottom - 1), outline=BLACK)
    ticks, step = nice_ticks(bar.low, bar.high, 5)
    for value in ticks:
        y = top + (bar.high - value) / (bar.high - bar.low) * (length - 1) if bar.high > bar.low else bottom - 1
        draw.line((x + 16, y, x + 19, y), fill=BLACK)
        draw.text((x + 21, y), tick_text(value, step), fill=BLACK, font=font(10), anchor="lm")
    _vertical_text(picture, bar.label, (x + BAR - 12, (top + bottom) / 2), font(10))


def _vertical_text(picture: Image.Image, text: str, centre: tuple[float, float], face) -> None:
    width = int(face.getlength(text)) + 4
    strip = Image.new("L", (width, 16), 0)
    ImageDraw.Draw(strip).text((width / 2, 8), text, fill=255, font=face, anchor="mm")
    strip = strip.rotate(90, expand=True)
    position = (int(centre[0] - strip.width / 2), int(centre[1] - strip.height / 2))
    picture.paste(Image.new("RGB", strip.size, BLACK), position, strip)


# --- histograms ---------------------------------------------------------------------------------------


@dataclass
class Steps:
    """One histogram: `counts` over the bins between consecutive `edges`, filled with `colour`; counts
    that are not finite (a density over no values) are drawn as zero."""
    counts: np.ndarray
    edges: np.ndarray
    label: str
    colour: tuple[int, int, int] = BLUE
    opacity: float = 1.0

    def __post_init__(self):
        counts = np.asarray(self.counts, np.float64)
        self.counts = np.where(np.isfinite(counts), counts, 0.0)


@dataclass
class Panel:
    title: str
    x_label: str
    y_label: str
    steps: list[Steps]
    x_limits: tuple[float, float] | None = None  # the bins' span when None
    x_text: Callable[[float, float], str] | None = None  # (value, tick step) -> tick label
    legend: bool = False


PANEL_W, PANEL_H = 480, 272
LEFT, RIGHT, TOP, BOTTOM = 62, 14, 28, 44  # margins around the axes, px


def plot(panels: list[Panel]) -> Image.Image:
    """The panels side by side, each a filled step histogram (bars drawn as one outline per series) on
    axes with ticks, labels and an optional legend."""
    picture = Image.new("RGB", (PANEL_W * len(panels), PANEL_H), WHITE)
    for i, panel in enumerate(panels):
        _draw_panel(picture, panel, i * PANEL_W)
    return picture


def _draw_panel(picture: Image.Image, panel: Panel, x0: int) -> None:
    left, right, top, bottom = x0 + LEFT, x0 + PANEL_W - RIGHT, TOP, PANEL_H - BOTTOM
    x_low, x_high = panel.x_limits or (min(float(s.edges[0]) for s in panel.steps), max(float(s.edges[-1]) for s in panel.steps))
    if x_high <= x_low:
        x_high = x_low + 1
    y_high = max(float(np.max(s.counts)) for s in panel.steps) * 1.05 or 1.0

    def to_x(value):
        return left + (np.asarray(value, np.float64) - x_low) / (x_high - x_low) * (right - left)

    def to_y(value):
        return bottom - np.asarray(value, np.float64) / y_high * (bottom - top)

    layer = Image.new("RGBA", picture.size, (0, 0, 0, 0))
    for steps in panel.steps:
        fill = Image.new("RGBA", picture.size, (0, 0, 0, 0))
        xs, ys = to_x(np.repeat(steps.edges, 2)), to_y(np.concatenate([[0], np.repeat(steps.counts, 2), [0]]))
        ImageDraw.Draw(fill).polygon(list(zip(np.clip(xs, left, right).tolist(), ys.tolist())), fill=(*steps.colour, round(255 * steps.opacity)))
        layer = Image.alpha_composite(layer, fill)
    picture.paste(layer.convert("RGB"), (0, 0), layer)
    draw = ImageDraw.Draw(picture)
    draw.rectangle((left, top, right, bottom), outline=BLACK)
    x_ticks, x_step = nice_ticks(x_low, x_high, 6)
    for value in x_ticks:
        x = float(to_x(value))
        draw.line((x, bottom, x, bottom + 4), fill=BLACK)
        text = panel.x_text(value, x_step) if panel.x_text else tick_text(value, x_step)
        draw.text((x, bottom + 6), text, fill=BLACK, font=font(10), anchor="mt")
    y_ticks, y_step = nice_ticks(0.0, y_high, 5)
    for value in y_ticks:
        y = float(to_y(value))
        draw.line((left - 4, y, left, y), fill=BLACK)
        draw.text((left - 6, y), tick_text(value, y_step), fill=BLACK, font=font(10), anchor="rm")
    draw.text(((left + right) / 2, TOP / 2), panel.title, fill=BLACK, font=font(12), anchor="mm")
    draw.text(((left + right) / 2, PANEL_H - 12), panel.x_label, fill=BLACK, font=font(11), anchor="mm")
    _vertical_text(picture, panel.y_label, (x0 + 10, (top + bottom) / 2), font(11))
    if panel.legend:
        _draw_legend(draw, panel.steps, right - 8, top + 8)


def _draw_legend(draw: ImageDraw.ImageDraw, steps: list[Steps], right: int, top: int) -> None:
    width = max(font(10).getlength(s.label) for s in steps) + 34
    draw.rectangle((right - width, top, right, top + 6 + 16 * len(steps)), fill=WHITE, outline=GREY)
    for i, s in enumerate(steps):
        y = top + 6 + 16 * i
        swatch = tuple(round(255 - s.opacity * (255 - c)) for c in s.colour)  # the fill's colour over white
        draw.rectangle((right - width + 6, y + 2, right - width + 24, y + 11), fill=swatch)
        draw.text((right - width + 30, y + 7), s.label, fill=BLACK, font=font(10), anchor="lm")


def nice_ticks(low: float, high: float, count: int) -> tuple[list[float], float]:
    """About `count` round values (steps of 1, 2, 2.5 or 5 times a power of ten) from `low` to `high`,
    and their step."""
    if not high > low:
        return [low], 1.0
    raw = (high - low) / count
    magnitude = 10.0 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw * (1 - 1e-9))
    first = math.ceil(low / step - 1e-9) * step
    return [first + i * step for i in range(int((high - first) / step + 1e-9) + 1)], step


def tick_text(value: float, step: float) -> str:
    """`value` with as many decimals as the tick step needs, thousands separated; in scientific notation
    where that would be long (steps under 1e-4, values of 1e9 and more: a model's units can be anything)."""
    exponent = math.floor(math.log10(step) + 1e-9)
    mantissa = round(step / 10**exponent, 6)  # 1, 2, 2.5 or 5: 2.5 needs one decimal more
    extra = 1 if mantissa == 2.5 else 0
    if exponent < -4 or abs(value) >= 1e9:
        magnitude = math.floor(math.log10(abs(value))) if value else exponent
        return f"{value:.{min(max(0, magnitude - exponent + extra), 4)}e}"
    return f"{value:,.{max(0, -exponent + extra)}f}"


def percent_text(value: float, step: float) -> str:
    return tick_text(value * 100, step * 100) + "%"
