"""CPython peers of bench/mp_bench.cpp's cases that ../shared/peers/py_peers.py lacks
(mp_queue.*, mp_pipe.roundtrip are there). Same shape: a CASES dict and one JSON line per
case, {"case", "impl": "cpython", "value", "unit"}.
"""
import json, multiprocessing as mp, sys, time

def out(case, value, unit):
    print(json.dumps({"case": case, "impl": "cpython", "value": round(value, 3), "unit": unit}), flush=True)

def _receiver(conn, n):
    for _ in range(n):
        conn.recv_bytes()

def pipe_large(n=200, size=4 << 20):
    reader, writer = mp.Pipe(duplex=False)
    blob = b"x" * size
    p = mp.Process(target=_receiver, args=(reader, n)); p.start()
    t = time.perf_counter()
    for _ in range(n):
        writer.send_bytes(blob)
    p.join()
    dt = time.perf_counter() - t
    out("mp_pipe.4MiB_msgs", n * size / dt / 1e9, "GB/s")

CASES = {
    "mp_pipe.4MiB_msgs": pipe_large,
}

if __name__ == "__main__":
    for name in sys.argv[1:] or CASES:
        CASES[name]()
