"""The same workloads as run.ts, on Dask distributed (for npm run bench).

LocalCluster of 2 worker processes x 1 thread, medians of 3. Prints one JSON
object with the same figure names as run.ts on its last line.
"""
import json
import statistics
import time

import numpy as np
from dask import delayed
from distributed import Client, LocalCluster

RUNS = 3


def inc(x):
    return x + 1


def noop(i):
    return i


def make_bytes(n):
    return np.full(n, 7, dtype=np.uint8)


def size(b):
    # Read one byte of every page: the data must really be there, not only mapped.
    b[::4096].sum()
    return b.nbytes


class Counter:
    n = 0

    def increment(self):
        self.n += 1
        return self.n


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))]


def med(fn):
    return statistics.median(fn() for _ in range(RUNS))


def main():
    r = {}

    def start():
        t = time.perf_counter()
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
        client = Client(cluster)
        client.submit(inc, 1).result()
        s = time.perf_counter() - t
        client.close()
        cluster.close()
        return s

    r["start_s"] = med(start)

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    client = Client(cluster)
    try:
        time.sleep(1.5)
        mems = [w["metrics"]["memory"] / 1e6 for w in client.scheduler_info()["workers"].values()]
        r["idle_worker_rss_mb"] = statistics.median(mems)

        counter = client.submit(Counter, actor=True).result()
        # Warm up with as many calls as troupe.
        for _ in range(5000):
            counter.increment().result()

        def rt():
            lat = []
            for _ in range(2000):
                t = time.perf_counter()
                counter.increment().result()
                lat.append((time.perf_counter() - t) * 1e6)
            return lat

        runs = [rt() for _ in range(RUNS)]
        r["actor_rt_p50_us"] = statistics.median(pct(l, 0.5) for l in runs)
        r["actor_rt_p99_us"] = statistics.median(pct(l, 0.99) for l in runs)

        def attr():
            lat = []
            for _ in range(2000):
                t = time.perf_counter()
                counter.n
                lat.append((time.perf_counter() - t) * 1e6)
            return pct(lat, 0.5)

        r["actor_attr_p50_us"] = med(attr)

        def pipelined(n=20000):
            t = time.perf_counter()
            fs = [counter.increment() for _ in range(n)]
            for f in fs:
                f.result()
            return n / (time.perf_counter() - t)

        pipelined(2000)  # warm up, as for the other workloads

        r["actor_pipelined_per_s"] = med(pipelined)

        def mapped():
            t = time.perf_counter()
            fs = client.map(noop, range(20000), pure=False)
            client.gather(fs)
            return 20000 / (time.perf_counter() - t)

        mapped()  # warm up with one map of the same size, as for troupe
        r["map_tasks_per_s"] = med(mapped)

        def chain():
            t = time.perf_counter()
            node = delayed(inc)(0)
            for _ in range(1, 5000):
                node = delayed(inc)(node)
            v = client.compute(node).result()
            assert v == 5000
            return 5000 / (time.perf_counter() - t)

        r["chain_tasks_per_s"] = med(chain)

        w0, w1 = list(client.scheduler_info()["workers"])[:2]
        mb = 100

        def w2w():
            data = client.submit(make_bytes, mb * 10**6, workers=[w0], pure=False)
            data.result()
            t = time.perf_counter()
            n = client.submit(size, data, workers=[w1], pure=False).result()
            assert n == mb * 10**6
            return mb / (time.perf_counter() - t)

        r["transfer_w2w_mb_s"] = med(w2w)

        def gather():
            data = client.submit(make_bytes, mb * 10**6, pure=False)
            data.exception()
            t = time.perf_counter()
            b = data.result()
            assert size(b) == mb * 10**6
            return mb / (time.perf_counter() - t)

        r["gather_mb_s"] = med(gather)
    finally:
        client.close()
        cluster.close()
    print(json.dumps(r))


if __name__ == "__main__":
    main()
