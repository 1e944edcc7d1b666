"""CPython peers for the futures cases that ../shared/peers/py_peers.py lacks.

Same output as py_peers.py: one JSON line per case. Run by bench/run.
"""
import json, os, sys, time
from concurrent.futures import ThreadPoolExecutor, as_completed

def out(case, value, unit):
    print(json.dumps({"case": case, "impl": "cpython", "value": round(value, 3), "unit": unit}), flush=True)

def noop(x=None):
    return x

def tpe_map(n=200_000, chunksize=1, case="thread_pool.map_noop"):
    with ThreadPoolExecutor(max_workers=os.cpu_count()) as ex:
        t = time.perf_counter()
        s = sum(ex.map(noop, range(n), chunksize=chunksize))
        dt = time.perf_counter() - t
    out(case, n / dt, "items/s")

def tpe_as_completed(n=100_000):
    with ThreadPoolExecutor(max_workers=os.cpu_count()) as ex:
        t = time.perf_counter()
        fs = [ex.submit(noop, i) for i in range(n)]
        s = sum(f.result() for f in as_completed(fs))
        dt = time.perf_counter() - t
    out("thread_pool.as_completed", n / dt, "futures/s")

CASES = {
    "thread_pool.map_noop": tpe_map,
    # CPython's ThreadPoolExecutor ignores chunksize: the same work item per input.
    "thread_pool.map_chunked_noop": lambda: tpe_map(chunksize=10_000, case="thread_pool.map_chunked_noop"),
    "thread_pool.as_completed": tpe_as_completed,
}

if __name__ == "__main__":
    names = sys.argv[1:] or list(CASES)
    unknown = [n for n in names if n not in CASES]
    if unknown:
        sys.exit("unknown case(s): %s; known: %s" % (", ".join(unknown), ", ".join(CASES)))
    for n in names:
        CASES[n]()
