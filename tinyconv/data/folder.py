"""ImageFolder: a user's own images, one sub-folder per class (torchvision's layout).

    root/cat/001.jpg, root/cat/002.png, ..., root/dog/xyz.jpeg

Classes are the sub-folder names in sorted order (class_to_idx, as torchvision). Images are
decoded with Pillow when a batch asks for them, converted to RGB, and brought to AlexNet's input
format (Krizhevsky et al., 2012, section 2): the shorter side rescaled to `size` (256), then the
central size x size patch. Samples are float32 (3, size, size) in [0, 1] and int64 labels; random
224/227 crops, flips and PCA colour noise are batch transforms (tinyconv.data.transforms).
"""
from __future__ import annotations

import numbers
from pathlib import Path

import numpy as np

EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".pgm", ".png", ".ppm", ".tif", ".tiff", ".webp")


def load_rgb(path, size: int) -> np.ndarray:
    """uint8 (3, size, size): shorter side resized to size (bilinear), central square kept."""
    from PIL import Image
    try:
        with Image.open(path) as img:
            img = img.convert("RGB")
            w, h = img.size
            scale = size / min(w, h)
            img = img.resize((max(size, round(w * scale)), max(size, round(h * scale))),
                             Image.Resampling.BILINEAR)
            left, top = (img.width - size) // 2, (img.height - size) // 2
            img = img.crop((left, top, left + size, top + size))
            return np.asarray(img, dtype=np.uint8).transpose(2, 0, 1).copy()
    except OSError as e:
        raise ValueError(f"ImageFolder: {path} is not a readable image ({e})") from None


class ImageFolder:
    """A dataset over root/<class>/<image> files; see the module docstring."""

    def __init__(self, root, size: int = 256, transform=None, _samples=None, _classes=None):
        self.root = Path(root)
        if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 1:
            raise ValueError(f"ImageFolder: size must be a positive int, got {size!r}")
        self.size, self.transform = int(size), transform
        if _samples is None:
            _classes, _samples = self._scan()
        self.classes = list(_classes)
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}
        self.samples = list(_samples)
        self.targets = np.array([t for _, t in self.samples], dtype=np.int64)

    def _scan(self):
        if not self.root.is_dir():
            raise FileNotFoundError(f"ImageFolder: {self.root} is not a directory")
        classes = sorted(d.name for d in self.root.iterdir() if d.is_dir() and not d.name.startswith("."))
        if not classes:
            raise ValueError(f"ImageFolder: {self.root} has no class sub-folders (expected "
                             "root/<class>/<image files>)")
        samples = []
        for idx, name in enumerate(classes):
            files = sorted(p for p in (self.root / name).rglob("*")
                           if p.is_file() and p.suffix.lower() in EXTENSIONS)
            if not files:
                raise ValueError(f"ImageFolder: class folder {self.root / name} holds no images "
                                 f"({', '.join(EXTENSIONS)})")
            samples += [(p, idx) for p in files]
        return classes, samples

    def __len__(self) -> int:
        return len(self.samples)

    def subset(self, indices, transform=None) -> "ImageFolder":
        """The same folder restricted to `indices` (e.g. a train/validation split)."""
        picked = [self.samples[int(i)] for i in indices]
        return ImageFolder(self.root, self.size, transform, _samples=picked, _classes=self.classes)

    def get_batch(self, indices, rng=None) -> tuple:
        indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        images = np.stack([load_rgb(self.samples[i][0], self.size) for i in indices]) \
            if indices.size else np.zeros((0, 3, self.size, self.size), np.uint8)
        images = images.astype(np.float32) / np.float32(255)
        if self.transform is not None:
            images = self.transform(images, rng=rng)
        return images, self.targets[indices]

    def __getitem__(self, index):
        if isinstance(index, numbers.Integral):
            if not -len(self) <= index < len(self):
                raise IndexError(f"index {index} out of range for {len(self)} images")
            return tuple(a[0] for a in self.get_batch([index % len(self)]))
        return self.get_batch(np.arange(len(self))[index])

    def __repr__(self):
        return f"ImageFolder({str(self.root)!r}, classes={len(self.classes)}, images={len(self)})"
