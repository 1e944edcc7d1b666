"""Peers of bench/distributed_bench.cpp: Celery, RQ and Dask (Debian's python3-celery,
python3-rq, python3-distributed) running the same no-op tasks with 2 workers, as concur's
cluster does. Same shape as the other peers: a CASES dict, one JSON
line per measurement, {"case", "impl", "value", "unit"}, with impl "celery", "rq" or "dask".

    /usr/bin/python3 bench/py_peers_distributed.py [CASE...] [--peers celery,rq,dask]

Each peer gets a fresh cluster, made before its timed loops and torn down after them:

- celery: a private redis-server (127.0.0.1 only, a random password, no persistence, on a
  free port) as broker and result backend; 2 `celery worker` processes (started by this
  script, `--pool solo`: tasks run in the worker process, as concur's `serve` runs them in
  its own threads; `worker_prefetch_multiplier` 64, as the C++ benchmark's `.prefetch`).
  Waiting is `AsyncResult.get()` (the Redis backend's pub/sub).
- rq: a private redis-server as above; 2 `rq` workers (the default `Worker`, which forks a
  work horse for each job, as `rq worker` does). RQ 1.13 has no blocking wait for a job:
  the client polls the job's status, as RQ's users do.
- dask: Dask does not use Redis: a `LocalCluster` (its scheduler in this process) with 2
  worker processes of one thread each (`processes=True`), through its own TCP protocol on
  loopback.

Cases (the C++ benchmark measures the same):
  distributed.submit_wait_noop  submit n no-ops one call each (Celery `delay`, RQ `enqueue`,
                                Dask `Client.submit`), then wait for every result (tasks/s)
  distributed.map_noop          the peer's batch API: Celery `group(...).apply_async()`,
                                RQ `Queue.enqueue_many`, Dask `Client.map`, then every
                                result (tasks/s)
  distributed.latency_one       the median time of one task's round trip, each submitted
                                once the previous one has its result (µs)

Every process this script starts (redis-server, the workers) is stopped and reaped before
it exits, also on an error (SIGTERM, then SIGKILL after a bound); they run under
`setpriv --pdeathsig KILL`, so they go with the script even when the script is killed.
Exits 77 (CTest's "skipped") when a peer's package is not installed.
"""
import gc, json, os, secrets, shutil, socket, statistics, subprocess, sys, tempfile, time

N_SUBMIT = {"celery": 2_000, "rq": 1_000, "dask": 2_000}
N_MAP = {"celery": 2_000, "rq": 1_000, "dask": 5_000}
N_LATENCY = 100
PREFETCH = 64
HERE = os.path.abspath(__file__)


def out(case, impl, value, unit):
    print(json.dumps({"case": case, "impl": impl, "value": round(value, 3), "unit": unit}),
          flush=True)


def noop(x=None):
    return x


