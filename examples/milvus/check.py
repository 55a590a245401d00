#!/usr/bin/env python3
"""Load imsat codes into a Milvus BINARY_VECTOR collection (metric HAMMING) and check that
its top-k equals `imsat search`'s, ties aside.

    check.py --codes codes.npy --queries queries.npy --imsat search.jsonl [-k 10] [--db milvus.db]

codes.npy / queries.npy: uint8 [N, bytes], as `imsat encode --out X.npy` or
`imsat index export --format npy` write them (bit p of a code in bit p%8 of byte p/8: Milvus
and faiss only XOR and count bits, so any fixed order gives the same distances).
search.jsonl: the output of `imsat search --json -k K` on the same codes (ids = row numbers).

Ties aside: Milvus does not promise an order among equal distances, nor which of the codes
tied at the k-th distance it returns. So per query the check is: the k distances are equal;
every id imsat returns below the k-th distance is in Milvus's answer; every id either returns
is at the distance it reports (recomputed from the codes), with no id twice; and imsat's
answer is in its promised order, by distance, then id. Exit status 1 on any difference, with
the first few printed.
"""

import argparse
import json
import os
import shutil
import sys
import tempfile
import time

import numpy as np
from pymilvus import DataType, MilvusClient

COLLECTION = "imsat_codes"


def load_collection(client, codes, batch=50_000):
    """A fresh collection holding `codes` (ids = row numbers), BIN_FLAT, HAMMING, loaded."""
    dim = 8 * codes.shape[1]
    if client.has_collection(COLLECTION):
        client.drop_collection(COLLECTION)
    schema = MilvusClient.create_schema(auto_id=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("code", DataType.BINARY_VECTOR, dim=dim)
    index = client.prepare_index_params()
    index.add_index(field_name="code", index_type="BIN_FLAT", metric_type="HAMMING")
    client.create_collection(COLLECTION, schema=schema, index_params=index)
    for start in range(0, len(codes), batch):
        rows = codes[start : start + batch]
        client.insert(
            COLLECTION,
            [{"id": start + i, "code": r.tobytes()} for i, r in enumerate(rows)],
        )
    client.flush(COLLECTION)
    client.load_collection(COLLECTION)


def search(client, queries, k, batch=1000):
    """Milvus's top-k per query: (ids, distances)."""
    out = []
    for start in range(0, len(queries), batch):
        res = client.search(
            COLLECTION,
            data=[q.tobytes() for q in queries[start : start + batch]],
            limit=k,
            anns_field="code",
            search_params={"metric_type": "HAMMING"},
        )
        for hits in res:
            out.append(([h["id"] for h in hits], [int(round(h["distance"])) for h in hits]))
    return out


def hamming(codes, query, ids):
    x = np.bitwise_xor(codes[ids], query)
    return np.unpackbits(x, axis=1).sum(axis=1).tolist()


def compare(codes, queries, imsat, milvus, k):
    """The differences (ties aside) as lines of text."""
    problems = []
    for q, ((iids, idist), (mids, mdist)) in enumerate(zip(imsat, milvus)):
        if idist != mdist:
            problems.append(f"query {q}: distances imsat {idist} vs milvus {mdist}")
            continue
        kth = idist[-1]
        below = {i for i, d in zip(iids, idist) if d < kth}
        if not below <= set(mids):
            problems.append(f"query {q}: imsat ids {sorted(below - set(mids))} below distance {kth} missing from milvus")
        if hamming(codes, queries[q], mids) != mdist:
            problems.append(f"query {q}: milvus ids {mids} are not at the distances {mdist} it reports")
        # imsat's own answer, checked whole: its ids at its distances, all different, and in
        # the order it promises (distance, then id).
        if len(set(iids)) != len(iids) or hamming(codes, queries[q], iids) != idist:
            problems.append(f"query {q}: imsat ids {iids} are not at the distances {idist} it reports")
        elif list(zip(idist, iids)) != sorted(zip(idist, iids)):
            problems.append(f"query {q}: imsat answer not in (distance, id) order: {list(zip(idist, iids))}")
    return problems


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--codes", required=True)
    ap.add_argument("--queries", required=True)
    ap.add_argument("--imsat", required=True, help="imsat search --json output")
    ap.add_argument("-k", type=int, default=10)
    ap.add_argument("--db", help="Milvus Lite file (default: a temporary one)")
    args = ap.parse_args()

    codes = np.load(args.codes)
    queries = np.load(args.queries)
    for name, a in (("codes", codes), ("queries", queries)):
        if a.dtype != np.uint8 or a.ndim != 2:
            sys.exit(f"{name}: expected uint8 [N, bytes], got {a.dtype} {a.shape}")
    if queries.shape[1] != codes.shape[1]:
        sys.exit(f"queries have {queries.shape[1]} bytes per code, codes {codes.shape[1]}")
    with open(args.imsat) as f:
        lines = [json.loads(l) for l in f if l.strip()]
    imsat = [(l["ids"], l["distances"]) for l in lines if "ids" in l]
    if len(imsat) != len(queries):
        sys.exit(f"{args.imsat}: {len(imsat)} answers for {len(queries)} queries")

    tmp = None
    db = args.db
    if db is None:
        tmp = tempfile.mkdtemp(prefix="imsat_milvus")
        db = os.path.join(tmp, "milvus.db")
    try:
        client = MilvusClient(db)
        t0 = time.perf_counter()
        load_collection(client, codes)
        t1 = time.perf_counter()
        milvus = search(client, queries, args.k)
        t2 = time.perf_counter()
        client.close()
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    problems = compare(codes, queries, imsat, milvus, args.k)
    ties = sum(1 for _, d in imsat if len(set(d)) < len(d))
    print(json.dumps({
        "codes": len(codes), "bits": 8 * codes.shape[1], "queries": len(queries), "k": args.k,
        "load_seconds": t1 - t0, "search_seconds": t2 - t1,
        "milvus_queries_per_second": len(queries) / max(t2 - t1, 1e-9),
        "queries_with_ties": ties, "differences": len(problems),
    }))
    for p in problems[:10]:
        print(p, file=sys.stderr)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
