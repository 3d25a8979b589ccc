"""implicit 0.7.3's CPU ALS (conjugate gradient) on the interactions written by
`cargo run --release --example ials_speed -- N DIR`: seconds per iteration, CPU time and peak
memory, for the side-by-side run in benches/ials_vs_implicit.sh.

Usage: python implicit_als.py DIR ITERATIONS THREADS
"""
import os
import resource
import sys
import time

import numpy as np
import scipy.sparse as sp
from implicit.cpu.als import AlternatingLeastSquares


def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main():
    path, iterations, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    n_users, n_items, nnz = (int(v) for v in open(os.path.join(path, "shape.txt")).read().split())
    users = np.fromfile(os.path.join(path, "users.u32"), dtype=np.uint32)
    items = np.fromfile(os.path.join(path, "items.u32"), dtype=np.uint32)
    assert len(users) == nnz == len(items)
    ones = np.ones(nnz, dtype=np.float32)
    user_items = sp.csr_matrix((ones, (users, items)), shape=(n_users, n_items))
    del users, items, ones
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    model = AlternatingLeastSquares(
        factors=64,
        regularization=0.01,
        alpha=1.0,
        iterations=iterations,
        use_cg=True,
        calculate_training_loss=False,
        num_threads=threads,
        random_state=1,
    )
    walls, cpus = [], []
    mark = [time.perf_counter(), cpu()]

    def callback(iteration, elapsed, loss):
        now, c = time.perf_counter(), cpu()
        walls.append(now - mark[0])
        cpus.append(c - mark[1])
        mark[0], mark[1] = now, c
        print(f"iteration {iteration + 1}: {walls[-1]:.3f} s (cpu {cpus[-1]:.2f} s)", flush=True)

    start, c0 = time.perf_counter(), cpu()
    mark[0], mark[1] = start, c0
    model.fit(user_items, show_progress=False, callback=callback)
    total = time.perf_counter() - start
    # The first interval also holds fit's set-up (the transpose and the initial factors).
    steady = sorted(walls[1:] or walls)
    median = steady[len(steady) // 2]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"RESULT implicit median_s_per_iter={median:.3f} cpu_s_per_iter={sum(cpus[1:] or cpus) / len(cpus[1:] or cpus):.2f} "
        f"total_s={total:.2f} peak_rss_mb={peak:.0f} rss_before_fit_mb={rss_before:.0f} "
        f"csr_mb={(user_items.data.nbytes + user_items.indices.nbytes + user_items.indptr.nbytes) / 1048576:.0f}"
    )


if __name__ == "__main__":
    main()
