#!/usr/bin/env python3
"""Classic binarisations of the same feature rows, as imsat `.npy` codes, for
`imsat eval --codes X.npy --labels y.npy` (same retrieval protocol and split as an IMSAT hash):

* LSH: signs of random Gaussian projections of the centred rows (Charikar's SimHash);
* ITQ: PCA to `bits` dimensions, then the rotation that minimises the quantisation error
  (Gong & Lazebnik 2011), 50 iterations.

    baselines.py x.npy BITS OUT_DIR     -> OUT_DIR/lsh{BITS}.npy, OUT_DIR/itq{BITS}.npy

Codes are packed as imsat writes them: bit p in bit p%8 of byte p/8 (np.packbits little).
"""

import sys

import numpy as np


def pack(bits):
    return np.packbits(bits.astype(np.uint8), axis=1, bitorder="little")


def lsh(x, bits, rng):
    w = rng.standard_normal((x.shape[1], bits))
    return pack(x @ w > 0)


def itq(x, bits, rng, iterations=50):
    # PCA (the covariance's top eigenvectors), then alternate B = sign(VR) and the
    # orthogonal Procrustes rotation R.
    cov = np.cov(x, rowvar=False)
    vals, vecs = np.linalg.eigh(cov)
    v = x @ vecs[:, np.argsort(vals)[::-1][:bits]]
    r, _ = np.linalg.qr(rng.standard_normal((bits, bits)))
    for _ in range(iterations):
        b = np.where(v @ r >= 0, 1.0, -1.0)
        u, _, wt = np.linalg.svd(b.T @ v)
        r = (u @ wt).T
    return pack(v @ r > 0)


def main():
    path, bits, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    x = np.load(path).astype(np.float64)
    x -= x.mean(axis=0)
    rng = np.random.default_rng(0)
    np.save(f"{out}/lsh{bits}.npy", lsh(x, bits, rng))
    np.save(f"{out}/itq{bits}.npy", itq(x, bits, rng))


if __name__ == "__main__":
    main()
