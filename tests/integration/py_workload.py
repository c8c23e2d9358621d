"""py_workload.py: an allocation-heavy CPython program for test_python.sh.

Run with PYTHONMALLOC=malloc (every object through malloc) and
PYTHONHASHSEED=0. Every phase checks its own results against values known
in closed form, and the program prints one line per phase; test_python.sh
compares those lines between a run on glibc's malloc and a run under obmt.

Phases: a dict of objects with a tree through them; strings built, joined,
split and grown; sets; sorting; bytes and bytearrays of every size class and
above 8 KiB (realloc growth); JSON round trip; churn (delete and refill);
then threads passing objects through queues, so that blocks made by one
thread are freed by another (obmt's remote frees).
"""
import collections
import gc
import hashlib
import json
import queue
import random
import sys
import threading

N = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000


def digest(*parts):
    h = hashlib.sha256()
    for p in parts:
        h.update(repr(p).encode())
    return h.hexdigest()[:16]


class Node:
    def __init__(self, k, v):
        self.k = k
        self.v = v
        self.children = []


class Slot:
    __slots__ = ("a", "b")

    def __init__(self, a, b):
        self.a = a
        self.b = b


def phase_objects(n):
    d = {}
    for i in range(n):
        d[f"key-{i:07d}-" + "x" * (i % 37)] = Node(i, [i, str(i), (i, i * i), Slot(i, -i)])
    assert len(d) == n
    assert sum(node.k for node in d.values()) == n * (n - 1) // 2
    nodes = list(d.values())
    for i in range(1, n):  # a binary heap-shaped tree
        nodes[(i - 1) // 2].children.append(nodes[i])
    depth, stack, seen = 0, [(nodes[0], 1)], 0
    while stack:
        node, dep = stack.pop()
        seen += 1
        depth = max(depth, dep)
        stack.extend((c, dep + 1) for c in node.children)
    assert seen == n and depth == n.bit_length()
    slot_sum = sum(node.v[3].a + node.v[3].b for node in nodes)
    assert slot_sum == 0
    del nodes, stack
    return f"objects n={n} depth={depth} keys={digest(sorted(d)[:50])}"


def phase_strings(n):
    s = ",".join(str(i) for i in range(n))
    parts = s.split(",")
    assert len(parts) == n and int(parts[-1]) == n - 1
    assert sum(map(int, parts)) == n * (n - 1) // 2
    acc = ""
    for i in range(5000):  # grow by appending: realloc of one string
        acc += chr(ord("a") + i % 26) * (i % 7)
    assert len(acc) == sum(i % 7 for i in range(5000))
    words = [("w%d" % (i % 1000)) * (1 + i % 5) for i in range(n)]
    counts = collections.Counter(words)
    assert len(counts) == 1000 and sum(counts.values()) == n
    up = [w.upper() for w in words]
    assert sum(len(w) for w in up) == sum(len(w) for w in words)
    uni = "".join(chr(0x400 + i % 200) + chr(0x1F600 + i % 50) for i in range(20000))
    assert len(uni) == 40000 and uni.encode("utf-8").decode("utf-8") == uni
    return f"strings len={len(s)} acc={len(acc)} words={digest(counts.most_common(5))} uni={digest(uni)}"


def phase_sets(n):
    a = set(range(0, n, 2))
    b = set(range(0, n, 3))
    assert len(a & b) == (n + 5) // 6
    assert len(a | b) == len(a) + len(b) - len(a & b)
    fs = {frozenset((i, i + 1, i * 7)) for i in range(n // 10)}
    assert len(fs) == n // 10
    return f"sets and={len(a & b)} or={len(a | b)} xor={len(a ^ b)}"


def phase_sort(n):
    rnd = random.Random(12345)
    lst = [rnd.random() for _ in range(n)]
    keyed = sorted(((rnd.randrange(1000), str(i)) for i in range(n)), reverse=True)
    lst.sort()
    assert all(lst[i] <= lst[i + 1] for i in range(n - 1))
    assert all(keyed[i] >= keyed[i + 1] for i in range(n - 1))
    return f"sort first={lst[0]:.12f} last={lst[-1]:.12f} keyed={digest(keyed[:20], keyed[-20:])}"


def phase_bytes():
    total, chunks = 0, []
    for size in list(range(0, 9000, 37)) + [12000, 40000, 70000, 300000, 2_000_000]:
        b = bytes((i * 31 + size) & 0xFF for i in range(min(size, 4096))) * (size // 4096 + 1)
        b = b[:size]
        assert len(b) == size
        chunks.append(b)
        total += size
    ba = bytearray()
    for i in range(40000):  # grow through every small class and beyond
        ba += bytes([i & 0xFF]) * (1 + i % 5)
    assert len(ba) == sum(1 + i % 5 for i in range(40000))
    blob = b"".join(chunks)
    assert len(blob) == total
    h = hashlib.sha256(blob).hexdigest()[:16]
    del chunks, blob
    return f"bytes total={total} blob={h} bytearray={hashlib.sha256(ba).hexdigest()[:16]}"


def phase_json(n):
    doc = {"items": [{"id": i, "name": f"n{i}", "tags": ["t%d" % (i % 9)] * (i % 4), "v": i / 7}
                     for i in range(n // 5)], "meta": {"n": n}}
    text = json.dumps(doc, sort_keys=True)
    back = json.loads(text)
    assert back == doc
    return f"json len={len(text)} digest={hashlib.sha256(text.encode()).hexdigest()[:16]}"


def phase_churn(n):
    d = {i: [i] * (i % 20) for i in range(n)}
    for rnd in range(4):
        for i in range(rnd % 2, n, 2):
            del d[i]
        for i in range(rnd % 2, n, 2):
            d[i] = "v" * (i % 300)
    gc.collect()
    size = sum(len(v) for v in d.values())
    # rounds 0 and 2 refill the even keys with strings, 1 and 3 the odd ones
    expect = sum(i % 300 for i in range(n))
    assert size == expect, (size, expect)
    return f"churn size={size}"


def phase_threads(producers=4, consumers=3, items=3000):
    """Producers build objects; consumers, other threads, check and drop
    them. The result is order-independent (a sum) and known in advance."""
    q = queue.Queue(maxsize=256)
    lock = threading.Lock()
    got = {"sum": 0, "count": 0, "bytes": 0}

    def make(p, i):
        k = p * items + i
        size = (k * 97) % 20000  # up to 20000 bytes: small, coarse and large
        return {"k": k, "s": str(k) * (1 + k % 9), "l": list(range(k % 50)), "b": bytes([k & 0xFF]) * size}

    def produce(p):
        for i in range(items):
            q.put(make(p, i))

    def consume():
        s = c = nb = 0
        while True:
            obj = q.get()
            if obj is None:
                break
            assert obj["s"] == str(obj["k"]) * (1 + obj["k"] % 9)
            assert obj["l"] == list(range(obj["k"] % 50))
            s += obj["k"] + sum(obj["l"])
            nb += len(obj["b"])
            c += 1
            del obj  # freed here, by a thread other than its maker
        with lock:
            got["sum"] += s
            got["count"] += c
            got["bytes"] += nb

    ts = [threading.Thread(target=produce, args=(p,)) for p in range(producers)]
    cs = [threading.Thread(target=consume) for _ in range(consumers)]
    for t in ts + cs:
        t.start()
    for t in ts:
        t.join()
    for _ in cs:
        q.put(None)
    for t in cs:
        t.join()
    total = producers * items
    esum = sum(k + sum(range(k % 50)) for k in range(total))
    ebytes = sum((k * 97) % 20000 for k in range(total))
    assert got == {"sum": esum, "count": total, "bytes": ebytes}, (got, esum, ebytes)
    return f"threads count={total} sum={esum} bytes={ebytes}"


def main():
    for line in (phase_objects(N), phase_strings(N), phase_sets(N), phase_sort(N), phase_bytes(),
                 phase_json(N), phase_churn(N), phase_threads()):
        print(line, flush=True)
    print("ALL OK")


if __name__ == "__main__":
    main()
