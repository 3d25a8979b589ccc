"""What a point-estimate factor model can reach on the sparse 100k synthetic set of
benches/tune_synthetic.sh (issue 14), on the same rows:

  psql -c "COPY (SELECT user_id, item_id, rating, is_test::int FROM sp) TO STDOUT" > rows.tsv
  (sp as built by benches/tune_synthetic.sh for the 100k set, in its database)
  python3 benches/sparse_limits.py rows.tsv

Prints the test RMSE of: the best bias-only model (alternating ridge estimates over a grid of
penalties), MAP alternating least squares with the generating model's priors and with a
tighter factor prior, and an oracle that is told every item's true factors and bias (fresh
truth drawn from the generator's distribution on the same (user, item) pairs) and estimates
only the users. Needs numpy.
"""
import sys

import numpy as np

RANK, NOISE_VAR, BIAS_VAR = 16, 0.64, 0.09

d = np.loadtxt(sys.argv[1])
u, i, r = d[:, 0].astype(int), d[:, 1].astype(int), d[:, 2]
test = d[:, 3] == 1
train = ~test
U, I = u.max() + 1, i.max() + 1


def rmse(pred, target):
    return float(np.sqrt(np.mean((pred - target) ** 2)))


def biases_only():
    mu = r[train].mean()
    best = None
    for lam in [2, 5, 8, 12, 20]:
        bu, bi = np.zeros(U), np.zeros(I)
        for _ in range(15):
            res = r[train] - mu - bi[i[train]]
            bu = np.bincount(u[train], res, U) / (np.bincount(u[train], None, U) + lam)
            res = r[train] - mu - bu[u[train]]
            bi = np.bincount(i[train], res, I) / (np.bincount(i[train], None, I) + lam)
        e = rmse(mu + bu[u[test]] + bi[i[test]], r[test])
        best = e if best is None else min(best, e)
    return best


def map_als(factor_precision):
    rng = np.random.default_rng(0)
    mu = r[train].mean()
    k = RANK
    P = np.hstack([np.zeros((U, 1)), rng.normal(0, 0.1, (U, k))])
    Q = np.hstack([np.zeros((I, 1)), rng.normal(0, 0.1, (I, k))])
    prior = np.diag([1 / BIAS_VAR] + [factor_precision] * k)
    ut, it, rt = u[train], i[train], r[train]
    by_u = [np.where(ut == x)[0] for x in range(U)]
    by_i = [np.where(it == x)[0] for x in range(I)]

    def solve(rows, other, own_ids, other_ids, out):
        for x, m in enumerate(rows):
            if len(m) == 0:
                continue
            X = np.hstack([np.ones((len(m), 1)), other[other_ids[m], 1:]])
            y = rt[m] - mu - other[other_ids[m], 0]
            out[x] = np.linalg.solve(prior + X.T @ X / NOISE_VAR, X.T @ y / NOISE_VAR)

    for _ in range(12):
        solve(by_u, Q, ut, it, P)
        solve(by_i, P, it, ut, Q)
    pred = mu + P[u[test], 0] + Q[i[test], 0] + np.sum(P[u[test], 1:] * Q[i[test], 1:], 1)
    return rmse(pred, r[test])


def oracle_items(seed):
    rng = np.random.default_rng(seed)
    k = RANK
    P = rng.normal(0, 1 / np.sqrt(k), (U, k))
    Q = rng.normal(0, 1 / np.sqrt(k), (I, k))
    bu, bi = rng.normal(0, np.sqrt(BIAS_VAR), U), rng.normal(0, np.sqrt(BIAS_VAR), I)
    truth = 3.5 + bu[u] + bi[i] + np.sum(P[u] * Q[i], 1)
    y_all = truth + rng.normal(0, np.sqrt(NOISE_VAR), len(u))
    prior = np.diag([1 / BIAS_VAR] + [k] * k)
    est = np.zeros((U, k + 1))
    for x in range(U):
        m = (u == x) & train
        X = np.hstack([np.ones((m.sum(), 1)), Q[i[m]]])
        y = y_all[m] - 3.5 - bi[i[m]]
        est[x] = np.linalg.solve(prior + X.T @ X / NOISE_VAR, X.T @ y / NOISE_VAR)
    pred = 3.5 + bi[i[test]] + est[u[test], 0] + np.sum(est[u[test], 1:] * Q[i[test]], 1)
    return rmse(truth[test], y_all[test]), rmse(pred, y_all[test])


print(f"best bias-only model: {biases_only():.4f}")
print(f"MAP ALS, generating priors (factor precision {RANK}): {map_als(RANK):.4f}")
print(f"MAP ALS, factor precision 40: {map_als(40):.4f}")
floor, oracle = oracle_items(0)
print(f"oracle told the item side: {oracle:.4f} (noise floor of that draw {floor:.4f})")
