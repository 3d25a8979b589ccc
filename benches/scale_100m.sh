#!/usr/bin/env bash
# 100M interactions trained from SQL (issue 33, item 1), side by side with implicit 0.7.3 on the
# same interactions in the same run. A seeded synthetic table (pgrec.synthetic_ratings: power-law
# activity and popularity, rank 16, noise 0.5) of 100M rows over 2M users x 200k items, then
#   ials (64 factors, 3 iterations, 2 threads) and mf (64 factors, 3 epochs) from SQL: rows per
#   second read, time per phase, time per iteration, the backend's peak RSS (VmHWM) against the
#   memory guard's estimate and against the target 1.3 x the data's own size (CSR in both
#   orientations, 2 x rows x 8 + (users + items) x 8 bytes, plus the factors, (users + items) x
#   64 x 4 bytes);
#   implicit 0.7.3's CPU ALS (conjugate gradient, 64 factors, 2 threads) on the same rows,
#   exported with COPY (FORMAT binary).
# Usage: benches/scale_100m.sh   (ROWS, USERS, ITEMS, ITERS to scale it; needs ~15 GB of disk)
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${ROWS:-100000000}
USERS=${USERS:-2000000}
ITEMS=${ITEMS:-200000}
ITERS=${ITERS:-3}
db=pgrec_100m
VENV=${PGREC_BENCH_VENV:-target/bench-venv}
DUMP=$(pwd)/target/scale-100m
psql() { ./scripts/psql.sh -X -v ON_ERROR_STOP=1 "$@"; }
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import implicit' 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet 'implicit==0.7.3' numpy scipy
fi
psql -q -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db"
echo "== $ROWS synthetic interactions, $USERS users x $ITEMS items"
psql -q -d $db <<SQL
SET client_min_messages = warning;
CREATE EXTENSION pgrec;
\timing on
CREATE UNLOGGED TABLE big AS
SELECT * FROM pgrec.synthetic_ratings($USERS, $ITEMS, $ROWS, rank => 16, noise => 0.5, seed => 2026);
\timing off
SELECT count(*) AS rows, count(DISTINCT user_id) AS users, pg_size_pretty(pg_total_relation_size('big')) AS table_size FROM big;
SQL
train() { # name algorithm params rating_col
  psql -q -d $db <<SQL
SET client_min_messages = warning;
SET pgrec.threads = 2;
SELECT pg_backend_pid() AS pid \gset
SELECT (regexp_match(pg_read_file('/proc/' || :pid || '/status'), 'VmHWM:\s+(\d+)'))[1]::bigint / 1024 AS baseline_mb \gset
\pset footer off
SELECT '$1' AS model, n_users, n_items, n_interactions,
       round((metrics->>'load_seconds')::numeric, 1) AS load_s,
       round(((metrics->>'rows_read')::float8 / (metrics->>'load_seconds')::float8 / 1e6)::numeric, 2) AS m_rows_per_s,
       round((metrics->>'fit_seconds')::numeric, 1) AS fit_s,
       round((metrics->>'seconds_per_epoch')::numeric, 2) AS s_per_iteration,
       round((train_seconds - (metrics->>'load_seconds')::float8 - (metrics->>'fit_seconds')::float8)::numeric, 1) AS other_s,
       round(train_seconds::numeric, 1) AS total_s,
       metrics->'memory_estimate_mb' AS estimate_mb
FROM pgrec.train('$1', 'big', '$2', rating_col => $4, params => '$3');
SELECT (regexp_match(pg_read_file('/proc/' || :pid || '/status'), 'VmHWM:\s+(\d+)'))[1]::bigint / 1024 - :baseline_mb AS training_peak_mb,
       round(1.3 * (2.0 * n_interactions * 8 + (n_users + n_items) * 8 + (n_users + n_items) * 64 * 4) / 1048576) AS target_mb
FROM pgrec.model_versions WHERE model = '$1' AND active;
SQL
}
echo "== ials from SQL"
train big_ials ials "{\"factors\": 64, \"epochs\": $ITERS}" NULL
echo "== mf from SQL"
train big_mf mf "{\"factors\": 64, \"epochs\": $ITERS}" "'rating'"
echo "== implicit 0.7.3 on the same rows (COPY binary -> u32 arrays)"
rm -rf "$DUMP" && mkdir -p "$DUMP"
psql -d $db -c "COPY (SELECT user_id - 1, item_id - 1 FROM big) TO STDOUT (FORMAT binary)" | "$VENV/bin/python" -c '
import sys, numpy as np
out = sys.argv[1]
raw = sys.stdin.buffer.read()
# PGCOPY header (11-byte signature, flags, extension length), then per row: int16 field count,
# and per field an int32 length and the big-endian int64; a trailer of -1.
start = 19
row = np.dtype([("n", ">i2"), ("l1", ">i4"), ("u", ">i8"), ("l2", ">i4"), ("i", ">i8")])
rows = (len(raw) - start - 2) // row.itemsize
a = np.frombuffer(raw, dtype=row, count=rows, offset=start)
assert (a["n"] == 2).all() and (a["l1"] == 8).all() and (a["l2"] == 8).all()
users = a["u"].astype(np.uint32); items = a["i"].astype(np.uint32)
users.tofile(out + "/users.u32"); items.tofile(out + "/items.u32")
open(out + "/shape.txt", "w").write(f"{int(users.max()) + 1} {int(items.max()) + 1} {len(users)}")
print(f"exported {len(users)} rows")
' "$DUMP"
OPENBLAS_NUM_THREADS=1 "$VENV/bin/python" benches/implicit_als.py "$DUMP" "$ITERS" 2
rm -rf "$DUMP"
psql -q -d postgres -c "DROP DATABASE $db WITH (FORCE)"
