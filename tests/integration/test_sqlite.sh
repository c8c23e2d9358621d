#!/usr/bin/env bash
# test_sqlite.sh LIB: the sqlite3 shell under obmt, on a database the test
# builds: 100k rows inserted by INSERT statements in one transaction, the
# same rows imported from CSV, indexes (built by 2 sorter threads), grouped
# and joined queries, a recursive CTE, update, delete, VACUUM and
# integrity_check. Every result is compared with the same figure computed
# by awk and the shell from the generated data, without obmt.
source "$(dirname "$0")/lib.sh"
integ_init "$@"
need sqlite3 awk sort
N=100000
sql() { obmt_run sqlite3 -batch -bail -cmd "PRAGMA synchronous=OFF" db.sqlite "$@"; }

# The rows: id, grp (97 groups), val, name, txt (0-400 bytes, and 12 KiB
# on every 1000th row: SQLite overflow pages, blocks above 8 KiB).
awk -v n="$N" 'BEGIN {
    for (i = 1; i <= n; i++) {
        len = (i % 1000 == 0) ? 12000 : (i * 13) % 401
        s = ""; piece = sprintf("%c", 97 + i % 26)
        while (length(s) < len) s = s piece piece piece piece piece piece piece piece
        printf "%d,%d,%d,name%07d,%s\n", i, i % 97, (i * 7919) % 100003, (i * 7) % n, substr(s, 1, len)
    }
}' >rows.csv
awk -F, '{ printf "INSERT INTO t VALUES(%d,%d,%d,'"'"'%s'"'"','"'"'%s'"'"');\n", $1, $2, $3, $4, $5 }' rows.csv >insert.sql
awk 'BEGIN { for (g = 0; g < 97; g++) printf "INSERT INTO g VALUES(%d,'"'"'label%02d'"'"');\n", g, g % 40 }' >groups.sql

say "create and insert $N rows in one transaction, import them again from CSV"
sql >/dev/null <<EOF
PRAGMA journal_mode=WAL;
CREATE TABLE t(id INTEGER PRIMARY KEY, grp INTEGER, val INTEGER, name TEXT, txt TEXT);
CREATE TABLE t2(id INTEGER PRIMARY KEY, grp INTEGER, val INTEGER, name TEXT, txt TEXT);
CREATE TABLE g(grp INTEGER PRIMARY KEY, label TEXT);
BEGIN;
.read insert.sql
.read groups.sql
COMMIT;
.mode csv
.import rows.csv t2
EOF
check_eq "$(sql 'SELECT count(*), sum(val), sum(length(txt)) FROM t')" \
    "$(awk -F, '{ n++; s += $3; l += length($5) } END { printf "%d|%.0f|%d", n, s, l }' rows.csv)" "count, sum(val), sum(length(txt))"
check_eq "$(sql 'SELECT count(*) FROM (SELECT * FROM t EXCEPT SELECT * FROM t2)')" 0 "rows of t not in the CSV import"

say "indexes (PRAGMA threads=2), grouped, ranged and joined queries"
# A small cache: the sorts spill, so the multi-threaded sorter's workers run.
sql >/dev/null <<EOF
PRAGMA threads=2;
PRAGMA cache_size=100;
CREATE INDEX t_val ON t(val);
CREATE INDEX t_name ON t(name, txt);
CREATE INDEX t_grp ON t(grp, val);
EOF
sql 'SELECT grp, count(*), sum(val), max(val), min(length(txt)) FROM t GROUP BY grp ORDER BY grp' >q1.out
awk -F, '{ g = $2; c[g]++; s[g] += $3; if (!(g in mx) || $3 > mx[g]) mx[g] = $3
           if (!(g in ml) || length($5) < ml[g]) ml[g] = length($5) }
     END { for (g = 0; g < 97; g++) printf "%d|%d|%.0f|%d|%d\n", g, c[g], s[g], mx[g], ml[g] }' rows.csv >q1.expect
cmp -s q1.out q1.expect || fail "GROUP BY grp differs: $(diff q1.out q1.expect | head)"
say "ok: GROUP BY grp, 97 groups"
check_eq "$(sql 'SELECT count(*), sum(id) FROM t WHERE val BETWEEN 1000 AND 25000')" \
    "$(awk -F, '$3 >= 1000 && $3 <= 25000 { n++; s += $1 } END { printf "%d|%.0f", n, s }' rows.csv)" "range on the val index"
check_eq "$(sql "SELECT group_concat(id) FROM (SELECT id FROM t ORDER BY name, id LIMIT 20)")" \
    "$(sort -t, -k4,4 -k1,1n rows.csv | head -n 20 | cut -d, -f1 | paste -sd,)" "first 20 by name"
sql 'SELECT label, count(*), sum(val) FROM t JOIN g USING(grp) WHERE val % 2 = 0 GROUP BY label ORDER BY label' >q2.out
awk -F, '$3 % 2 == 0 { l = sprintf("label%02d", $2 % 40); c[l]++; s[l] += $3 }
         END { for (l in c) printf "%s|%d|%.0f\n", l, c[l], s[l] }' rows.csv | sort >q2.expect
cmp -s q2.out q2.expect || fail "join differs: $(diff q2.out q2.expect | head)"
say "ok: join with g, $(wc -l <q2.out) labels"
check_eq "$(sql 'WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 200000) SELECT sum(x), count(*) FROM c')" \
    "$((200000 * 200001 / 2))|200000" "recursive CTE"

say "update, delete, vacuum, integrity check"
sql <<EOF
BEGIN;
UPDATE t SET val = val + 1, txt = txt || 'tail' WHERE grp = 5;
DELETE FROM t WHERE id % 3 = 0;
COMMIT;
VACUUM;
EOF
check_eq "$(sql 'SELECT count(*), sum(val), sum(length(txt)) FROM t')" \
    "$(awk -F, '$1 % 3 != 0 { n++; s += $3 + ($2 == 5); l += length($5) + 4 * ($2 == 5) } END { printf "%d|%.0f|%d", n, s, l }' rows.csv)" \
    "after update and delete"
check_eq "$(sql 'PRAGMA integrity_check')" ok "integrity_check"

# The sorter threads of CREATE INDEX are served too (thread caches), and
# free blocks that another thread made.
check_stats --min-lines 12 --min-heaps 2 --min-remote-frees 1
integ_done
