"""CPython peers of bench/managers_bench.cpp's cases that ../shared/peers/py_peers.py does not
cover (it has manager.dict_setitem): a local multiprocessing.Manager() (its server process,
a Unix socket, one pickled round trip per operation). Same shape as the other
bench/py_peers_*.py: a CASES dict and one JSON line per case.
"""
import json, multiprocessing as mp, sys, time

def out(case, value, unit):
    print(json.dumps({"case": case, "impl": "cpython", "value": round(value, 3), "unit": unit}), flush=True)

def queue_put_get(n=10_000):
    with mp.Manager() as m:
        q = m.Queue()
        t = time.perf_counter()
        for i in range(n):
            q.put(i)
            q.get()
        dt = time.perf_counter() - t
    out("manager.queue_put_get", n / dt, "pairs/s")

CASES = {
    "manager.queue_put_get": queue_put_get,
}

if __name__ == "__main__":
    names = sys.argv[1:] or list(CASES)
    unknown = [n for n in names if n not in CASES]
    if unknown:
        sys.exit("unknown case(s): %s; known: %s" % (", ".join(unknown), ", ".join(CASES)))
    for n in names:
        CASES[n]()
