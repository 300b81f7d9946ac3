"""Offline negatives for measuring the input gate: images that are NOT frontal chest X-rays.

Sources: scikit-image's bundled sample images (if installed: scikit-image==0.26.0 is an offline dev tool,
not a dependency), matplotlib's sample photo, and synthetic
documents, screenshots, charts, textures and radiograph-like images drawn here. Synthetic negatives are a
stand-in for the real thing (a real hand or knee radiograph looks more like a chest film than our drawings);
the measured rates are only as good as this corpus. No negative is used to fit the gate.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

# Kinds looked at while designing the gate vs kinds only ever used to measure it.
DEV_KINDS = ("photo", "document", "texture")
HELDOUT_KINDS = ("gray_photo", "screenshot", "chart", "medical_other", "limb_radiograph")
_SKIMAGE = {
    "photo": ("astronaut", "chelsea", "coffee", "rocket", "cat", "hubble_deep_field", "colorwheel", "logo"),
    "gray_photo": ("camera", "moon", "coins", "clock"),
    "document": ("page", "text"),
    "texture": ("brick", "grass", "gravel", "checkerboard"),
    "medical_other": ("shepp_logan_phantom", "retina", "immunohistochemistry"),
}


def _skimage_images(names: tuple[str, ...]) -> list[Image.Image]:
    """Bundled scikit-image samples that load without a download (missing ones are skipped)."""
    try:
        import skimage.data as data
    except ImportError:
        return []
    images = []
    for name in names:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                array = np.asarray(getattr(data, name)())
        except Exception:  # not shipped in the wheel: needs a download we cannot do
            continue
        if array.dtype != np.uint8:
            array = np.round(255 * (array - array.min()) / max(float(np.ptp(array)), 1e-9)).astype(np.uint8)
        images.append(Image.fromarray(array).convert("RGB"))
    return images


def _matplotlib_photo() -> list[Image.Image]:
    """matplotlib's bundled portrait photo (grace_hopper.jpg), always installed with the project."""
    try:
        import matplotlib.cbook as cbook

        with cbook.get_sample_data("grace_hopper.jpg") as handle:
            return [Image.open(handle).convert("RGB")]
    except Exception:  # sample data stripped from this matplotlib build
        return []


def _synthetic_photo(rng: np.random.Generator) -> Image.Image:
    """A colourful outdoor-like scene: sky gradient, sun, ground, a few shapes."""
    w, h = int(rng.integers(400, 900)), int(rng.integers(300, 700))
    y = np.linspace(0, 1, h)[:, None, None]
    top, bottom = rng.integers(60, 255, 3), rng.integers(60, 255, 3)
    sky = (top * (1 - y) + bottom * y) * np.ones((1, w, 1))
    image = Image.fromarray(sky.astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(3, 9))):
        x0, y0 = int(rng.integers(0, w - 50)), int(rng.integers(0, h - 50))
        box = (x0, y0, x0 + int(rng.integers(30, 200)), y0 + int(rng.integers(30, 200)))
        draw.ellipse(box, fill=tuple(int(v) for v in rng.integers(0, 256, 3)))
    draw.rectangle(
        (0, int(h * rng.uniform(0.6, 0.85)), w, h), fill=tuple(int(v) for v in rng.integers(0, 200, 3))
    )
    return image.filter(ImageFilter.GaussianBlur(1))


def _variants(image: Image.Image, rng: np.random.Generator, count: int) -> list[Image.Image]:
    """Random crops and rescales of an image (at least 96 px a side)."""
    out = []
    for _ in range(count):
        w, h = image.size
        cw, ch = int(w * rng.uniform(0.6, 1.0)), int(h * rng.uniform(0.6, 1.0))
        x0, y0 = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
        crop = image.crop((x0, y0, x0 + cw, y0 + ch))
        scale = rng.uniform(0.8, 2.0)
        size = (max(96, int(cw * scale)), max(96, int(ch * scale)))
        out.append(crop.resize(size, Image.Resampling.BICUBIC))
    return out


def _document(rng: np.random.Generator) -> Image.Image:
    """A page of text lines, sometimes with a table or a logo."""
    page = Image.new(
        "L", (int(rng.integers(500, 900)), int(rng.integers(700, 1200))), int(rng.integers(225, 256))
    )
    draw = ImageDraw.Draw(page)
    for y in range(40, page.height - 40, int(rng.integers(14, 30))):
        if rng.random() < 0.85:
            words = " ".join("".join(rng.choice(list("abcdefghij0123")) for _ in range(6)) for _ in range(12))
            draw.text((40, y), words, fill=int(rng.integers(0, 80)))
    if rng.random() < 0.5:
        draw.rectangle((60, 100, page.width - 60, 260), outline=0, width=2)
    return page


