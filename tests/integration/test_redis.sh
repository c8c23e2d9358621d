#!/usr/bin/env bash
# test_redis.sh LIB: redis-server under obmt on 127.0.0.1 (a free port),
# driven by redis-cli without obmt:
#  - SET of 3000 values of 10 bytes to 30 KiB (above obmt's 8192-byte
#    limit too), read back with GET and compared byte for byte;
#  - APPEND (strings grown by realloc), INCRBY, a list, a hash of 5000
#    fields, a set and a sorted set, checked with LLEN/LRANGE, HLEN/HGET,
#    SCARD, ZSCORE and DBSIZE against values the shell computes;
#  - UNLINK of the big objects and FLUSHALL ASYNC: Redis frees them in its
#    lazyfree thread, so blocks made by the main thread are freed by
#    another (obmt's remote frees);
#  - SHUTDOWN NOSAVE: the server exits normally (exit handlers run).
# (Debian's redis-server is linked with jemalloc; under LD_PRELOAD its
# malloc, free, realloc and malloc_usable_size are obmt's.)
source "$(dirname "$0")/lib.sh"
integ_init "$@"
need redis-server redis-cli awk cmp
N=3000
mapfile -t obmt_vars < <(obmt_env)

say "start redis-server under obmt"
pid=""
for attempt in 1 2 3 4 5; do
    port=$(free_port)
    timeout -k 5 "${OBMT_INTEG_TIMEOUT:-120}" env "${obmt_vars[@]}" redis-server --port "$port" --bind 127.0.0.1 \
        --save '' --appendonly no --dir "$WORK" --logfile "$WORK/redis.log" --daemonize no \
        --lazyfree-lazy-user-del yes --lazyfree-lazy-user-flush yes --io-threads 2 &
    pid=$!
    BG_PIDS=("$pid")
    for _ in $(seq 1 100); do
        [ "$(redis-cli -p "$port" PING 2>/dev/null)" = PONG ] && break 2
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    rc=0
    kill -0 "$pid" 2>/dev/null && { kill "$pid"; rc=timeout; }
    wait "$pid" 2>/dev/null || rc=$?
    BG_PIDS=()
    # Another program took the port between free_port and the bind: retry.
    grep -q "Address already in use" redis.log 2>/dev/null ||
        fail "redis-server under obmt did not start (status $rc$([ "$rc" = 139 ] && echo ", SIGSEGV")): $(tail -n 30 redis.log 2>/dev/null)"
    say "port $port was taken (attempt $attempt)"
    rm -f redis.log
    pid=""
done
[ -n "$pid" ] || fail "redis-server found no free port in 5 attempts"
say "redis-server pid $pid on 127.0.0.1:$port"
cli() { timeout 60 redis-cli -p "$port" "$@"; }

# Values: key i has size sizes[i % 7], letters and digits only (redis-cli's
# line mode splits on spaces).
awk -v n="$N" 'BEGIN {
    split("10 60 200 700 3000 9000 30000", sz, " ")
    for (i = 0; i < n; i++) {
        len = sz[i % 7 + 1] + i % 13
        unit = sprintf("%c%d", 65 + i % 26, i)
        v = unit; while (length(v) < len) v = v v
        printf "%s\n", substr(v, 1, len)
    }
}' >values.txt
awk '{ printf "*3\r\n$3\r\nSET\r\n$%d\r\nkey:%d\r\n$%d\r\n%s\r\n", length("key:" NR - 1), NR - 1, length($0), $0 }' values.txt >set.resp
awk '{ printf "GET key:%d\n", NR - 1 }' values.txt >get.txt

say "SET $N values ($(awk '{ s += length($0) } END { printf "%.1f MiB", s / 1048576 }' values.txt)), GET them back"
cli --pipe <set.resp >pipe.out || fail "redis-cli --pipe: $(cat pipe.out)"
grep -q "errors: 0, replies: $N" pipe.out || fail "SET through --pipe: $(tail -n 2 pipe.out)"
cli <get.txt >got.txt
cmp -s got.txt values.txt || fail "GET returns other values than were SET: $(cmp got.txt values.txt)"
say "ok: $N values read back equal"
check_eq "$(cli DBSIZE)" "$N" "DBSIZE"

