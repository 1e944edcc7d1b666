"""CPython peers of bench/connection_bench.cpp's cases: multiprocessing.connection's
Listener (with an authkey) and an echo process that connects with Client. Same shape as
the other peers: a CASES dict and one JSON line per case, {"case", "impl": "cpython",
"value", "unit"}.
"""
import json, multiprocessing as mp, sys, time
from multiprocessing.connection import Client, Listener

KEY = b"bench-authkey"

def out(case, value, unit):
    print(json.dumps({"case": case, "impl": "cpython", "value": round(value, 3), "unit": unit}), flush=True)

def _echo(address, family, n):
    c = Client(address, family=family, authkey=KEY)
    for _ in range(n):
        c.send(c.recv())
    c.close()

def roundtrip(case, family, n=20_000):
    with Listener(family=family, authkey=KEY) as l:
        p = mp.get_context("fork").Process(target=_echo, args=(l.address, family, n))
        p.start()
        conn = l.accept()
        t = time.perf_counter()
        for i in range(n):
            conn.send(i)
            if conn.recv() != i:
                raise SystemExit("echo mismatch")
        dt = time.perf_counter() - t
        p.join()
        conn.close()
    out(case, dt / n * 1e6, "us")

CASES = {
    "connection.client_roundtrip_tcp": lambda: roundtrip("connection.client_roundtrip_tcp", "AF_INET"),
    "connection.client_roundtrip_unix": lambda: roundtrip("connection.client_roundtrip_unix", "AF_UNIX"),
}

if __name__ == "__main__":
    for name in sys.argv[1:] or CASES:
        CASES[name]()
