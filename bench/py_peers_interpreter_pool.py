"""CPython peers for the interpreter_pool cases.

CPython 3.11 (the peer interpreter here) has no InterpreterPoolExecutor (new in 3.14): its
nearest equivalent, workers that share no state with arguments and results copied across, is a
ProcessPoolExecutor, measured on the same cases. Same output as py_peers.py: one JSON line per
case. Run by bench/run.
"""
import json, os, sys, time
from concurrent.futures import ProcessPoolExecutor, wait

def out(case, value, unit):
    print(json.dumps({"case": case, "impl": "cpython", "value": round(value, 3), "unit": unit}), flush=True)

def noop(x=None):
    return x

def ident(s):
    return s

def ppe_submit_wait(n, fn, arg, case):
    with ProcessPoolExecutor(max_workers=os.cpu_count()) as ex:
        wait([ex.submit(fn, arg) for _ in range(100)])  # the workers are started
        t = time.perf_counter()
        wait([ex.submit(fn, arg) for _ in range(n)])
        dt = time.perf_counter() - t
    out(case, n / dt, "tasks/s")

CASES = {
    "interpreter_pool.submit_wait_noop":
        lambda: ppe_submit_wait(20_000, noop, 1, "interpreter_pool.submit_wait_noop"),
    "interpreter_pool.submit_wait_string32":
        lambda: ppe_submit_wait(20_000, ident, "x" * 32, "interpreter_pool.submit_wait_string32"),
}

if __name__ == "__main__":
    names = sys.argv[1:] or list(CASES)
    unknown = [n for n in names if n not in CASES]
    if unknown:
        sys.exit("unknown case(s): %s; known: %s" % (", ".join(unknown), ", ".join(CASES)))
    for n in names:
        CASES[n]()
