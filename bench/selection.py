"""``python -m bench.selection [--applications N]``: selection as a job, measured.

On its own stack (bench.stack: own vhost, own nx-27017, the whole system): a
programme with two tracks, N applications imported in one HTTP call (a job),
screening scores recorded by hand (16 threads), then ``POST /selection`` and the
time until its job has finished, with how long the 202 took. Prints figures,
asserts nothing about time.
"""
import argparse
import random
import time
from concurrent.futures import ThreadPoolExecutor

import pymongo
import requests

from bench import stack
from bench.stack import Stack, say
from contracts.examples import platinum_cup


def wait(session, url, job):
    while job["state"] not in ("succeeded", "failed"):
        time.sleep(0.1)
        job = session.get(f"{url}/jobs/{job['id']}", timeout=60).json()
    return job


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.selection")
    parser.add_argument("--applications", type=int, default=5000)
    args = parser.parse_args(argv)
    bench = Stack()
    try:
        bench.make_vhost()
        bench.start_database()
        bench.start_system()
        client = pymongo.MongoClient(bench.mongo_uri)
        from gateway.auth import create_key
        key = create_key("bench-school", "admin", db=client[f"{stack.DB_PREFIX}_gateway"])
        client.close()
        http = requests.Session()
        http.headers["Authorization"] = f"Bearer {key}"
        url = f"{bench.system.base_url}/api/v1"
        n = args.applications
        program = http.post(f"{url}/programs", json=platinum_cup(
            "Selection bench", capacity_ug=n * 2 // 5, capacity_voc=n // 5), timeout=60).json()
        lines = ["student_id,name,track"] + [
            f"s{i:05d},Student {i},{'undergraduate' if i % 3 else 'vocational'}" for i in range(n)]
        t0 = time.perf_counter()
        started = http.post(f"{url}/programs/{program['id']}/applications/imports", data="\n".join(lines).encode(),
                            headers={"Content-Type": "text/csv"}, timeout=60).json()
        imported = wait(http, url, started)
        say(f"import of {n} applications: {time.perf_counter() - t0:.1f} s ({imported['result']})")
        apps, offset = [], 0
        while True:
            page = http.get(f"{url}/programs/{program['id']}/applications",
                            params={"limit": 200, "offset": offset}, timeout=60).json()
            apps += page["items"]
            offset += 200
            if not page["has_more"]:
                break
        rng = random.Random(2020)
        t0 = time.perf_counter()
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda a: http.put(f"{url}/applications/{a['id']}/screening-score",
                                             json={"score": round(rng.uniform(40, 100), 1)}, timeout=60), apps))
        say(f"{len(apps)} screening scores: {time.perf_counter() - t0:.1f} s")
        t0 = time.perf_counter()
        answer = http.post(f"{url}/programs/{program['id']}/selection", json={}, timeout=60)
        accepted = time.perf_counter() - t0
        job = wait(http, url, answer.json())
        took = time.perf_counter() - t0
        decisions = len(job["result"]["decisions"]) if job["result"] else 0
        say(f"selection of {len(apps)} applications across two tracks: {answer.status_code} after "
            f"{accepted * 1000:.0f} ms, job {job['state']} after {took:.1f} s, {decisions} decisions")
    finally:
        bench.stop()


if __name__ == "__main__":
    main()
