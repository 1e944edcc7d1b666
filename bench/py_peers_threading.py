"""CPython peers of bench/threading_bench.cpp's cases that ../shared/peers/py_peers.py
lacks (threading.condition_pingpong is there). Same shape: a CASES dict and one
JSON line per case, {"case", "impl": "cpython", "value", "unit"}.
"""
import json, sys, threading, time

def out(case, value, unit):
    print(json.dumps({"case": case, "impl": "cpython", "value": round(value, 3), "unit": unit}), flush=True)

def lock_uncontended(n=2_000_000):
    lock = threading.Lock()
    acquire, release = lock.acquire, lock.release
    t = time.perf_counter()
    for _ in range(n):
        acquire(); release()
    dt = time.perf_counter() - t
    out("threading.lock_uncontended", dt / n * 1e9, "ns")

def event_roundtrip(n=50_000):
    ping, pong = threading.Event(), threading.Event()
    stop = [False]
    def other():
        while True:
            ping.wait(); ping.clear()
            if stop[0]:
                return
            pong.set()
    th = threading.Thread(target=other); th.start()
    t = time.perf_counter()
    for _ in range(n):
        ping.set(); pong.wait(); pong.clear()
    dt = time.perf_counter() - t
    stop[0] = True; ping.set(); th.join()
    out("threading.event_roundtrip", dt / n * 1e6, "us")

def barrier_rounds(parties, n):
    b = threading.Barrier(parties)
    def helper():
        try:
            while True:
                b.wait()
        except threading.BrokenBarrierError:
            pass
    ths = [threading.Thread(target=helper) for _ in range(parties - 1)]
    for th in ths:
        th.start()
    t = time.perf_counter()
    for _ in range(n):
        b.wait()
    dt = time.perf_counter() - t
    b.abort()
    for th in ths:
        th.join()
    out(f"threading.barrier_{parties}", dt / n * 1e6, "us")

CASES = {
    "threading.lock_uncontended": lock_uncontended,
    "threading.event_roundtrip": event_roundtrip,
    "threading.barrier_2": lambda: barrier_rounds(2, 20_000),
    "threading.barrier_8": lambda: barrier_rounds(8, 5_000),
}

if __name__ == "__main__":
    names = sys.argv[1:] or list(CASES)
    unknown = [n for n in names if n not in CASES]
    if unknown:
        sys.exit("unknown case(s): %s; known: %s" % (", ".join(unknown), ", ".join(CASES)))
    for n in names:
        CASES[n]()
