"""The reference EASE (Steck 2019's published recipe: numpy, dense float64, np.linalg.inv) on
the interactions written by `cargo run --release --example ease_speed -- ITEMS USERS RATINGS DIR`,
for the side-by-side run in benches/ease_vs_numpy.sh: seconds, peak memory.

Usage: python ease_numpy.py DIR [LAMBDA]
"""
import os
import resource
import sys
import time

import numpy as np
import scipy.sparse as sp


def main():
    path = sys.argv[1]
    lam = float(sys.argv[2]) if len(sys.argv) > 2 else 250.0
    n_users, n_items, nnz = (int(v) for v in open(os.path.join(path, "shape.txt")).read().split())
    users = np.fromfile(os.path.join(path, "users.u32"), dtype=np.uint32)
    items = np.fromfile(os.path.join(path, "items.u32"), dtype=np.uint32)
    x = sp.csr_matrix((np.ones(nnz, dtype=np.float64), (users, items)), shape=(n_users, n_items))
    started = time.perf_counter()
    g = (x.T @ x).toarray()
    g[np.diag_indices(n_items)] += lam
    p = np.linalg.inv(g)
    b = p / (-np.diag(p))
    b[np.diag_indices(n_items)] = 0.0
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"RESULT numpy ease: {n_items} items x {n_users} users, {nnz} interactions, "
          f"{os.environ.get('OPENBLAS_NUM_THREADS', '?')} threads: {seconds:.2f} s, peak {peak:.0f} MB")


if __name__ == "__main__":
    main()
