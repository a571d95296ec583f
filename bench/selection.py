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
    parser.add_argument("--seed", action="store_true",
                        help="store the screened applications straight into enrollment's database (as an "
                             "import and screening scores leave them) instead of the import job and 5,000 "
                             "PUTs: only the selection is timed")
    parser.add_argument("--pause", type=float, default=0,
                        help="seconds to wait before the selection (e.g. to attach a profiler)")
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
        if args.seed:
            apps = seed_screened(bench, program, n)
            say(f"{n} screened applications stored")
        else:
            apps = import_and_score(http, url, program, n)
        if args.pause:
            say(f"enrollment pid {bench.system.services['enrollment'].pid}; waiting {args.pause} s")
            time.sleep(args.pause)
        t0 = time.perf_counter()
        answer = http.post(f"{url}/programs/{program['id']}/selection", json={}, timeout=60)
        accepted = time.perf_counter() - t0
        job = wait(http, url, answer.json())
        took = time.perf_counter() - t0
        decisions = len(job["result"]["decisions"]) if job["result"] else 0
        say(f"selection of {len(apps)} applications across two tracks: {answer.status_code} after "
            f"{accepted * 1000:.0f} ms, job {job['state']} after {took:.1f} s, {decisions} decisions")
        client = pymongo.MongoClient(bench.mongo_uri)
        applications = client[f"{stack.DB_PREFIX}_enrollment"].applications
        while applications.find_one({"outbox_pending": 1}, {"_id": 1}) is not None and time.perf_counter() - t0 < 300:
            time.sleep(0.2)
        client.close()
        say(f"every decision's event published {time.perf_counter() - t0:.1f} s after the selection was asked for")
    finally:
        bench.stop()


def seed_screened(bench, program, n):
    """Screened applications stored as the import and a screening score leave them."""
    from datetime import datetime, timezone

    from services.enrollment import domain
    from services.enrollment.models import ApplicationDoc
    rng, now = random.Random(2020), datetime.now(timezone.utc)
    client = pymongo.MongoClient(bench.mongo_uri)
    docs = []
    for i in range(n):
        app = domain.new_application(
            {"student_id": f"s{i:05d}", "name": f"Student {i}", "track": "undergraduate" if i % 3 else "vocational",
             "major": "", "year_of_study": None, "prior_courses": [], "motivation": ""},
            program, school_id="bench-school", actor="admin:bench", now=now)
        app.update(status="screened", score=round(rng.uniform(40, 100), 1), score_source="manual", scored_at=now)
        docs.append(ApplicationDoc(**app).to_mongo().to_dict())
    for start in range(0, n, 1000):
        client[f"{stack.DB_PREFIX}_enrollment"].applications.insert_many(docs[start:start + 1000], ordered=False)
    client.close()
    return docs


def import_and_score(http, url, program, n):
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
    return apps


if __name__ == "__main__":
    main()
