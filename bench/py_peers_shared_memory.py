"""CPython peers of bench/shared_memory_bench.cpp's cases (../shared/peers/py_peers.py has
none). Same shape: a CASES dict and one JSON line per case,
{"case", "impl": "cpython", "value", "unit"}.
"""
import json, sys, time
from multiprocessing import shared_memory

def out(case, value, unit):
    print(json.dumps({"case": case, "impl": "cpython", "value": round(value, 3), "unit": unit}), flush=True)

def create_unlink(n=20_000):
    t = time.perf_counter()
    for _ in range(n):
        m = shared_memory.SharedMemory(create=True, size=4096)
        m.close()
        m.unlink()
    dt = time.perf_counter() - t
    out("shared_memory.create_unlink_4KiB", dt / n * 1e6, "us")

def attach_close(n=50_000):
    owner = shared_memory.SharedMemory(create=True, size=4096)
    try:
        t = time.perf_counter()
        for _ in range(n):
            # track=False where available (3.13): attaching does not register.
            try:
                m = shared_memory.SharedMemory(owner.name, track=False)
            except TypeError:
                m = shared_memory.SharedMemory(owner.name)
            m.close()
        dt = time.perf_counter() - t
    finally:
        owner.close()
        owner.unlink()
    out("shared_memory.attach_close_4KiB", dt / n * 1e6, "us")

def list_get_set(n=1_000_000):
    sl = shared_memory.ShareableList([0, "x", 1.5])
    try:
        t = time.perf_counter()
        for i in range(n):
            sl[0] = sl[0] + (i & 1)
        dt = time.perf_counter() - t
    finally:
        sl.shm.close()
        sl.shm.unlink()
    out("shareable_list.get_set_int", dt / n * 1e9, "ns")

CASES = {
    "shared_memory.create_unlink_4KiB": create_unlink,
    "shared_memory.attach_close_4KiB": attach_close,
    "shareable_list.get_set_int": list_get_set,
}

if __name__ == "__main__":
    names = sys.argv[1:] or list(CASES)
    unknown = [n for n in names if n not in CASES]
    if unknown:
        sys.exit("unknown case(s): %s; known: %s" % (", ".join(unknown), ", ".join(CASES)))
    for n in names:
        CASES[n]()
