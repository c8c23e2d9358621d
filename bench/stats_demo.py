# bench/stats_demo.py: a Python program whose memory rises and falls, for
# the statistics-over-time chart in the README:
#
#   OBMT_STATS_FILE=stats.jsonl OBMT_STATS_INTERVAL_MS=50 OBMT_BACKGROUND_THREAD=1 \
#     PYTHONMALLOC=malloc LD_PRELOAD=build/release/libobmt-override.so python3 bench/stats_demo.py
#   python3 bench/stats_plot.py stats.jsonl
#
# Three rounds: four threads build dicts for about a second (passing some
# to the next thread, which drops them), then everything is dropped and the
# program sleeps for two seconds, when the background thread gives the
# memory back.
import queue
import threading
import time


def work(q_in, q_out, n):
    kept = []
    for r in range(n):
        kept.append({str(i): [i, str(i) * (i % 9), (i, r)] for i in range(3000)})
        if len(kept) % 4 == 0:
            q_out.put(kept.pop(0))  # dropped by the next thread
        try:
            while True:
                q_in.get_nowait()
        except queue.Empty:
            pass
    return kept


for rnd in range(3):
    qs = [queue.Queue() for _ in range(4)]
    ts = [threading.Thread(target=work, args=(qs[i], qs[(i + 1) % 4], 40 + 20 * rnd)) for i in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    del qs, ts
    time.sleep(2)
print("stats demo done")
