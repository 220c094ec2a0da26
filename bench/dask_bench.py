"""The same workloads as run.ts, on Dask distributed (for npm run bench).

LocalCluster of 2 worker processes x 1 thread, medians of 3. Prints one JSON
object with the same figure names as run.ts on its last line. Actor figures
are taken in both of Dask's modes: a client with direct_to_workers=True calls
the actor's worker itself; the default client goes through the scheduler.
Dask moves every value over a socket, so its transfers fill the socket rows.
"""
import asyncio
import gc
import json
import statistics
import subprocess
import sys
import time

import numpy as np
from dask import delayed
from distributed import Client, LocalCluster, wait

RUNS = 3
MAP_TASKS = 20_000
FIRST_MAP_TASKS = 2_000
CHAIN = 5_000
MB = 100
NN_CALLERS = 4
PENDING_TASKS = 100_000
# Fewer calls than troupe's (5,000 warm-up, 2,000 per round trip run, 20,000
# pipelined): CPython compiles nothing, so a short warm-up reaches the steady
# rate, and at Dask's ~1 ms per call the counts troupe uses would take most of
# an hour on a busy machine. The figures are per call; the counts do not move them.
WARMUP_CALLS = 500
RT_CALLS = 1_000
PIPELINED_CALLS = 5_000
# Likewise for the n:n calls (troupe: 5,000 per caller) and actors created at
# once (troupe: 10,000): Dask does ~100 of either per second here.
NN_CALLS = 500
ACTORS = 1_000


def inc(x):
    return x + 1


def noop(i):
    return i


def make_bytes(n):
    # Random: nothing on the path can compress them.
    return np.random.default_rng().integers(0, 256, n, dtype=np.uint8)


def size(b):
    # Read every byte: XOR of 64-bit words, then the bytes left over.
    words = b[: b.nbytes // 8 * 8].view(np.uint64)
    x = int(np.bitwise_xor.reduce(words)) ^ int(np.bitwise_xor.reduce(b[b.nbytes // 8 * 8 :], initial=0))
    return b.nbytes if x >= 0 else -1


class Counter:
    n = 0

    def increment(self):
        self.n += 1
        return self.n


class Caller:
    """One caller of the n:n workload: n calls spread over the targets, all in flight at once."""

    async def run(self, targets, n):
        calls = [targets[i % len(targets)].increment() for i in range(n)]
        await asyncio.gather(*(c for c in calls))
        return n


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))]


def med(fn):
    return statistics.median(fn() for _ in range(RUNS))


def new_cluster():
    return LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)


def map_rate(client, n=MAP_TASKS):
    t = time.perf_counter()
    fs = client.map(noop, range(n), pure=False)
    client.gather(fs)
    return n / (time.perf_counter() - t)


def cold(r):
    start, first_map, first_call = [], [], []
    for _ in range(RUNS):
        t = time.perf_counter()
        cluster = new_cluster()
        client = Client(cluster, direct_to_workers=True)
        try:
            client.submit(inc, 1).result()
            start.append(time.perf_counter() - t)
            first_map.append(map_rate(client, FIRST_MAP_TASKS))
            counter = client.submit(Counter, actor=True).result()
            t = time.perf_counter()
            counter.increment().result()
            first_call.append((time.perf_counter() - t) * 1e3)
        finally:
            client.close()
            cluster.close()
    r["start_s"] = statistics.median(start)
    r["first_map_per_s"] = statistics.median(first_map)
    r["first_call_ms"] = statistics.median(first_call)


def actor_figures(r, client, mode):
    # The handle calls through the client that made it current.
    with client.as_current():
        counter = client.submit(Counter, actor=True, pure=False).result()
        for _ in range(WARMUP_CALLS):
            counter.increment().result()

        def rt():
            lat = []
            for _ in range(RT_CALLS):
                t = time.perf_counter()
                counter.increment().result()
                lat.append((time.perf_counter() - t) * 1e6)
            return lat

        runs = [rt() for _ in range(RUNS)]
        r[f"actor_rt_p50_{mode}_us"] = statistics.median(pct(l, 0.5) for l in runs)
        r[f"actor_rt_p99_{mode}_us"] = statistics.median(pct(l, 0.99) for l in runs)

        if mode == "direct":

            def attr():
                lat = []
                for _ in range(RT_CALLS):
                    t = time.perf_counter()
                    counter.n
                    lat.append((time.perf_counter() - t) * 1e6)
                return pct(lat, 0.5)

            r["actor_attr_p50_direct_us"] = med(attr)

        def pipelined(n=PIPELINED_CALLS):
            t = time.perf_counter()
            fs = [counter.increment() for _ in range(n)]
            for f in fs:
                f.result()
            return n / (time.perf_counter() - t)

        pipelined(WARMUP_CALLS)
        r[f"actor_pipelined_{mode}_per_s"] = med(pipelined)
        del counter


