"""The PyTorch reference for pgrec's two_tower speed benchmark (never run in CI).

Same architecture, loss and optimizer as pgrec's default two_tower with loss mse: per tower an
id embedding plus one embedding per feature column (mean-pooled for multi-valued columns),
concatenated, an MLP with ReLU, an output of factors + 1 (the last value is a bias term), plus
per-id biases and the global mean outside the dot product; AdamW on the MLP, Adam on the
embeddings, per-rating L2 on the embedding rows used. Reads the TSV files that
`cargo run --release --example neural_speed -- <data> <params> <dir>` writes, so both train
on identical rows and feature ids.

Usage: python benches/torch_two_tower.py <dir> [epochs] [threads] [batch] [json params]
"""
import json
import sys
import time

import numpy as np
import torch
from torch import nn


def read_side(path):
    with open(path) as f:
        header = f.readline().rstrip("\n").split("\t")
        rows = [line.rstrip("\n").split("\t") for line in f]
    cols = []
    for c, h in enumerate(header):
        name, kind, table_rows = h.split(":")
        ids = [[int(x) for x in r[c].split("|")] for r in rows]
        cols.append((name, kind, int(table_rows), ids))
    return len(rows), cols


class Tower(nn.Module):
    def __init__(self, n, cols, id_dim, feature_dim, layers, out_dim, dropout):
        super().__init__()
        self.id = nn.Embedding(n, id_dim)
        self.bias = nn.Embedding(n, 1)
        nn.init.normal_(self.id.weight, std=0.05)
        nn.init.zeros_(self.bias.weight)
        self.feats = nn.ModuleList()
        self.inputs = []
        for name, kind, table_rows, ids in cols:
            bag = nn.EmbeddingBag(table_rows, feature_dim, mode="mean")
            nn.init.normal_(bag.weight, std=0.05)
            self.feats.append(bag)
            flat = torch.tensor([x for r in ids for x in r], dtype=torch.long)
            offsets = torch.tensor(np.cumsum([0] + [len(r) for r in ids[:-1]]), dtype=torch.long)
            lengths = torch.tensor([len(r) for r in ids], dtype=torch.long)
            self.inputs.append((flat, offsets, lengths))
        dims = [id_dim + feature_dim * len(cols)] + layers + [out_dim]
        mods = []
        for i in range(len(dims) - 1):
            mods.append(nn.Linear(dims[i], dims[i + 1]))
            if i < len(dims) - 2:
                mods.append(nn.ReLU())
                mods.append(nn.Dropout(dropout))
        self.mlp = nn.Sequential(*mods)

    def forward(self, e):
        parts = [self.id(e)]
        used = [parts[0]]
        for bag, (flat, offsets, lengths) in zip(self.feats, self.inputs):
            starts = offsets[e]
            lens = lengths[e]
            # Gather the bags of the batch's entities.
            idx = torch.repeat_interleave(starts, lens) + (
                torch.arange(int(lens.sum())) - torch.repeat_interleave(torch.cumsum(lens, 0) - lens, lens)
            )
            batch_offsets = torch.cumsum(lens, 0) - lens
            parts.append(bag(flat[idx], batch_offsets))
        return self.mlp(torch.cat(parts, 1)), self.bias(e).squeeze(1), used


def main():
    d = sys.argv[1]
    epochs = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    threads = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    batch = int(sys.argv[4]) if len(sys.argv) > 4 else 256
    p = {"factors": 32, "tower_layers": [64], "id_dim": 64, "feature_dim": 8, "dropout": 0.5,
         "learning_rate": 0.002, "weight_decay": 0.01, "regularization": 0.05}
    if len(sys.argv) > 5:
        p.update(json.loads(sys.argv[5]))
    torch.set_num_threads(threads)
    torch.manual_seed(42)
    r = np.loadtxt(f"{d}/ratings.tsv", dtype=np.float32, delimiter="\t")
    users = torch.tensor(r[:, 0], dtype=torch.long)
    items = torch.tensor(r[:, 1], dtype=torch.long)
    ratings = torch.tensor(r[:, 2])
    nu, ucols = read_side(f"{d}/users.tsv")
    ni, icols = read_side(f"{d}/items.tsv")
    k = p["factors"]
    ut = Tower(nu, ucols, p["id_dim"], p["feature_dim"], p["tower_layers"], k + 1, p["dropout"])
    it = Tower(ni, icols, p["id_dim"], p["feature_dim"], p["tower_layers"], k + 1, p["dropout"])
    mu = ratings.mean()
    dense = list(ut.mlp.parameters()) + list(it.mlp.parameters())
    sparse = [x for t in (ut, it) for x in [t.id.weight, t.bias.weight] + [b.weight for b in t.feats]]
    opt_d = torch.optim.AdamW(dense, lr=p["learning_rate"], weight_decay=p["weight_decay"])
    opt_s = torch.optim.Adam(sparse, lr=p["learning_rate"])
    n = len(ratings)
    for epoch in range(epochs):
        started = time.perf_counter()
        perm = torch.randperm(n)
        total = 0.0
        for s in range(0, n, batch):
            b = perm[s:s + batch]
            u, i, y = users[b], items[b], ratings[b]
            ou, bu, eu = ut(u)
            oi, bi, ei = it(i)
            pred = mu + bu + bi + ou[:, k] + oi[:, k] + (ou[:, :k] * oi[:, :k]).sum(1)
            loss = ((pred - y) ** 2).mean()
            reg = p["regularization"] * (eu[0].pow(2).sum(1).mean() + ei[0].pow(2).sum(1).mean()
                                         + bu.pow(2).mean() + bi.pow(2).mean())
            opt_d.zero_grad()
            opt_s.zero_grad()
            (loss + reg).backward()
            opt_d.step()
            opt_s.step()
            total += loss.item() * len(b)
        secs = time.perf_counter() - started
        print(f"epoch {epoch + 1}: loss {total / n:.4f}  {secs:.3f} s", flush=True)


if __name__ == "__main__":
    main()
