"""CPython peers of bench/mp_sync_bench.cpp's cases (multiprocessing.Lock uncontended,
multiprocessing.Condition ping-pong between two processes). Same shape as
py_peers_threading.py: a CASES dict and one JSON line per case.
"""
import json, multiprocessing as mp, sys, time

def out(case, value, unit):
    print(json.dumps({"case": case, "impl": "cpython", "value": round(value, 3), "unit": unit}), flush=True)

def lock_uncontended(n=1_000_000):
    lock = mp.Lock()
    acquire, release = lock.acquire, lock.release
    t = time.perf_counter()
    for _ in range(n):
        acquire(); release()
    dt = time.perf_counter() - t
    out("mp_lock.uncontended", dt / n * 1e9, "ns")

def _other(c, turn, n):
    for _ in range(n):
        with c:
            while turn.value != 1:
                c.wait()
            turn.value = 0
            c.notify()

def cond_pingpong(n=20_000):
    ctx = mp.get_context("fork")
    c = ctx.Condition()
    turn = ctx.RawValue('i', 0)
    p = ctx.Process(target=_other, args=(c, turn, n)); p.start()
    t = time.perf_counter()
    for _ in range(n):
        with c:
            turn.value = 1
            c.notify()
            while turn.value != 0:
                c.wait()
    dt = time.perf_counter() - t
    p.join()
    out("mp_condition.pingpong", dt / n * 1e6, "us")

CASES = {
    "mp_lock.uncontended": lock_uncontended,
    "mp_condition.pingpong": cond_pingpong,
}

if __name__ == "__main__":
    names = sys.argv[1:] or list(CASES)
    unknown = [n for n in names if n not in CASES]
    if unknown:
        sys.exit("unknown case(s): %s; known: %s" % (", ".join(unknown), ", ".join(CASES)))
    for n in names:
        CASES[n]()
