#!/usr/bin/env bash
# Draws the README's pictures from SQL results (tools/plot, a Rust plotting tool):
#   docs/item_map.png        the first two pgrec.pca components of the MovieLens-100K item
#                            vectors of an ials model (positive_threshold 4), coloured by each
#                            movie's first genre, the 12 most-rated movies labelled;
#   docs/training_curves.png train and validation RMSE per epoch of mf on u1.base
#                            (validation_fraction 0.1), from pgrec.training_history.
# Usage: scripts/plots.sh   (after make install data; uses database pgrec_plots)
set -euo pipefail
cd "$(dirname "$0")/.."
db=pgrec_plots
./scripts/create_db.sh $db
tmp=$(mktemp -d); chmod 777 "$tmp"
q() { ./scripts/psql.sh -X -v ON_ERROR_STOP=1 -qAt -F $'\t' -d $db "$@"; }
q -c "SET client_min_messages = warning" \
  -c "SELECT version FROM pgrec.train('map_ials', 'ml100k.ratings', 'ials', params => '{\"positive_threshold\": 4}')" \
  -c "SELECT version FROM pgrec.train('curve_mf', 'ml100k.u1_base', params => '{\"validation_fraction\": 0.1}')" >/dev/null
q -c "WITH popular AS (SELECT item_id FROM ml100k.ratings GROUP BY item_id ORDER BY count(*) DESC LIMIT 12)
      SELECT p.coords[1], p.coords[2], coalesce(m.genres[1], 'unknown'),
             CASE WHEN p.id IN (SELECT item_id FROM popular) THEN m.title ELSE '' END
      FROM pgrec.pca('map_ials', 'item', 2) p JOIN ml100k.movies m ON m.movie_id = p.id" > "$tmp/map.tsv"
q -c "SELECT s.series, h.epoch, s.value
      FROM pgrec.training_history h
      JOIN pgrec.model_versions v ON v.id = h.version_id AND v.model = 'curve_mf' AND v.active,
      LATERAL (VALUES ('train RMSE', h.train_rmse), ('validation RMSE (10% held out)', h.validation_rmse)) s(series, value)
      WHERE s.value IS NOT NULL ORDER BY 1, 2" > "$tmp/curves.tsv"
cargo run -q --release -p pgrec-plot -- map "$tmp/map.tsv" docs/item_map.png
cargo run -q --release -p pgrec-plot -- curves "$tmp/curves.tsv" docs/training_curves.png
echo "wrote docs/item_map.png ($(wc -l < "$tmp/map.tsv") items) and docs/training_curves.png ($(wc -l < "$tmp/curves.tsv") points)"
rm -rf "$tmp"
