# bench/demo.py: an allocation-heavy Python workload for the demo. With
# PYTHONMALLOC=malloc every Python object is a malloc/free call, so this
# drives whichever allocator is preloaded. Four threads build and drop dicts,
# lists and strings, and hand objects to each other through a queue.
import queue
import threading

def work(q_in, q_out, rounds):
    kept = []
    for r in range(rounds):
        d = {str(i): [i, str(i) * (i % 7), (i, r)] for i in range(2000)}
        kept.append(d)
        if len(kept) > 8:
            q_out.put(kept.pop(0))  # freed by the next thread
        try:
            while True:
                q_in.get_nowait()
        except queue.Empty:
            pass

qs = [queue.Queue() for _ in range(4)]
ts = [threading.Thread(target=work, args=(qs[i], qs[(i + 1) % 4], 60)) for i in range(4)]
for t in ts:
    t.start()
for t in ts:
    t.join()
print("demo workload done")
