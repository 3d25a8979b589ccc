#!/usr/bin/env bash
# Crash safety and serving-file hygiene, in a throwaway cluster (a SIGKILL makes PostgreSQL
# restart every backend; never done to the main cluster):
#   1. a backend killed with SIGKILL in the middle of a training, of a fold_in and of the first
#      build of a large model's serving file: after crash recovery the previous state serves the
#      same answers, and the next call trains, folds in or builds what is missing;
#   2. damaged serving files (truncated, a flipped bit, a wrong header) are rebuilt, never served
#      and never fatal;
#   3. pgrec.serving_files lists each file with its model, version, bytes and in_use (a role sees
#      the files of the models it may read); pgrec.remove_unused_files() removes what no version
#      refers to (a rolled-back training, a crashed writer's temporary file) and nothing in use;
#      only superusers may run it; DROP EXTENSION removes the database's files.
# Run by scripts/run_sql_tests.sh; needs root or sudo (the cluster runs as postgres).
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=$(${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config} --bindir)
root=/var/tmp/pgrec_crash
port=5464
db=crash
as_pg() { if [ "$(id -un)" = postgres ]; then "$@"; elif [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi; }
fail() { echo "crash test FAILED: $*"; exit 1; }
q() { as_pg "$BIN/psql" -X -q -v ON_ERROR_STOP=1 -h $root -p $port -d $db "$@"; }
cleanup() {
  as_pg "$BIN/pg_ctl" -D $root/data -m immediate stop >/dev/null 2>&1 || true
  rm -rf $root
}
trap cleanup EXIT
cleanup
mkdir -p $root && chown postgres: $root 2>/dev/null || true
as_pg "$BIN/initdb" -D $root/data -A trust -U postgres >/dev/null
as_pg "$BIN/pg_ctl" -D $root/data -l $root/log -w \
  -o "-p $port -k $root -c listen_addresses='' -c restart_after_crash=on" start >/dev/null
files=$root/data/pgrec_serving

wait_up() {
  for _ in $(seq 1 100); do
    as_pg "$BIN/psql" -X -At -h $root -p $port -d $db -c "SELECT 1" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  fail "the cluster did not come back after the crash"
}
# Runs SQL in the background, waits until its backend has run `after` seconds in a statement
# that matches `pattern`, and kills that backend with SIGKILL.
kill_during() { # pattern after sql [soft: return 1 instead of failing when it finished first]
  q -c "$3" >/dev/null 2>&1 &
  local bg=$! pid=""
  for _ in $(seq 1 200); do
    pid=$(q -At -c "SELECT pid FROM pg_stat_activity WHERE query LIKE '%$1%' AND state = 'active'
                    AND pid <> pg_backend_pid() AND now() - query_start > interval '$2 seconds'" || true)
    [ -n "$pid" ] && break
    sleep 0.05
  done
  if [ -z "$pid" ]; then
    wait $bg 2>/dev/null || true
    [ -n "${4:-}" ] && return 1
    fail "the statement ($1) never ran for $2 s"
  fi
  kill -KILL "$pid"
  wait $bg 2>/dev/null || true
  wait_up
}

as_pg "$BIN/psql" -X -q -h $root -p $port -d postgres -c "CREATE DATABASE $db" -c "CREATE ROLE cr_owner" -c "CREATE ROLE cr_other"
q >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION pgrec;
CREATE TABLE r AS SELECT * FROM pgrec.synthetic_ratings(20000, 4000, 1500000, 8, 0.4, 5);
CREATE TABLE small AS SELECT * FROM r WHERE user_id <= 500 AND item_id <= 400;
-- A source that reads slowly: a fold_in from it is still running when it is killed.
CREATE VIEW slow_new AS SELECT user_id + 100000 AS user_id, item_id, rating FROM small
WHERE pg_sleep(0.0005) IS NOT NULL;
ALTER TABLE r OWNER TO cr_owner;
ALTER TABLE small OWNER TO cr_owner;
ALTER VIEW slow_new OWNER TO cr_owner;
SET ROLE cr_owner;
SELECT version FROM pgrec.train('m', 'small', params => '{"factors": 8, "epochs": 10}');
SELECT version FROM pgrec.train('big', 'r', 'ials', rating_col => NULL, params => '{"factors": 64, "epochs": 2}');
SQL
answers() {
  q -At -c "SELECT md5(string_agg(x, '|' ORDER BY x)) FROM (
      SELECT 'rec ' || u || ' ' || r.item_id || ' ' || r.score AS x
      FROM generate_series(1, 60) u, pgrec.recommend('m', u::bigint, 5) r
      UNION ALL SELECT 'user ' || e::text FROM pgrec.user_embeddings('m') e
      UNION ALL SELECT 'model ' || version || ' ' || active || ' ' || n_users FROM pgrec.models WHERE model = 'm') t"
}
want=$(answers)

# 1a. SIGKILL during a training.
kill_during "pgrec.train(" 1.5 "SET ROLE cr_owner; SELECT version FROM pgrec.train('m', 'r', 'ials', rating_col => NULL, params => '{\"factors\": 96, \"epochs\": 30}')"
[ "$(answers)" = "$want" ] || fail "after a crash during training, model m answers differently"
v=$(q -At -c "SET client_min_messages = warning" -c "SET ROLE cr_owner" -c "SELECT version FROM pgrec.train('m', 'small', params => '{\"factors\": 8, \"epochs\": 10}')")
[ "$v" = 2 ] || fail "training after the crash made version $v, not 2"
q -c "SET ROLE cr_owner" -c "SELECT pgrec.activate('m', 1)" >/dev/null
[ "$(answers | head -1)" != "" ] || fail "no answers"
want=$(answers)
echo "crash: killed during a training: version 1 still serves the same answers; the next training made version 2"

# 1b. SIGKILL during a fold_in.
kill_during "pgrec.fold_in" 1.0 "SET ROLE cr_owner; SELECT pgrec.fold_in('m', 'slow_new')"
[ "$(answers)" = "$want" ] || fail "after a crash during fold_in, model m answers differently"
n=$(q -At -c "SET ROLE cr_owner" -c "SELECT pgrec.fold_in('m', 'SELECT * FROM small WHERE user_id <= 20')")
[ "$n" = 20 ] || fail "fold_in after the crash folded in $n users"
want=$(answers)
echo "crash: killed during a fold_in: the version serves as before; the next fold_in works"

# 1c. SIGKILL during the first build of a large model's serving file (1.5M ratings, 24,000 x 64).
t0=$(date +%s%N)
ref=$(q -At -c "SELECT string_agg(item_id || ' ' || score, ',') FROM pgrec.recommend('big', 7::bigint, 10)")
build_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
bytes=$(q -At -c "SELECT sum(bytes) FROM pgrec.serving_files WHERE model = 'big'")
# Killed halfway through the build; a build faster than the first (a warm cache, a quieter
# machine) is tried again with half the wait, up to five times.
after=$(awk -v ms="$build_ms" 'BEGIN { printf "%.3f", ms / 2000 }')
killed=""
for _ in 1 2 3 4 5; do
  rm -f "$files"/*/*
  if kill_during "pgrec.recommend(" "$after" "SELECT count(*) FROM pgrec.recommend('big', 7::bigint, 10)" soft; then
    killed=1
    break
  fi
  after=$(awk -v s="$after" 'BEGIN { printf "%.3f", s / 2 }')
done
[ -n "$killed" ] || fail "the serving-file build of big always finished before it could be killed"
# A kill in the middle of the write leaves the writer's temporary file (never under the final
# name); section 3 checks that remove_unused_files removes it.
left=$(q -At -c "SELECT count(*) FROM pgrec.serving_files WHERE path LIKE '%.tmp'")
for f in "$files"/*/*.model; do
  [ -e "$f" ] || continue
  [ "$(stat -c %s "$f")" = "$bytes" ] || fail "a partial serving file is in place after the crash: $f"
done
[ "$(q -At -c "SELECT string_agg(item_id || ' ' || score, ',') FROM pgrec.recommend('big', 7::bigint, 10)")" = "$ref" ] \
  || fail "after a crash during the file build, big answers differently"
echo "crash: killed $after s into the first build of a $bytes-byte serving file (a build takes about $build_ms ms; $left temporary file left): no partial file in place; the next call rebuilt it"

# 2. Damaged files are rebuilt.
q -At -c "SELECT count(*) FROM pgrec.recommend('m', 1::bigint, 3)" >/dev/null
path=$(q -At -c "SELECT path FROM pgrec.serving_files WHERE model = 'm' AND in_use")
[ -n "$path" ] || fail "no serving file of m"
file=$root/data/$path
good=$(md5sum < "$file")
size=$(stat -c %s "$file")
damage() { # label command
  eval "$2"
  [ "$(md5sum < "$file")" != "$good" ] || fail "the test did not damage the file ($1)"
  [ "$(answers)" = "$want" ] || fail "a serving file damaged by $1 was served"
  [ "$(md5sum < "$file")" = "$good" ] || fail "the serving file damaged by $1 was not rebuilt"
}
damage "truncation" "truncate -s $((size / 2)) '$file'"
damage "truncation by one byte" "truncate -s $((size - 1)) '$file'"
flip() { # file offset: flips bit 2 of the byte at offset
  local b
  b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
  printf "$(printf '\\%03o' $(( b ^ 4 )))" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}
damage "a flipped bit in the data" "flip '$file' $((size - 100))"
damage "a flipped bit in the middle" "flip '$file' $((size / 2))"
damage "a wrong header" "printf 'XXXXXXXX' | dd of='$file' bs=1 seek=0 conv=notrunc status=none"
damage "an empty file" ": > '$file'"
echo "crash: serving files damaged by truncation, a flipped bit, a wrong header or emptied are rebuilt, never served"

# 3. Serving-file hygiene.
tmp_left=$(q -At -c "SELECT coalesce(sum(bytes), 0) FROM pgrec.serving_files WHERE path LIKE '%.tmp'")
listed=$(q -At -c "SELECT count(*) || ' ' || bool_and(in_use) || ' ' || bool_and(bytes > 0) FROM pgrec.serving_files WHERE path NOT LIKE '%.tmp'")
[ "$listed" = "2 true true" ] || fail "pgrec.serving_files: $listed"
[ "$(q -At -c "SET ROLE cr_other" -c "SELECT count(*) FROM pgrec.serving_files")" = 0 ] \
  || fail "another role sees the serving files of models it may not read"
# A training rolled back after serving its version leaves a file nobody refers to.
q -c "SET client_min_messages = warning" -c "SET ROLE cr_owner" -c "BEGIN" \
  -c "SELECT version FROM pgrec.train('m', 'small', params => '{\"factors\": 8, \"epochs\": 3}')" \
  -c "SELECT count(*) FROM pgrec.recommend('m', 1::bigint, 3)" -c "ROLLBACK" >/dev/null
unused=$(q -At -c "SELECT count(*) || ' ' || sum(bytes) FROM pgrec.serving_files WHERE NOT in_use AND path NOT LIKE '%.tmp'")
[ "${unused%% *}" = 1 ] || fail "the rolled-back version's file is not listed as unused: $unused"
# A crashed writer's temporary file.
dir=$(dirname "$file")
as_pg sh -c "head -c 1000 /dev/zero > '$dir/99_1.model.999999.tmp'"
denied=$(q -At -c "SET ROLE cr_owner" -c "SELECT pgrec.remove_unused_files()" 2>&1 || true)
grep -q "permission denied for function remove_unused_files" <<<"$denied" || fail "a non-superuser removed files: $denied"
freed=$(q -At -c "SELECT pgrec.remove_unused_files()")
[ "$freed" = $(( ${unused##* } + 1000 + tmp_left )) ] || fail "remove_unused_files freed $freed bytes, not ${unused##* } + 1000 + $tmp_left"
[ ! -e "$dir/99_1.model.999999.tmp" ] || fail "the crashed writer's temporary file is still there"
[ "$(q -At -c "SELECT count(*) FILTER (WHERE in_use) || ' ' || count(*) FROM pgrec.serving_files")" = "2 2" ] \
  || fail "remove_unused_files removed a file in use"
[ "$(answers)" = "$want" ] || fail "answers changed after remove_unused_files"
echo "crash: pgrec.serving_files lists the files; remove_unused_files freed $freed bytes (a rolled-back training's file and a crashed writer's), kept the 2 in use, superusers only"
q -c "DROP EXTENSION pgrec" >/dev/null
[ ! -e "$dir" ] || fail "DROP EXTENSION left the database's serving files: $(ls "$dir")"
echo "crash: DROP EXTENSION pgrec removed the database's serving files"
echo "crash test passed"
