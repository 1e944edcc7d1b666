"""CPython peers of bench/pool_bench.cpp's cases that ../shared/peers/py_peers.py lacks
(process_pool.submit_wait_noop, process_pool.map_chunked_noop and mp_pool.map_chunked_noop
are there). Same shape: a CASES dict and one JSON line per case,
{"case", "impl": "cpython", "value", "unit"}. Each pool is made and warmed up outside the
timed part, as in the C++ cases.
"""
import json, math, multiprocessing as mp, os, sys, time
from concurrent.futures import ProcessPoolExecutor

def out(case, value, unit):
    print(json.dumps({"case": case, "impl": "cpython", "value": round(value, 3), "unit": unit}), flush=True)

def noop(x=None):
    return x

PRIMES = [
    112272535095293,
    112582705942171,
    112272535095293,
    115280095190773,
    115797848077099,
    1099726899285419]

def is_prime(n):  # the concurrent.futures documentation's
    if n < 2:
        return False
    if n == 2:
        return True
    if n % 2 == 0:
        return False
    sqrt_n = int(math.floor(math.sqrt(n)))
    for i in range(3, sqrt_n + 1, 2):
        if n % i == 0:
            return False
    return True

def pool_map(n=1_000_000):
    """mp.Pool(2).map over n ints, the default chunksize (len / (4 x processes))."""
    xs = list(range(n))
    with mp.Pool(2) as p:
        p.map(noop, range(100))
        t = time.perf_counter()
        p.map(noop, xs)
        dt = time.perf_counter() - t
    out("pool.map_noop", n / dt, "items/s")

def pool_apply_async(n=20_000):
    """n apply_async(noop, (i,)) on mp.Pool(2), then get() of each."""
    with mp.Pool(2) as p:
        p.map(noop, range(100))
        t = time.perf_counter()
        rs = [p.apply_async(noop, (i,)) for i in range(n)]
        for r in rs:
            r.get()
        dt = time.perf_counter() - t
    out("pool.apply_async_noop", n / dt, "tasks/s")

def ppe_is_prime(repeats=1):
    """ProcessPoolExecutor() (one worker per CPU).map(is_prime, PRIMES): the C++ case runs
    PRIMES x 40; CPython's pure-Python loop is ~40x slower, so one pass already takes
    seconds. The rate (primes tested per second) compares across the two sizes."""
    xs = PRIMES * repeats
    with ProcessPoolExecutor(max_workers=os.cpu_count()) as ex:
        list(ex.map(noop, range(100)))
        t = time.perf_counter()
        assert sum(ex.map(is_prime, xs)) == 5 * repeats
        dt = time.perf_counter() - t
    out("process_pool.is_prime", len(xs) / dt, "items/s")

CASES = {
    "pool.map_noop": pool_map,
    "pool.apply_async_noop": pool_apply_async,
    "process_pool.is_prime": ppe_is_prime,
}

if __name__ == "__main__":
    for name in sys.argv[1:] or CASES:
        CASES[name]()
