"""Surprise SVD (default parameters) on a train/test split written by benches/tune_synthetic.sh:
prints its test RMSE and fit seconds. usage: python tune_synthetic.py train.tsv test.tsv"""
import sys
import time

from surprise import SVD, Dataset, Reader, accuracy
import pandas as pd

train = pd.read_csv(sys.argv[1], sep="\t", names=["u", "i", "r"])
test = pd.read_csv(sys.argv[2], sep="\t", names=["u", "i", "r"])
lo, hi = float(min(train.r.min(), test.r.min())), float(max(train.r.max(), test.r.max()))
data = Dataset.load_from_df(train, Reader(rating_scale=(lo, hi)))
started = time.perf_counter()
algo = SVD(random_state=0)
algo.fit(data.build_full_trainset())
fit = time.perf_counter() - started
rmse = accuracy.rmse(algo.test(list(test.itertuples(index=False, name=None))), verbose=False)
print(f"RESULT surprise_svd rmse {rmse:.4f} fit_seconds {fit:.1f}")
