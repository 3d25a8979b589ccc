"""Surprise SVD (default parameters) on the same MovieLens-100K splits as benches/ml100k.sql:
fit time and test RMSE, printed next to pgrec's in benches/run_sql_bench.sh.

usage: python3 surprise_ml100k.py ml-100k.inter test_rows.tsv
test_rows.tsv: "seed<TAB>row_no" for the test rows of each random split (from ml100k.random_split).
"""
import sys
import time
from collections import defaultdict

from surprise import SVD, Dataset, Reader, accuracy

inter, test_rows_file = sys.argv[1], sys.argv[2]
rows = []
with open(inter) as f:
    next(f)
    for line in f:
        u, i, r, _ = line.rstrip("\n").split("\t")
        rows.append((u, i, float(r)))
test_rows = defaultdict(set)
with open(test_rows_file) as f:
    for line in f:
        seed, row_no = line.split()
        test_rows[int(seed)].add(int(row_no) - 1)


def evaluate(train, test):
    builder = Dataset(Reader(rating_scale=(1, 5)))
    trainset = builder.construct_trainset([(u, i, r, None) for (u, i, r) in train])
    algo = SVD(random_state=0)
    started = time.perf_counter()
    algo.fit(trainset)
    fit = time.perf_counter() - started
    return accuracy.rmse(algo.test(test), verbose=False), fit


rmse, fit = evaluate(rows[20000:], rows[:20000])
print(f"Surprise SVD   u1            test RMSE {rmse:.4f}  fit {fit:.2f} s")
total = 0.0
for seed in sorted(test_rows):
    test = [rows[j] for j in sorted(test_rows[seed])]
    train = [r for j, r in enumerate(rows) if j not in test_rows[seed]]
    rmse, fit = evaluate(train, test)
    total += rmse
    print(f"Surprise SVD   random seed {seed} test RMSE {rmse:.4f}  fit {fit:.2f} s")
print(f"Surprise SVD   random mean   test RMSE {total / len(test_rows):.4f}")