say "APPEND, INCRBY, list, hash, set, sorted set"
awk 'BEGIN { for (i = 0; i < 400; i++) printf "APPEND grow %s\n", sprintf("%0" (1 + i % 40) "d", i) }' >append.txt
cli <append.txt >/dev/null
check_eq "$(cli STRLEN grow)" "$(awk '{ s += length($3) } END { print s }' append.txt)" "STRLEN after 400 APPENDs"
check_eq "$(cli GETRANGE grow 0 -1 | cksum)" "$(awk '{ printf "%s", $3 } END { print "" }' append.txt | cksum)" "the appended string"
awk 'BEGIN { for (i = 1; i <= 500; i++) printf "INCRBY counter %d\n", i }' | cli >/dev/null
check_eq "$(cli GET counter)" $((500 * 501 / 2)) "INCRBY sum"
awk 'BEGIN {
    for (i = 0; i < 5000; i++) {
        printf "RPUSH list item%d-%s\n", i, substr("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", 1, i % 40)
        printf "HSET hash field%d value%d-%0" (1 + i % 90) "d\n", i, i, i
        printf "SADD set member%d\n", i % 3000
        printf "ZADD zset %d z%d\n", (i * 37) % 1000, i
    }
}' >types.txt
cli <types.txt >/dev/null
check_eq "$(cli LLEN list) $(cli HLEN hash) $(cli SCARD set) $(cli ZCARD zset)" "5000 5000 3000 5000" "LLEN HLEN SCARD ZCARD"
check_eq "$(cli LRANGE list 4999 4999) $(cli HGET hash field4321) $(cli ZSCORE zset z4321)" \
    "item4999-$(printf '%*s' $((4999 % 40)) '' | tr ' ' x) value4321-$(printf "%0$((1 + 4321 % 90))d" 4321) $(((4321 * 37) % 1000))" \
    "LRANGE HGET ZSCORE"
check_eq "$(cli ZRANGEBYSCORE zset 999 999 | wc -l)" "$(awk 'BEGIN { for (i = 0; i < 5000; i++) n += (i * 37) % 1000 == 999; print n }')" "ZRANGEBYSCORE"

say "UNLINK (lazy free in another thread), FLUSHALL ASYNC"
check_eq "$(cli UNLINK list hash set zset)" 4 "UNLINK"
check_eq "$(cli EXISTS hash)" 0 "EXISTS after UNLINK"
check_eq "$(cli FLUSHALL ASYNC)" OK "FLUSHALL ASYNC"
check_eq "$(cli DBSIZE)" 0 "DBSIZE after FLUSHALL"
# Refill a little after the flush, then read it back.
head -n 700 values.txt | awk '{ printf "SET again:%d %s\n", NR, $0 }' | cli >/dev/null
check_eq "$(cli DBSIZE)" 700 "DBSIZE after refill"
check_eq "$(cli GET again:700 | cksum)" "$(sed -n 700p values.txt | cksum)" "GET after refill"

say "SHUTDOWN NOSAVE"
cli SHUTDOWN NOSAVE >/dev/null 2>&1 || true
rc=0
wait "$pid" || rc=$?
BG_PIDS=()
[ "$rc" -eq 0 ] || fail "redis-server exited with status $rc: $(tail -n 20 redis.log)"
grep -q "ready to exit, bye bye" redis.log || fail "redis-server did not shut down cleanly: $(tail -n 20 redis.log)"
say "ok: redis-server exited with status 0"

# One process; Redis's lazyfree thread freed the unlinked objects (remote
# frees; that thread never allocates, so it needs no thread cache).
check_stats --min-lines 1 --min-remote-frees 5000 --min-big 1000
integ_done
