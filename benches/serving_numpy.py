"""The reference for benches/serving_scale.sh: numpy (OpenBLAS) single-query top-10 over the same
embeddings pgrec serves, written by the script as binary float32 files. Prints the p50 and p99
of 200 queries (after 20 warm-up queries) for
  recommend:     scores = bias_i + Q @ p_u, top 10 by argpartition, sorted;
  similar_items: cosine = Qn @ q_i (rows normalised once, outside the timing), top 10.

Usage: python serving_numpy.py DIR
"""
import os
import sys
import time

import numpy as np


def main():
    d = sys.argv[1]
    n_items, n_users, k = (int(v) for v in open(os.path.join(d, "shape.txt")).read().split())
    items = np.fromfile(os.path.join(d, "items.f32"), dtype=np.float32).reshape(n_items, k)
    bias = np.fromfile(os.path.join(d, "item_bias.f32"), dtype=np.float32)
    users = np.fromfile(os.path.join(d, "users.f32"), dtype=np.float32).reshape(n_users, k)
    norms = np.linalg.norm(items, axis=1)
    norms[norms == 0] = 1
    normed = items / norms[:, None]
    rng = np.random.default_rng(1)

    def top10(scores, skip=None):
        if skip is not None:
            scores[skip] = -np.inf
        idx = np.argpartition(-scores, 10)[:10]
        return idx[np.argsort(-scores[idx])]

    def timed(fn, queries):
        out = []
        for q in queries:
            t = time.perf_counter()
            fn(q)
            out.append(time.perf_counter() - t)
        return np.array(out[20:]) * 1000

    rec = timed(lambda u: top10(bias + items @ users[u]), rng.integers(0, n_users, 220))
    sim = timed(lambda i: top10(normed @ normed[i], i), rng.integers(0, n_items, 220))
    for name, t in (("recommend", rec), ("similar_items", sim)):
        print(f"RESULT numpy {name}: {n_items} items x {k}: p50 {np.percentile(t, 50):.3f} ms, "
              f"p99 {np.percentile(t, 99):.3f} ms")


if __name__ == "__main__":
    main()