def _screenshot(rng: np.random.Generator) -> Image.Image:
    """A UI-like screen: title bar, panels, buttons, text."""
    w, h = int(rng.integers(800, 1600)), int(rng.integers(500, 1000))
    screen = Image.new("RGB", (w, h), tuple(int(v) for v in rng.integers(200, 256, 3)))
    draw = ImageDraw.Draw(screen)
    draw.rectangle((0, 0, w, 40), fill=tuple(int(v) for v in rng.integers(0, 120, 3)))
    for _ in range(int(rng.integers(4, 12))):
        x0, y0 = int(rng.integers(0, w - 100)), int(rng.integers(50, h - 60))
        box = (x0, y0, x0 + int(rng.integers(60, 400)), y0 + int(rng.integers(20, 200)))
        draw.rectangle(box, fill=tuple(int(v) for v in rng.integers(0, 256, 3)), outline=(0, 0, 0))
        draw.text((x0 + 5, y0 + 5), "Button label", fill=(0, 0, 0))
    return screen if rng.random() < 0.7 else screen.convert("L").convert("RGB")


def _chart(rng: np.random.Generator) -> Image.Image:
    """A matplotlib line/bar chart rendered to an image."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(rng.uniform(4, 8), rng.uniform(3, 6)), dpi=80)
    x = np.arange(20)
    if rng.random() < 0.5:
        ax.plot(x, np.cumsum(rng.normal(size=20)), color="k" if rng.random() < 0.5 else "C0")
    else:
        ax.bar(x, rng.random(20), color="gray")
    ax.set_title("Monthly admissions")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def _limb_radiograph(rng: np.random.Generator) -> Image.Image:
    """A crude hand/forearm/knee-like radiograph: bright rods (bones) in a soft-tissue shadow on black."""
    w, h = int(rng.integers(400, 900)), int(rng.integers(500, 1100))
    film = Image.new("L", (w, h), int(rng.integers(0, 30)))
    draw = ImageDraw.Draw(film)
    cx = w / 2 + rng.normal(0, w / 10)
    draw.ellipse((cx - w * 0.3, -h * 0.1, cx + w * 0.3, h * 1.1), fill=int(rng.integers(60, 110)))
    for _ in range(int(rng.integers(1, 6))):
        x0 = cx + rng.normal(0, w / 8)
        y0, y1 = rng.uniform(0, h / 3), rng.uniform(h / 2, h)
        width = rng.uniform(w / 30, w / 10)
        draw.line(
            (x0, y0, x0 + rng.normal(0, w / 10), y1), fill=int(rng.integers(170, 250)), width=int(width)
        )
    film = film.filter(ImageFilter.GaussianBlur(rng.uniform(2, 6)))
    noise = rng.normal(0, 6, (h, w))
    return Image.fromarray(np.clip(np.asarray(film, dtype=np.float64) + noise, 0, 255).astype(np.uint8))


def _texture(rng: np.random.Generator) -> Image.Image:
    """Smooth or speckled noise fields."""
    size = int(rng.integers(200, 600))
    field = rng.normal(0, 1, (size // 8, size // 8))
    image = Image.fromarray(np.uint8((field - field.min()) / np.ptp(field) * 255)).resize((size, size))
    return image.convert("RGB") if rng.random() < 0.5 else image


_SYNTHETIC: dict[str, Callable[[np.random.Generator], Image.Image]] = {
    "photo": _synthetic_photo,
    "document": _document,
    "screenshot": _screenshot,
    "chart": _chart,
    "limb_radiograph": _limb_radiograph,
    "texture": _texture,
}


def _encode(image: Image.Image, rng: np.random.Generator) -> bytes:
    """JPEG or PNG, like an upload."""
    out = io.BytesIO()
    if rng.random() < 0.5:
        image.convert("RGB" if image.mode not in ("L", "RGB") else image.mode).save(out, "JPEG", quality=85)
    else:
        image.save(out, "PNG")
    return out.getvalue()


def negative_corpus(per_kind: int = 40, seed: int = 7) -> dict[str, list[bytes]]:
    """{kind: [encoded image bytes]} for every dev and held-out kind."""
    rng = np.random.default_rng(seed)
    corpus: dict[str, list[bytes]] = {}
    for kind in (*DEV_KINDS, *HELDOUT_KINDS):
        images: list[Image.Image] = []
        bases = _skimage_images(_SKIMAGE.get(kind, ()))
        if kind == "photo":
            bases += _matplotlib_photo()
        if kind == "gray_photo":
            bases += [b.convert("L") for b in _skimage_images(_SKIMAGE["photo"][:5]) + _matplotlib_photo()]
        maker = _SYNTHETIC.get(kind)
        share = per_kind // 2 if maker else per_kind  # half sample images, half synthetic, where both exist
        for base in bases:
            images += _variants(base, rng, max(2, -(-share // len(bases))))
        while maker and len(images) < per_kind:
            images.append(maker(rng))
        corpus[kind] = [_encode(image, rng) for image in images]
    return corpus
