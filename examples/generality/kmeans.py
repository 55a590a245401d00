#!/usr/bin/env python3
"""KMeans on raw pixels, the reference row of the generality table.

usage: kmeans.py IMAGES.idx.gz LABELS.idx.gz K SEED...
Prints one JSON line per seed: accuracy (best one-to-one map of clusters to labels) and NMI.
Needs: python3 -m pip install scikit-learn
"""
import gzip
import json
import struct
import sys

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.cluster import KMeans
from sklearn.metrics import normalized_mutual_info_score


def idx(path):
    with gzip.open(path) if path.endswith(".gz") else open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack(">I", data[:4])[0]
    ndim = magic & 0xFF
    dims = struct.unpack(">" + "I" * ndim, data[4 : 4 + 4 * ndim])
    return np.frombuffer(data[4 + 4 * ndim :], dtype=np.uint8).reshape(dims)


def accuracy(y, c, k):
    table = np.zeros((k, max(y) + 1), dtype=np.int64)
    np.add.at(table, (c, y), 1)
    rows, cols = linear_sum_assignment(-table)
    return table[rows, cols].sum() / len(y)


images, labels, k = sys.argv[1], sys.argv[2], int(sys.argv[3])
x = idx(images).reshape(-1, np.prod(idx(images).shape[1:])).astype(np.float64) / 255.0
y = idx(labels).astype(np.int64)
for seed in map(int, sys.argv[4:]):
    c = KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(x)
    print(json.dumps({"method": "kmeans", "seed": seed, "acc": accuracy(y, c, k),
                      "nmi": normalized_mutual_info_score(y, c)}))
