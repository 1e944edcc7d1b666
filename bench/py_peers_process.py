"""CPython peers of bench/process_bench.cpp's cases that ../shared/peers/py_peers.py lacks
(process.start_join_fork and process.start_join_spawn are there). Same shape: a CASES dict
and one JSON line per case, {"case", "impl": "cpython", "value", "unit"}.
"""
import json, multiprocessing as mp, sys, time

def out(case, value, unit):
    print(json.dumps({"case": case, "impl": "cpython", "value": round(value, 3), "unit": unit}), flush=True)

def noop():
    pass

def start_join_forkserver(n=50):
    ctx = mp.get_context("forkserver")
    p = ctx.Process(target=noop); p.start(); p.join()  # the server starts outside the timing
    t = time.perf_counter()
    for _ in range(n):
        p = ctx.Process(target=noop); p.start(); p.join()
    dt = time.perf_counter() - t
    out("process.start_join_forkserver", dt / n * 1e6, "us")

CASES = {
    "process.start_join_forkserver": start_join_forkserver,
}

if __name__ == "__main__":
    for name in sys.argv[1:] or CASES:
        CASES[name]()