def nn_calls(client):
    with client.as_current():
        targets = [client.submit(Counter, actor=True, pure=False).result() for _ in range(2)]
        callers = [client.submit(Caller, actor=True, pure=False).result() for _ in range(NN_CALLERS)]

        def round_():
            t = time.perf_counter()
            done = [c.run(targets, NN_CALLS) for c in callers]
            assert sum(f.result() for f in done) == NN_CALLERS * NN_CALLS
            return NN_CALLERS * NN_CALLS / (time.perf_counter() - t)

        round_()
        return med(round_)


def actors_created(client):
    def once():
        t = time.perf_counter()
        fs = [client.submit(Counter, actor=True, pure=False) for _ in range(ACTORS)]
        wait(fs)
        v = ACTORS / (time.perf_counter() - t)
        client.cancel(fs)
        return v

    return med(once)


def transfers(r, client):
    w0, w1 = list(client.scheduler_info()["workers"])[:2]

    def w2w():
        data = client.submit(make_bytes, MB * 10**6, workers=[w0], pure=False)
        data.result()
        t = time.perf_counter()
        n = client.submit(size, data, workers=[w1], pure=False).result()
        assert n == MB * 10**6
        v = MB / (time.perf_counter() - t)
        data.release()
        return v

    r["w2w_socket_mb_s"] = med(w2w)

    def gather():
        data = client.submit(make_bytes, MB * 10**6, pure=False)
        data.exception()
        t = time.perf_counter()
        assert size(data.result()) == MB * 10**6
        v = MB / (time.perf_counter() - t)
        data.release()
        return v

    r["gather_socket_mb_s"] = med(gather)


def scheduler_rss(dask_scheduler=None):
    import psutil

    gc.collect()
    return psutil.Process().memory_info().rss


def scheduler_tasks(dask_scheduler=None):
    return len(dask_scheduler.tasks)


def scheduler_memory(r):
    """RSS growth of a scheduler process of its own holding 100,000 distinct tasks that cannot run."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0", "--dashboard-address", ":0"],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        address = None
        for line in proc.stderr:
            if "Scheduler at:" in line:
                address = line.split("Scheduler at:")[1].strip()
                break
        assert address, "the dask scheduler did not say where it listens"
        client = Client(address)
        try:
            before = client.run_on_scheduler(scheduler_rss)
            fs = client.map(noop, range(PENDING_TASKS), resources={"NOPE": 1}, pure=False)
            t = time.perf_counter()
            while client.run_on_scheduler(scheduler_tasks) < PENDING_TASKS:
                assert time.perf_counter() - t < 120, "the scheduler did not take the tasks in"
                time.sleep(0.2)
            after = client.run_on_scheduler(scheduler_rss)
            r["sched_rss_per_task_b"] = (after - before) / PENDING_TASKS
            del fs
        finally:
            client.close()
    finally:
        proc.terminate()
        proc.wait()


def part(name, fn, r):
    """Runs one part; one that fails is reported and the run goes on without its figures.

    The figures so far are printed after each part: a run cut short still gives them.
    """
    t = time.perf_counter()
    try:
        fn()
        print(f"dask: {name} took {time.perf_counter() - t:.1f} s", file=sys.stderr, flush=True)
    except Exception as e:  # noqa: BLE001 - any failure of Dask's leaves only that part's rows empty
        print(f"dask: {name} failed after {time.perf_counter() - t:.1f} s, figures left out: {e!r}", file=sys.stderr, flush=True)
    print(json.dumps(r), flush=True)


def main():
    r = {}
    part("cold", lambda: cold(r), r)

    cluster = new_cluster()
    via_scheduler = Client(cluster)
    direct = Client(cluster, direct_to_workers=True)
    try:
        time.sleep(1.5)
        mems = [w["metrics"]["memory"] / 1e6 for w in direct.scheduler_info()["workers"].values()]
        r["idle_worker_rss_mb"] = statistics.median(mems)

        part("actors direct", lambda: actor_figures(r, direct, "direct"), r)
        part("actors via scheduler", lambda: actor_figures(r, via_scheduler, "sched"), r)
        part("n:n", lambda: r.update(actor_nn_per_s=nn_calls(direct)), r)
        part("created", lambda: r.update(actors_created_per_s=actors_created(direct)), r)

        def maps():
            map_rate(direct)  # warm up with one map of the same size, as for troupe
            r["map_per_s"] = med(lambda: map_rate(direct))

        part("map", maps, r)

        def chain():
            t = time.perf_counter()
            node = delayed(inc)(0)
            for _ in range(1, CHAIN):
                node = delayed(inc)(node)
            v = direct.compute(node).result()
            assert v == CHAIN
            return CHAIN / (time.perf_counter() - t)

        part("chain", lambda: r.update(chain_per_s=med(chain)), r)
        part("transfers", lambda: transfers(r, direct), r)
    finally:
        direct.close()
        via_scheduler.close()
        cluster.close()
    part("scheduler memory", lambda: scheduler_memory(r), r)
    print(json.dumps(r))


if __name__ == "__main__":
    main()
