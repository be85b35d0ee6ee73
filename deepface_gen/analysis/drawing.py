"""Pictures of numbers, drawn with numpy: a colour map, heat maps, scatter plots,
outlines. Small on purpose: the analysis tools write pictures without a plotting
library."""

from __future__ import annotations

import numpy as np

# Anchors of a perceptually ordered map (dark blue -> teal -> yellow, like viridis).
_ANCHORS = np.array(
    [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]], np.float64
)


def colormap(values: np.ndarray, low: float | None = None, high: float | None = None) -> np.ndarray:
    """uint8 RGB (..., 3) for ``values`` scaled from ``low`` (dark) to ``high`` (bright);
    the range defaults to the values' own."""
    values = np.asarray(values, np.float64)
    low = float(np.nanmin(values)) if low is None else low
    high = float(np.nanmax(values)) if high is None else high
    t = np.clip((values - low) / max(high - low, 1e-12), 0.0, 1.0) * (len(_ANCHORS) - 1)
    i = np.minimum(t.astype(int), len(_ANCHORS) - 2)
    frac = (t - i)[..., None]
    return np.round(_ANCHORS[i] * (1 - frac) + _ANCHORS[i + 1] * frac).astype(np.uint8)


def heat_map(values: np.ndarray, size: int, low: float, high: float) -> np.ndarray:
    """A 2-D array of values as a (size, size, 3) uint8 picture, nearest-neighbour."""
    values = np.asarray(values)
    rows = np.minimum(np.arange(size) * values.shape[0] // size, values.shape[0] - 1)
    cols = np.minimum(np.arange(size) * values.shape[1] // size, values.shape[1] - 1)
    return colormap(values[np.ix_(rows, cols)], low, high)


def colour_bar(width: int, low: float, high: float, label: str, ticks: int = 5) -> np.ndarray:
    """A labelled colour bar (H, ``width``, 3) uint8: the map from ``low`` to ``high`` with
    ticks at round values between them and ``label`` below (what the colours mean)."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default(size=12)
    margin, bar_h = 24, 12
    image = Image.new("RGB", (width, bar_h + 40), (255, 255, 255))
    ramp = colormap(np.linspace(low, high, width - 2 * margin), low, high)
    image.paste(Image.fromarray(np.repeat(ramp[None], bar_h, axis=0)), (margin, 0))
    draw = ImageDraw.Draw(image)
    for tick in _round_ticks(low, high, ticks):
        x = margin + (tick - low) / max(high - low, 1e-12) * (width - 2 * margin - 1)
        draw.line([(x, bar_h), (x, bar_h + 4)], fill=(0, 0, 0))
        draw.text((x, bar_h + 5), f"{tick:g}", fill=(0, 0, 0), font=font, anchor="ma")
    draw.text((width / 2, bar_h + 22), label, fill=(0, 0, 0), font=font, anchor="ma")
    return np.asarray(image)


def scatter(
    points: np.ndarray, colours: np.ndarray, size: int = 640, radius: int = 4
) -> np.ndarray:
    """Discs at ``points`` (N, 2), scaled into a white (size, size, 3) canvas, in the
    given uint8 ``colours`` (N, 3); later points are drawn over earlier ones."""
    canvas = np.full((size, size, 3), 255, np.uint8)
    points = np.asarray(points, np.float64)
    span = np.maximum(points.max(0) - points.min(0), 1e-12)
    scaled = (points - points.min(0)) / span * (size - 4 * radius) + 2 * radius
    yy, xx = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    disc = yy**2 + xx**2 <= radius**2
    for (x, y), colour in zip(np.round(scaled).astype(int), colours, strict=True):
        patch = canvas[y - radius : y + radius + 1, x - radius : x + radius + 1]
        patch[disc] = colour
    return canvas


def outline(
    image: np.ndarray, corners: np.ndarray, colour=(255, 0, 0), width: int = 2
) -> np.ndarray:
    """A copy of ``image`` with the closed polygon ``corners`` (K, 2) as (x, y) drawn on it."""
    out = np.array(image, copy=True)
    h, w = out.shape[:2]
    for a, b in zip(corners, np.roll(corners, -1, axis=0), strict=True):
        steps = int(np.ceil(np.abs(b - a).max())) + 1
        for t in np.linspace(0.0, 1.0, steps):
            x, y = np.round(a + t * (b - a)).astype(int)
            out[max(y - width // 2, 0) : min(y + width // 2 + 1, h),
                max(x - width // 2, 0) : min(x + width // 2 + 1, w)] = colour  # fmt: skip
    return out


# Distinct line colours (Tableau 10), for up to ten series on one chart.
SERIES_COLOURS = (
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
)


def line_chart(
    series: dict[str, tuple[np.ndarray, np.ndarray]],
    title: str,
    x_label: str,
    y_label: str,
    size: tuple[int, int] = (480, 320),
    reference: tuple[str, float] | None = None,
) -> np.ndarray:
    """A labelled line chart as uint8 (H, W, 3): each named series of (x, y) points as
    a coloured line with dots, axes with ticks at round values, a title, axis labels, a
    legend, and an optional dashed horizontal ``reference`` line (name, y)."""
    from PIL import Image, ImageDraw, ImageFont  # the one drawing here that needs text

    width, height = size
    font = ImageFont.load_default(size=12)
    image = Image.new("RGB", size, (255, 255, 255))
    draw = ImageDraw.Draw(image)
    left, right, top, bottom = 58, width - 24, 28, height - 42
    legend = right - 8 - max(font.getlength(name) for name in series) - 26
    xs = np.concatenate([np.asarray(x, float) for x, _ in series.values()])
    ys = np.concatenate([np.asarray(y, float) for _, y in series.values()])
    if reference is not None:
        ys = np.append(ys, reference[1])
    x_ticks, y_ticks = _round_ticks(xs.min(), xs.max()), _round_ticks(ys.min(), ys.max())
    x0, x1, y0, y1 = x_ticks[0], x_ticks[-1], y_ticks[0], y_ticks[-1]
    px = lambda x: left + (x - x0) / max(x1 - x0, 1e-12) * (right - left)
    py = lambda y: bottom - (y - y0) / max(y1 - y0, 1e-12) * (bottom - top)
    for tick in x_ticks:
        draw.line([(px(tick), bottom), (px(tick), bottom + 4)], fill=(0, 0, 0))
        draw.text((px(tick), bottom + 6), f"{tick:g}", fill=(0, 0, 0), font=font, anchor="ma")
    for tick in y_ticks:
        draw.line([(left - 4, py(tick)), (right, py(tick))], fill=(225, 225, 225))
        draw.text((left - 6, py(tick)), f"{tick:g}", fill=(0, 0, 0), font=font, anchor="rm")
    draw.line([(left, top), (left, bottom), (right, bottom)], fill=(0, 0, 0))
    if reference is not None:
        name, value = reference
        for start in np.arange(left, right, 8):
            draw.line([(start, py(value)), (min(start + 4, right), py(value))], fill=(90, 90, 90))
        draw.text((right - 2, py(value) - 2), name, fill=(90, 90, 90), font=font, anchor="rb")
    for k, (name, (x, y)) in enumerate(series.items()):
        colour = SERIES_COLOURS[k % len(SERIES_COLOURS)]
        points = [(px(a), py(b)) for a, b in zip(x, y, strict=True)]
        if len(points) > 1:
            draw.line(points, fill=colour, width=2)
        for a, b in points:
            draw.ellipse([a - 3, b - 3, a + 3, b + 3], fill=colour)
        draw.rectangle([legend, top + 6 + 16 * k, legend + 12, top + 16 + 16 * k], fill=colour)
        draw.text((legend + 18, top + 11 + 16 * k), name, fill=(0, 0, 0), font=font, anchor="lm")
    draw.text((width / 2, 6), title, fill=(0, 0, 0), font=font, anchor="ma")
    draw.text(((left + right) / 2, height - 16), x_label, fill=(0, 0, 0), font=font, anchor="ma")
    label = Image.new("RGB", (bottom - top, 16), (255, 255, 255))
    ImageDraw.Draw(label).text(((bottom - top) / 2, 8), y_label, fill=(0, 0, 0), font=font,
                               anchor="mm")  # fmt: skip
    image.paste(label.rotate(90, expand=True), (2, top))
    return np.asarray(image)


def _round_ticks(low: float, high: float, count: int = 5) -> np.ndarray:
    """About ``count`` ticks at round values (1, 2 or 5 times a power of ten) that
    cover [low, high]."""
    span = max(high - low, abs(high) * 1e-3, 1e-9)
    raw = span / count
    power = 10 ** np.floor(np.log10(raw))
    step = power * min((m for m in (1, 2, 5, 10) if m * power >= raw), default=10)
    return np.arange(np.floor(low / step) * step, high + step * 0.999, step)
