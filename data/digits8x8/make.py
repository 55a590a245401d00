#!/usr/bin/env python3
"""Write scikit-learn's 8x8 digits (load_digits) as gzipped IDX files beside this script.

Pixels: sklearn's counts 0..16 (on-pixels in a 4x4 block) become u8 as round(v * 255 / 16),
so 0 -> 0 and 16 -> 255, the range MNIST's IDX files use. Deterministic (gzip mtime 0).
Needs: python3 -m pip install scikit-learn
"""
import gzip
import pathlib
import struct

import numpy as np
from sklearn.datasets import load_digits

here = pathlib.Path(__file__).resolve().parent
d = load_digits()
images = d.images  # float64 [1797, 8, 8], integers 0..16
assert images.shape == (1797, 8, 8) and images.min() == 0 and images.max() == 16
assert np.all(images == np.round(images))
pixels = np.round(images * 255.0 / 16.0).astype(np.uint8)
labels = d.target.astype(np.uint8)


def write(name, header, body):
    with open(here / name, "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as f:
            f.write(header + body)


n = len(labels)
write("images-idx3-ubyte.gz", struct.pack(">IIII", 0x803, n, 8, 8), pixels.tobytes())
write("labels-idx1-ubyte.gz", struct.pack(">II", 0x801, n), labels.tobytes())
print(n, "images; class counts", np.bincount(labels).tolist())