def task_fn():
    """noop as workers import it: by its module's name (RQ refuses __main__'s functions)."""
    sys.path.insert(0, os.path.dirname(HERE))
    import py_peers_distributed
    return py_peers_distributed.noop


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """A private redis-server on 127.0.0.1 (a free port, a random password), as the C++
    tests' tests/support/redis_server.hpp starts theirs."""

    def __init__(self):
        import redis
        self.password = secrets.token_hex(16)
        self.dir = tempfile.mkdtemp(prefix="concur-peer-redis-")
        self.port = free_port()
        self.proc = subprocess.Popen(
            ["setpriv", "--pdeathsig", "KILL", "redis-server", "--port", str(self.port),
             "--bind", "127.0.0.1", "--protected-mode", "yes", "--requirepass", self.password,
             "--save", "", "--appendonly", "no", "--dir", self.dir, "--daemonize", "no"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        end = time.monotonic() + 10
        while True:
            try:
                if redis.Redis(host="127.0.0.1", port=self.port, password=self.password,
                               socket_timeout=1).ping():
                    # Nothing is written there (no persistence, the log on stdout): gone
                    # now, so that even a killed script leaves no directory behind.
                    shutil.rmtree(self.dir, ignore_errors=True)
                    break
            except redis.exceptions.ConnectionError:
                if self.proc.poll() is not None or time.monotonic() > end:
                    self.close()
                    raise RuntimeError("py_peers_distributed: redis-server did not start")
                time.sleep(0.01)

    @property
    def url(self):
        return f"redis://:{self.password}@127.0.0.1:{self.port}/0"

    def close(self):
        stop(self.proc)
        shutil.rmtree(self.dir, ignore_errors=True)


def stop(proc, timeout=15):
    """SIGTERM (a warm shutdown for Celery and RQ), then SIGKILL; reaped either way."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def start_workers(kind, url, log):
    """2 worker processes (this script in worker mode, killed with it: setpriv --pdeathsig);
    the URL (with its password) in their environment, not on their command line; their
    output goes to `log`."""
    env = dict(os.environ, CONCUR_PEER_REDIS_URL=url)
    return [subprocess.Popen(["setpriv", "--pdeathsig", "KILL", sys.executable, HERE,
                              f"--{kind}-worker", str(i)],
                             stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env)
            for i in range(2)]


def show(log):
    """The workers' output, after a failure."""
    log.seek(0)
    sys.stderr.write(log.read().decode(errors="replace")[-4000:])


def wait_until(ready, what, timeout=60):
    end = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > end:
            raise RuntimeError(f"py_peers_distributed: {what} not ready within {timeout} s")
        time.sleep(0.05)


def measure(impl, cases, one, each, batch):
    """Runs the requested cases with `one(i)` (submit one task, wait for its result),
    `each(xs)` (submit every task by its own call, then wait for every result) and
    `batch(xs)` (submit a batch, wait for every result)."""
    for i in range(20):  # warm up
        assert one(i) == i
    if "distributed.submit_wait_noop" in cases:
        n = N_SUBMIT[impl]
        t = time.perf_counter()
        total = sum(each(list(range(n))))
        dt = time.perf_counter() - t
        assert total == n * (n - 1) // 2
        out("distributed.submit_wait_noop", impl, n / dt, "tasks/s")
    if "distributed.map_noop" in cases and batch is not None:
        n = N_MAP[impl]
        t = time.perf_counter()
        total = sum(batch(list(range(n))))
        dt = time.perf_counter() - t
        assert total == n * (n - 1) // 2
        out("distributed.map_noop", impl, n / dt, "tasks/s")
    if "distributed.latency_one" in cases:
        samples = []
        for i in range(N_LATENCY):
            t = time.perf_counter()
            assert one(i) == i
            samples.append(time.perf_counter() - t)
        out("distributed.latency_one", impl, statistics.median(samples) * 1e6, "us")


# --- Celery --------------------------------------------------------------------------------

def celery_app(url):
    from celery import Celery
    app = Celery("concur_peer", broker=url, backend=url)
    app.conf.update(worker_prefetch_multiplier=PREFETCH, worker_hijack_root_logger=False,
                    broker_connection_retry_on_startup=True)
    app.task(name="noop")(noop)
    return app


def celery_worker(url, index):
    celery_app(url).worker_main(["worker", "--pool", "solo", "--concurrency", "1",
                                 "--loglevel", "WARNING", "--hostname", f"peer{index}@%h",
                                 "--without-mingle", "--without-gossip"])


def run_celery(cases):
    from celery import group
    server = RedisServer()
    workers = []
    log = tempfile.TemporaryFile()
    try:
        app = celery_app(server.url)
        task = app.tasks["noop"]
        workers = start_workers("celery", server.url, log)
        wait_until(lambda: len(app.control.ping(timeout=0.5) or []) >= 2, "celery workers")
        measure("celery", cases,
                lambda i: task.delay(i).get(timeout=60),
                lambda xs: [r.get(timeout=600) for r in [task.delay(x) for x in xs]],
                lambda xs: group(task.s(x) for x in xs).apply_async().get(timeout=600))
        app.close()
    except BaseException:
        show(log)
        raise
    finally:
        gc.collect()  # Celery's results unsubscribe while their server lives
        for w in workers:
            stop(w)
        server.close()
        log.close()


# --- RQ ------------------------------------------------------------------------------------

def rq_worker(url, index):
    import redis
    from rq import Queue, Worker
    conn = redis.Redis.from_url(url)
    Worker([Queue("peer", connection=conn)], connection=conn, name=f"peer{index}-{os.getpid()}") \
        .work(logging_level="WARNING")


def rq_wait(jobs):
    """Polls until every job finished; their results in order."""
    from rq.job import Job, JobStatus
    conn = jobs[0].connection
    left = {j.id: j for j in jobs}
    results = {}
    while left:
        for j in Job.fetch_many(list(left), connection=conn):
            if j is None:
                continue
            status = j.get_status(refresh=False)
            if status == JobStatus.FINISHED:
                results[j.id] = j.return_value()
                del left[j.id]
            elif status == JobStatus.FAILED:
                raise RuntimeError(f"rq job {j.id} failed")
        if left:
            time.sleep(0.0005 if len(left) == 1 else 0.005)
    return [results[j.id] for j in jobs]


def run_rq(cases):
    import redis
    from rq import Queue, Worker
    server = RedisServer()
    workers = []
    log = tempfile.TemporaryFile()
    try:
        conn = redis.Redis.from_url(server.url)
        q = Queue("peer", connection=conn)
        fn = task_fn()
        workers = start_workers("rq", server.url, log)
        wait_until(lambda: len(Worker.all(connection=conn)) >= 2, "rq workers")
        measure("rq", cases,
                lambda i: rq_wait([q.enqueue(fn, i)])[0],
                lambda xs: rq_wait([q.enqueue(fn, x) for x in xs]),
                lambda xs: rq_wait(q.enqueue_many([Queue.prepare_data(fn, (x,)) for x in xs])))
    except BaseException:
        show(log)
        raise
    finally:
        gc.collect()  # Celery's results unsubscribe while their server lives
        for w in workers:
            stop(w)
        server.close()
        log.close()


# --- Dask ----------------------------------------------------------------------------------

def run_dask(cases):
    from dask.distributed import Client, LocalCluster
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      host="127.0.0.1", dashboard_address=None) as cluster, \
            Client(cluster) as client:
        fn = task_fn()
        measure("dask", cases,
                lambda i: client.submit(fn, i, pure=False).result(),
                lambda xs: client.gather([client.submit(fn, x, pure=False) for x in xs]),
                lambda xs: client.gather(client.map(fn, xs, pure=False)))


PEERS = {"celery": run_celery, "rq": run_rq, "dask": run_dask}
MODULES = {"celery": "celery", "rq": "rq", "dask": "distributed"}
CASES = {
    "distributed.submit_wait_noop": "tasks/s",
    "distributed.map_noop": "tasks/s",
    "distributed.latency_one": "us",
}


def main(argv):
    if len(argv) >= 2 and argv[0] == "--celery-worker":
        return celery_worker(os.environ["CONCUR_PEER_REDIS_URL"], argv[1])
    if len(argv) >= 2 and argv[0] == "--rq-worker":
        return rq_worker(os.environ["CONCUR_PEER_REDIS_URL"], argv[1])
    peers = list(PEERS)
    if "--peers" in argv:
        k = argv.index("--peers")
        peers = argv[k + 1].split(",")
        argv = argv[:k] + argv[k + 2:]
    cases = argv or list(CASES)
    unknown = [c for c in cases if c not in CASES] + [p for p in peers if p not in PEERS]
    if unknown:
        sys.exit(f"py_peers_distributed: unknown {', '.join(unknown)}")
    import importlib.util
    missing = [MODULES[p] for p in peers if importlib.util.find_spec(MODULES[p]) is None]
    if missing or importlib.util.find_spec("redis") is None or not shutil.which("redis-server"):
        print("py_peers_distributed: skipped: not installed: "
              + " ".join(missing or ["python3-redis / redis-server"])
              + " (tools/deps.sh bench installs the peers)", file=sys.stderr)
        sys.exit(77)
    for p in peers:
        PEERS[p](cases)


if __name__ == "__main__":
    main(sys.argv[1:])
