#!/usr/bin/env python3
"""Failure scenarios against the two-instance cluster that tests/cluster/run.sh starts.

Python 3.11, standard library only. A steady load through nginx (subject profile reads and
`POST /api/v1/checks` by officers, record submissions by a provider), and while it runs:

  a. SIGKILL of instance A: no failed request through the proxy beyond those in flight at the
     kill (an idempotent GET is retried by nginx on B), no accepted write lost; A restarted.
  b. PostgreSQL stopped (pg_ctl stop -m fast) for 5 s, then started: every answer meanwhile is
     503 (a 500 is a failure, with its body), requests succeed again within 5 s of it coming
     back, no accepted write lost.
  c. Redis stopped: no failed request, /readyz 200 "degraded" with the cache "degraded"; once it
     is back, a record changed through A is never read stale from B (directly or through nginx).
  c2. Redis unreachable but not gone (SIGSTOP, its data kept; a paused container, a network
     partition): no failed request; a record changed through A meanwhile is never read stale from
     B once Redis answers again.
  d. A record changed through one instance is never served stale by the other (read straight
     after the write, from the other instance's own port, with readers of the same subject
     hammering both instances meanwhile).
  e. One access-log sealer at a time across the instances: the seals the instances log never
     overlap and cover the chain without a gap, the chain in PostgreSQL is linked seq by seq, a
     sampled pg_locks never shows two holders of the sealer's advisory lock, and
     `creditgate audit verify` finds no break.
  f. X-Forwarded-For set by nginx and believed from it (CREDITGATE_TRUSTED_PROXIES): failed
     keys are counted per client behind the proxy, not per proxy; and nginx's body limit is the
     service's (a body of CREDITGATE_MAX_BODY_BYTES passes, one byte more is 413).
  g. One sync runner at a time across the instances (both sync from `creditgate provincial-sim`
     every second; its feed grows in ten steps, a fifth of its answers slowed): the rounds the
     instances log never overlap, a sampled pg_locks never shows two holders of the runner's
     lock, and `creditgate sync --status` ends with the platform's own digest of the records.

Processes are stopped and started through `run.sh --ctl TMP ACTION` (--ctl). Each scenario
prints its figures; --out writes them all as JSON. Exit status 1 when any scenario fails.
"""

import argparse
import http.client
import json
import os
import random
import re
import shlex
import subprocess
import sys
import threading
import time
import urllib.parse

PURPOSE = "集群故障演练核查"
T0 = time.monotonic()
DEADLINE_S = 260  # the whole run, startup and teardown included, stays under 5 minutes


def now():
    return time.monotonic() - T0


def log(msg):
    print(f"[{now():7.2f}s] {msg}", flush=True)


# ---------------------------------------------------------------------------------------------
# HTTP


class Answer:
    __slots__ = ("status", "body", "text", "headers")

    def __init__(self, status, text, headers):
        self.status = status
        self.text = text
        self.headers = headers
        try:
            self.body = json.loads(text) if text else None
        except ValueError:
            self.body = None


def call(base, method, path, body=None, key=None, timeout=30.0):
    """One request on a fresh connection. Status 0 when no HTTP answer came (text says why)."""
    u = urllib.parse.urlsplit(base)
    headers = {"Accept": "application/json"}
    data = None
    if key:
        headers["Authorization"] = f"Bearer {key}"
    if body is not None:
        data = json.dumps(body, ensure_ascii=False).encode()
        headers["Content-Type"] = "application/json"
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        conn.request(method, path, body=data, headers=headers)
        r = conn.getresponse()
        text = r.read().decode("utf-8", "replace")
        return Answer(r.status, text, dict(r.getheaders()))
    except (OSError, http.client.HTTPException) as e:
        return Answer(0, f"{type(e).__name__}: {e}", {})
    finally:
        conn.close()


def q(s):
    return urllib.parse.quote(s, safe="")


# ---------------------------------------------------------------------------------------------
# Codes (GB 32100 with the embedded GB 11714 check character), as src/domain/uscc.rs computes.

USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]
ORG_WEIGHTS = [3, 7, 9, 10, 5, 8, 4, 2]


def uscc(n):
    body = f"CL{n:06d}"
    s = sum((int(c) if c.isdigit() else ord(c) - 55) * w for c, w in zip(body, ORG_WEIGHTS))
    org = {10: "X", 11: "0"}.get(11 - s % 11, str(11 - s % 11))
    first17 = "91" + "110105" + body + org
    total = sum(USCC_CHARS.index(c) * w for c, w in zip(first17, USCC_WEIGHTS))
    return first17 + USCC_CHARS[(31 - total % 31) % 31]


def record(source_id, code, version, marker):
    return {
        "source_record_id": source_id,
        "kind": "penalty",
        "subject": {"uscc": code, "name": f"集群演练企业{code[-6:]}", "kind": "legal_person"},
        "decision_no": f"京市监罚〔2026〕{source_id}号",
        "decision_date": "2026-03-01",
        "severity": "general",
        "penalty_types": ["fine"],
        "fine_amount": f"{1000 + version}.00",
        "authority": {"name": "北京市市场监督管理局", "uscc": "11110000MB0000000U"},
        "sharing_class": "unconditional",
        "open_class": "open",
        "status": "active",
        "version": version,
        "details": {"CF_WFXW": "集群演练", "marker": marker},
    }


# ---------------------------------------------------------------------------------------------
# The load, and what it saw


class Req:
    __slots__ = ("op", "method", "t0", "t1", "status", "text")

    def __init__(self, op, method, t0, t1, status, text):
        self.op, self.method, self.t0, self.t1, self.status, self.text = op, method, t0, t1, status, text

    def ok(self):
        return 200 <= self.status < 300

    def desc(self):
        return f"{self.method} {self.op} {self.status} [{self.t0:.2f}-{self.t1:.2f}s] {self.text[:300]}"


class Cluster:
    def __init__(self, args):
        self.args = args
        self.proxy, self.a, self.b = args.proxy, args.a, args.b
        self.admin = args.admin_key
        self.ctl_cmd = shlex.split(args.ctl)
        self.env = read_env(os.path.join(args.tmp, "cluster.env"))
        self.reqs = []
        self.lock = threading.Lock()
        # record id -> {"sid", "code", "version", "marker"} for every write answered 2xx
        self.accepted = {}
        self.uncertain = set()  # source ids whose last submission got no 2xx
        self.api_verified = set()  # (record id, version) read back through nginx already
        self.events = []  # (ctl action, wall-clock start, end)
        self.codes = [uscc(i) for i in range(1, 31)]
        self.officers = []
        self.provider = None

    def ctl(self, action):
        t, wall = now(), time.time()
        r = subprocess.run(self.ctl_cmd + [action], capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise RuntimeError(f"ctl {action} failed: {r.stderr.strip()}")
        self.events.append((action, wall, time.time()))
        log(f"ctl {action} ({now() - t:.2f} s)")

    def note(self, op, method, t0, a):
        with self.lock:
            self.reqs.append(Req(op, method, t0, now(), a.status, a.text if not (200 <= a.status < 300) else ""))

    def between(self, t_from, t_to):
        with self.lock:
            return [r for r in self.reqs if t_from <= r.t0 <= t_to]

    # --- set-up

    def wait_ready(self, base, timeout=30.0, want=("ready",)):
        end = time.monotonic() + timeout
        last = None
        while time.monotonic() < end:
            last = call(base, "GET", "/readyz", timeout=15)
            if last.status == 200 and last.body and last.body.get("status") in want:
                return last
            time.sleep(0.2)
        raise RuntimeError(f"{base}/readyz not {want} in {timeout} s: {last.status} {last.text[:300]}")

    def make_key(self, org, role):
        a = call(self.proxy, "POST", "/api/v1/admin/keys", {"org_code": org, "role": role, "label": "cluster test"}, self.admin)
        if a.status != 201:
            raise RuntimeError(f"key for {org}/{role}: {a.status} {a.text[:300]}")
        return a.body["key"]

    def setup(self):
        for base in (self.a, self.b):
            self.wait_ready(base)
        call_ok = call(self.proxy, "GET", "/healthz")
        if call_ok.status != 200:
            raise RuntimeError(f"nginx: /healthz {call_ok.status} {call_ok.text[:200]}")
        self.officers = [self.make_key("ZWFW", "officer") for _ in range(4)]
        self.provider = self.make_key("SCJG", "provider")
        self.provider2 = self.make_key("SCJG", "provider")
        seed = [record(f"SEED-{i}", c, 1, "seed") for i, c in enumerate(self.codes)]
        a = call(self.proxy, "POST", "/api/v1/records/batch", {"records": seed}, self.provider)
        if a.status != 200 or a.body["summary"]["rejected"]:
            raise RuntimeError(f"seed batch: {a.status} {a.text[:500]}")
        for i, res in enumerate(a.body["results"]):
            self.accepted[res["id"]] = {"sid": f"SEED-{i}", "code": self.codes[i], "version": 1, "marker": "seed"}
        self.seed_ids = [res["id"] for res in a.body["results"]]

    # --- one submission (the writer thread, and the scenarios' own writes)

    def submit(self, base, key, sid, code, version, marker, op="write"):
        t0 = now()
        a = call(base, "POST", "/api/v1/records/batch", {"records": [record(sid, code, version, marker)]}, key)
        self.note(op, "POST", t0, a)
        if a.status == 200:
            res = a.body["results"][0]
            if res["status"] in ("created", "updated", "unchanged"):
                with self.lock:
                    self.accepted[res["id"]] = {"sid": sid, "code": code, "version": version, "marker": marker}
                    self.uncertain.discard(sid)
                return res["id"], a
        with self.lock:
            self.uncertain.add(sid)
        return None, a


class Load:
    """Readers and checkers (one officer key each) and one writer, through nginx (or, with
    `direct`, straight to one instance: "a" or "b"; its operations are then named "profile@a")."""

    def __init__(self, c, readers=2, checkers=2, pause=0.02, bulk=0, bulk_size=200, direct=None):
        self.c = c
        self.base = {"a": c.a, "b": c.b}[direct] if direct else c.proxy
        self.tag = f"@{direct}" if direct else ""
        self.stop = threading.Event()
        self.threads = []
        # Bulk writers (scenario a): `bulk` threads that send a batch of `bulk_size` new records
        # together (a barrier), so that the kill can be timed while batches are in flight.
        self.bulk_size = bulk_size
        self.bulk_barrier = threading.Barrier(bulk) if bulk else None
        self.bulk_sent = threading.Event()
        self.bulk_go = threading.Event()  # batches are sent only while it is set
        self.bulk_cut = []  # (batch prefix, status, text) of batches not answered 2xx
        for i in range(bulk):
            self.threads.append(threading.Thread(target=self.bulk_writer, args=(i,), daemon=True))
        for i in range(readers):
            self.threads.append(threading.Thread(target=self.reader, args=(c.officers[i % len(c.officers)],), daemon=True))
        for i in range(checkers):
            self.threads.append(threading.Thread(target=self.checker, args=(c.officers[(readers + i) % len(c.officers)],), daemon=True))
        self.threads.append(threading.Thread(target=self.writer, daemon=True))
        self.pause = pause
        self.n_written = 0

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.bulk_go.set()
        if self.bulk_barrier:
            self.bulk_barrier.abort()
        for t in self.threads:
            t.join(timeout=40)

    def reader(self, key):
        rnd = random.Random()
        while not self.stop.is_set():
            code = rnd.choice(self.c.codes)
            t0 = now()
            a = call(self.base, "GET", f"/api/v1/subjects/{code}?purpose={q(PURPOSE)}", key=key)
            self.c.note("profile" + self.tag, "GET", t0, a)
            self.stop.wait(self.pause)

    def checker(self, key):
        rnd = random.Random()
        while not self.stop.is_set():
            code = rnd.choice(self.c.codes)
            t0 = now()
            a = call(self.base, "POST", "/api/v1/checks",
                     {"scenario": "procurement", "subject": {"uscc": code}, "purpose": PURPOSE, "reference": "CLUSTER-1"}, key)
            self.c.note("check" + self.tag, "POST", t0, a)
            self.stop.wait(self.pause)

    def bulk_writer(self, i):
        n = 0
        while not self.stop.is_set():
            self.bulk_go.wait()
            if self.stop.is_set():
                return
            n += 1
            prefix = f"BULK-{os.getpid()}-{i}-{n}"
            recs = [record(f"{prefix}-{j}", self.c.codes[j % len(self.c.codes)], 1, prefix) for j in range(self.bulk_size)]
            try:
                self.bulk_barrier.wait(timeout=30)
            except threading.BrokenBarrierError:
                return
            self.bulk_sent.set()
            t0 = now()
            a = call(self.c.proxy, "POST", "/api/v1/records/batch", {"records": recs}, self.c.provider)
            self.c.note("bulk_write", "POST", t0, a)
            if a.status == 200:
                with self.c.lock:
                    for j, res in enumerate(a.body["results"]):
                        if res["status"] in ("created", "updated", "unchanged"):
                            self.c.accepted[res["id"]] = {"sid": f"{prefix}-{j}", "code": recs[j]["subject"]["uscc"], "version": 1, "marker": prefix}
            else:
                self.bulk_cut.append((prefix, a.status, a.text[:300]))
            self.bulk_sent.clear()
            self.stop.wait(0.05)

    def writer(self):
        rnd = random.Random()
        mine = {}  # sid -> (code, version)
        n = 0
        while not self.stop.is_set():
            n += 1
            if mine and rnd.random() < 0.3:
                sid = rnd.choice(list(mine))
                if sid in self.c.uncertain:  # its last submission may or may not have been applied
                    sid, (code, version) = None, (None, None)
                else:
                    code, version = mine[sid]
                    version += 1
            else:
                sid = None
            if sid is None:
                sid, code, version = f"LOAD{self.tag}-{os.getpid()}-{n}", rnd.choice(self.c.codes), 1
            marker = f"m{n}"
            rid, _ = self.c.submit(self.base, self.c.provider, sid, code, version, marker, op="write" + self.tag)
            if rid:
                mine[sid] = (code, version)
                self.n_written += 1
            self.stop.wait(self.pause * 2)


# ---------------------------------------------------------------------------------------------
# Figures


def figures(reqs, t_from, t_to):
    by_status, by_op = {}, {}
    for r in reqs:
        by_status[str(r.status)] = by_status.get(str(r.status), 0) + 1
        o = by_op.setdefault(r.op, {"n": 0, "failed": 0})
        o["n"] += 1
        if not r.ok():
            o["failed"] += 1
    return {
        "seconds": round(t_to - t_from, 2),
        "requests": len(reqs),
        "by_status": dict(sorted(by_status.items())),
        "by_operation": by_op,
        "failed": sum(1 for r in reqs if not r.ok()),
    }


class Scenario:
    def __init__(self, name, title):
        self.name, self.title = name, title
        self.failures = []
        self.fig = {}
        self.t_start = now()

    def fail(self, msg):
        self.failures.append(msg)

    def check(self, cond, msg):
        if not cond:
            self.fail(msg)
        return cond

    def result(self):
        self.fig["seconds_total"] = round(now() - self.t_start, 2)
        return {"name": self.name, "title": self.title, "passed": not self.failures, "failures": self.failures, **self.fig}

    def report(self):
        r = self.result()
        print(f"\n--- {self.name}: {self.title}: {'PASS' if r['passed'] else 'FAIL'}")
        for k, v in r.items():
            if k in ("name", "title", "passed", "failures"):
                continue
            print(f"    {k}: {json.dumps(v, ensure_ascii=False)}")
        for f in self.failures[:25]:
            print(f"    FAILURE: {f}")
        if len(self.failures) > 25:
            print(f"    ... and {len(self.failures) - 25} more failures")
        return r


def verify_writes(c, s, label):
    """No accepted write lost: every record whose submission was answered 2xx is stored with at
    least the version accepted (all of them, in PostgreSQL), and reads back through nginx with it
    (every one not read back before, bulk records sampled: the keys' rate limit)."""
    with c.lock:
        items = list(c.accepted.items())
    lost, older, errors = [], [], []
    # The database.
    values = ",".join(f"('{rid}',{w['version']})" for rid, w in items)
    rows = psql(c, f"SELECT a.id, a.v, r.version FROM (VALUES {values}) AS a(id, v) "
                   "LEFT JOIN credit_records r ON r.id = a.id WHERE r.version IS NULL OR r.version < a.v")
    for line in filter(None, rows.splitlines()):
        rid, v, stored = line.split("|")
        (lost if not stored else older).append(f"{rid} ({c.accepted[rid]['sid']}): accepted v{v}, stored {stored or 'nothing'}")
    # Through nginx.
    todo = [(rid, w) for rid, w in items if (rid, w["version"]) not in c.api_verified]
    bulk = [x for x in todo if x[1]["sid"].startswith("BULK-")]
    todo = [x for x in todo if not x[1]["sid"].startswith("BULK-")] + random.sample(bulk, min(50, len(bulk)))
    lock = threading.Lock()
    keys = [c.admin] + c.officers

    def work(chunk, key):
        for rid, w in chunk:
            a = call(c.proxy, "GET", f"/api/v1/records/{rid}?purpose={q(PURPOSE)}", key=key)
            with lock:
                if a.status == 404:
                    lost.append(f"{rid} ({w['sid']} v{w['version']}): GET through nginx 404 {a.text[:200]}")
                elif a.status != 200:
                    errors.append(f"{rid}: {a.status} {a.text[:200]}")
                elif a.body.get("version", 0) < w["version"]:
                    older.append(f"{rid} ({w['sid']}): GET through nginx v{a.body.get('version')} < accepted v{w['version']}")
                else:
                    c.api_verified.add((rid, w["version"]))

    ts = [threading.Thread(target=work, args=(todo[i::len(keys)], k)) for i, k in enumerate(keys)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    s.fig[f"{label}_accepted_writes_checked_in_db"] = len(items)
    s.fig[f"{label}_accepted_writes_read_through_nginx"] = len(todo)
    s.fig[f"{label}_writes_lost"] = len(lost) + len(older)
    for m in lost:
        s.fail(f"accepted write lost: {m}")
    for m in older:
        s.fail(f"accepted write lost (older version stored): {m}")
    for m in errors[:10]:
        s.fail(f"reading an accepted record back failed: {m}")


def five_hundreds(s, reqs):
    for r in reqs:
        if r.status == 500:
            s.fail(f"500 answered: {r.desc()}")


# ---------------------------------------------------------------------------------------------
# a. SIGKILL one instance under load


def scenario_a(c):
    s = Scenario("a", "SIGKILL of instance A under load")
    t_from = now()
    with Load(c, bulk=2) as load:
        time.sleep(3)
        # Two batches of 200 records go out together (round robin: one to each instance, as a
        # rule); the kill comes while they are being written.
        load.bulk_sent.clear()
        load.bulk_go.set()
        load.bulk_sent.wait(timeout=10)
        time.sleep(0.08)
        k0 = now()
        c.ctl("kill-a")
        k1 = now()
        load.bulk_go.clear()
        time.sleep(5)
    t_to = now()
    reqs = c.between(t_from, t_to)
    s.fig.update(figures(reqs, t_from, t_to))
    in_flight = [r for r in reqs if r.t0 <= k1 and r.t1 >= k0]
    s.fig["in_flight_at_kill"] = len(in_flight)
    s.fig["in_flight_at_kill_by_operation"] = {op: sum(1 for r in in_flight if r.op == op) for op in sorted({r.op for r in in_flight})}
    failed = [r for r in reqs if not r.ok()]
    s.fig["failed_in_flight"] = sum(1 for r in failed if r in in_flight)
    s.fig["failed_in_flight_statuses"] = sorted(r.status for r in failed if r in in_flight)
    for r in failed:
        if r.method == "GET":
            s.fail(f"idempotent GET failed (nginx should have passed it to B): {r.desc()}")
        elif r not in in_flight:
            s.fail(f"request not in flight at the kill failed: {r.desc()}")
        elif r.status == 500:
            s.fail(f"500 for a request cut by the kill: {r.desc()}")
    s.check(len(failed) <= len(in_flight), f"{len(failed)} failed requests > {len(in_flight)} in flight at the kill")
    five_hundreds(s, reqs)
    # A batch cut by the kill may have been applied or not (its POST was not passed on): how
    # much of it is stored, for the record.
    cut = {}
    for prefix, status, _ in load.bulk_cut:
        try:
            cut[prefix] = {"status": status, "stored_of_200": int(psql(c, f"SELECT count(*) FROM credit_records WHERE source_record_id LIKE '{prefix}-%'"))}
        except RuntimeError as e:
            cut[prefix] = {"status": status, "stored_of_200": str(e)}
    s.fig["batches_cut_by_the_kill"] = cut
    # A back, and serving.
    c.ctl("start-a")
    r0 = now()
    try:
        c.wait_ready(c.a, timeout=30)
        s.fig["restart_ready_seconds"] = round(now() - r0, 2)
    except RuntimeError as e:
        s.fail(str(e))
    verify_writes(c, s, "after")
    return s


# ---------------------------------------------------------------------------------------------
# b. PostgreSQL stopped for 5 s under load


def scenario_b(c):
    s = Scenario("b", "PostgreSQL stopped (pg_ctl stop -m fast) for 9 s under load")
    probes = []  # (path, instance, t0, t1, status, body)

    def probe(path, name, base):
        t0 = now()
        a = call(base, "GET", path, timeout=30)
        probes.append((path, name, t0, now(), a.status, a.body))

    t_from = now()
    threads = []
    # Through nginx, and straight to each instance (nginx answers most requests itself once it
    # has taken both instances out; the instances' own answers are what the contract fixes).
    with Load(c, readers=4, checkers=4), Load(c, 2, 2, direct="a"), Load(c, 2, 2, direct="b"):
        time.sleep(2)
        d0 = now()
        c.ctl("stop-pg")
        d1 = now()
        # /readyz and /healthz of each instance, asked once PostgreSQL is down (and again 2 s on).
        for delay in (0.0, 2.0):
            time.sleep(delay)
            for name, base in (("a", c.a), ("b", c.b)):
                for path in ("/readyz", "/healthz"):
                    t = threading.Thread(target=probe, args=(path, name, base), daemon=True)
                    t.start()
                    threads.append(t)
        # Down long enough (9 s) that a /readyz waiting the pool's 5 s answers before the restart.
        time.sleep(max(0.0, 9 - (now() - d0)))
        u0 = now()
        c.ctl("start-pg")
        u1 = now()
        # Load until requests have gone through for a while (at most 15 s after it is back).
        end = u1 + 15
        while now() < end:
            time.sleep(0.5)
            if now() > u1 + 6 and all(r.ok() for r in c.between(now() - 2.5, now())):
                break
    for t in threads:
        t.join(timeout=40)
    t_to = now()
    reqs = c.between(t_from, t_to)
    s.fig.update(figures(reqs, t_from, t_to))
    s.fig["down_seconds"] = round(u0 - d1, 2)
    s.fig["pg_ctl_stop_seconds"] = round(d1 - d0, 2)
    s.fig["pg_ctl_start_seconds"] = round(u1 - u0, 2)
    # While it is down (every request overlapping [stopped, starting]): 503 and only 503, but
    # for a request that began before the stop was complete, or ended after the restart.
    down = [r for r in reqs if r.t1 >= d1 and r.t0 <= u0]
    s.fig["requests_while_down"] = len(down)
    for label, subset in (("through_nginx", [r for r in down if "@" not in r.op]), ("direct", [r for r in down if "@" in r.op])):
        lat = sorted(r.t1 - r.t0 for r in subset if r.status == 503)
        s.fig[f"while_down_{label}"] = {"requests": len(subset), "by_status": figures(subset, d1, u0)["by_status"]}
        if lat:
            s.fig[f"while_down_{label}"]["seconds_to_503"] = {"p50": round(lat[len(lat) // 2], 2), "max": round(lat[-1], 2)}
    for r in down:
        if r.status == 503:
            continue
        if r.ok() and (r.t0 < d1 or r.t1 > u0):
            continue
        s.fail(f"while PostgreSQL was down, not 503: {r.desc()}")
    others = [r for r in reqs if r not in down]
    five_hundreds(s, others)
    for r in others:
        if not r.ok() and r.status not in (503, 500):
            s.fail(f"failed around the outage, not 503: {r.desc()}")
    # Back: the last failed request began how long after PostgreSQL accepted connections again.
    failed_after = [r for r in reqs if not r.ok() and r.t0 >= u1]
    last_fail_start = max((r.t0 for r in failed_after), default=u1)
    recovery = round(last_fail_start - u1, 2)
    s.fig["recovery_seconds"] = recovery
    s.fig["failed_after_back"] = len(failed_after)
    s.check(recovery <= 5.0, f"requests still failing {recovery} s after PostgreSQL was back (limit 5 s): "
            + "; ".join(r.desc() for r in failed_after[-3:]))
    ok_after = sorted(r.t1 for r in reqs if r.ok() and r.t0 >= u1)
    s.check(bool(ok_after), "no request succeeded after PostgreSQL was back")
    if ok_after:
        s.fig["first_success_after_back_s"] = round(ok_after[0] - u1, 2)
    # The probes: /healthz 200 at once while the process runs; /readyz 503 "unavailable" with
    # the database "down" (200 only if it was answered after PostgreSQL was back).
    s.fig["probes_while_down"] = [
        {"path": p, "instance": n, "asked_s_after_stop": round(t0 - d1, 2), "seconds": round(t1 - t0, 2), "status": st,
         "answered_after_restart": t1 > u0, "body": b if p == "/readyz" else None}
        for (p, n, t0, t1, st, b) in sorted(probes, key=lambda x: (x[0], x[2], x[1]))]
    readyz = [x for x in probes if x[0] == "/readyz"]
    s.check(len(readyz) >= 4, f"only {len(readyz)} /readyz probes answered")
    for (p, n, t0, t1, st, b) in probes:
        if p == "/healthz":
            s.check(st == 200 and t1 - t0 < 2, f"/healthz of {n} while PostgreSQL was down: {st} after {t1 - t0:.2f} s")
        elif t1 > u0:
            # Asked at most 2 s into a 9 s outage: a probe answered only after the restart
            # waited too long (a proxy's health check would have timed out).
            s.fail(f"/readyz of {n} asked while PostgreSQL was down answered only after it was back ({t1 - t0:.2f} s): {st}")
        elif t1 - t0 > 6:
            s.fail(f"/readyz of {n} took {t1 - t0:.2f} s to answer while PostgreSQL was down (limit 6 s)")
        elif st != 503 or not b or b.get("status") != "unavailable" or (b.get("database") or {}).get("status") != "down":
            s.fail(f"/readyz of {n} asked while PostgreSQL was down: {st} after {t1 - t0:.2f} s: {json.dumps(b, ensure_ascii=False)[:300]}")
    slow = [f"/readyz of {n} took {t1 - t0:.1f} s" for (p, n, t0, t1, st, b) in probes if p == "/readyz" and t1 - t0 > 3]
    if slow:
        s.fig["observations"] = slow
    r0 = now()
    for base in (c.a, c.b):
        try:
            c.wait_ready(base, timeout=10)
        except RuntimeError as e:
            s.fail(str(e))
    s.fig["both_ready_again_s_after_checking"] = round(now() - r0, 2)
    verify_writes(c, s, "after")
    return s


# ---------------------------------------------------------------------------------------------
# c. Redis stopped under load; c2. Redis unreachable (SIGSTOP)


def bump(c, base, rid, marker):
    """Submits the next version of accepted record `rid` through `base`; its new version or None."""
    with c.lock:
        w = dict(c.accepted[rid])
    got, a = c.submit(base, c.provider2, w["sid"], w["code"], w["version"] + 1, marker, op="bump")
    return (w["version"] + 1, w["code"]) if got else (None, a)


def read_version(c, base, code, rid):
    """The version of record `rid` in the subject profile `base` serves, and the marker."""
    a = call(base, "GET", f"/api/v1/subjects/{code}?purpose={q(PURPOSE)}", key=c.officers[0])
    if a.status != 200:
        return None, None, a
    for rec in a.body.get("records", []):
        if rec.get("id") == rid:
            return rec.get("version"), (rec.get("details") or {}).get("marker"), a
    return -1, None, a


def fresh_reads(c, s, rid, writer, readers, rounds, label):
    """`rounds` times: a new version through `writer`, then the profile from every reader."""
    stale, reads, errors = [], 0, []
    for i in range(rounds):
        marker = f"{label}-{i}"
        v, code = bump(c, writer, rid, marker)
        if v is None:
            errors.append(f"write through {writer} failed: {code.status} {code.text[:200]}")
            continue
        for name, base in readers:
            got, m, a = read_version(c, base, code, rid)
            reads += 1
            if got is None:
                errors.append(f"profile via {name}: {a.status} {a.text[:200]}")
            elif got != v or m != marker:
                stale.append(f"via {name}: version {got} marker {m}, written v{v} {marker}")
    s.fig[f"{label}_writes"] = rounds
    s.fig[f"{label}_reads"] = reads
    s.fig[f"{label}_stale"] = len(stale)
    for m in stale:
        s.fail(f"stale read ({label}) {m}")
    for m in errors:
        s.fail(f"({label}) {m}")


def readiness_of(base):
    a = call(base, "GET", "/readyz", timeout=15)
    return a.status, a.body


def scenario_c(c):
    s = Scenario("c", "Redis stopped under load, then back")
    rid = c.seed_ids[1]
    code = c.accepted[rid]["code"]
    for base in (c.a, c.b):
        read_version(c, base, code, rid)  # cached in Redis
    t_from = now()
    with Load(c):
        time.sleep(1.5)
        d0 = now()
        c.ctl("stop-redis")
        # /readyz: 200, "degraded", the cache "degraded" (worked out at most once a second).
        for name, base in (("a", c.a), ("b", c.b)):
            end, seen = now() + 4, None
            while now() < end:
                seen = readiness_of(base)
                if seen[0] == 200 and seen[1] and seen[1].get("status") == "degraded":
                    break
                time.sleep(0.25)
            st, body = seen
            s.fig[f"readyz_{name}_redis_down"] = {"status": st, "body": body}
            cache = (body or {}).get("cache") or {}
            s.check(st == 200 and (body or {}).get("status") == "degraded" and cache.get("status") == "degraded",
                    f"/readyz of {name} with Redis down: {st} {json.dumps(body, ensure_ascii=False)[:400]}")
        # A change through A during the outage, read from B.
        fresh_reads(c, s, rid, c.a, [("b", c.b), ("proxy", c.proxy)], 3, "during_outage")
        time.sleep(max(0.0, 4 - (now() - d0)))
        u0 = now()
        c.ctl("start-redis")
        end, ok = now() + 6, {}
        while now() < end and len(ok) < 2:
            for name, base in (("a", c.a), ("b", c.b)):
                st, body = readiness_of(base)
                if st == 200 and ((body or {}).get("cache") or {}).get("status") == "ok":
                    ok.setdefault(name, round(now() - u0, 2))
            time.sleep(0.25)
        s.fig["cache_ok_again_seconds"] = ok
        s.check(len(ok) == 2, f"/readyz cache not ok again within 6 s of Redis' return: {ok}")
        time.sleep(1)
    t_to = now()
    reqs = c.between(t_from, t_to)
    s.fig.update(figures(reqs, t_from, t_to))
    for r in reqs:
        if not r.ok():
            s.fail(f"failed with Redis down or returning: {r.desc()}")
    # Back: changes through A, read from B directly and through nginx; and the other way round.
    fresh_reads(c, s, rid, c.a, [("b", c.b), ("proxy", c.proxy)], 10, "after_return")
    fresh_reads(c, s, rid, c.b, [("a", c.a), ("proxy", c.proxy)], 5, "after_return_reverse")
    verify_writes(c, s, "after")
    return s


def scenario_c2(c):
    s = Scenario("c2", "Redis unreachable but not gone (SIGSTOP, data kept) under load")
    rid = c.seed_ids[2]
    code = c.accepted[rid]["code"]
    for base in (c.a, c.b, c.a, c.b):
        read_version(c, base, code, rid)  # the profile is in Redis, with its generation
    t_from = now()
    with Load(c):
        time.sleep(1)
        c.ctl("freeze-redis")
        try:
            time.sleep(1)
            # Changed through A while Redis does not answer: A cannot drop the cached profile.
            v, code_or_answer = bump(c, c.a, rid, "during-freeze")
            s.check(v is not None, f"write through A with Redis frozen failed: {getattr(code_or_answer, 'text', '')[:200]}")
            got, m, a = read_version(c, c.b, code, rid)
            s.fig["read_b_while_frozen"] = {"version": got, "marker": m, "written": v}
            time.sleep(1.5)
        finally:
            c.ctl("thaw-redis")
        # Redis answers again, with the profile it held before the change.
        time.sleep(1.5)
    t_to = now()
    reqs = c.between(t_from, t_to)
    s.fig.update(figures(reqs, t_from, t_to))
    for r in reqs:
        if not r.ok():
            s.fail(f"failed with Redis unreachable: {r.desc()}")
    stale = []
    for i in range(10):
        for name, base in (("b", c.b), ("proxy", c.proxy), ("a", c.a)):
            got, m, a = read_version(c, base, code, rid)
            if got != v or m != "during-freeze":
                stale.append(f"via {name}: version {got} marker {m}, written v{v} during-freeze ({a.status})")
        time.sleep(0.1)
    s.fig["reads_after_thaw"] = 30
    s.fig["stale_after_thaw"] = len(stale)
    for m in stale[:10]:
        s.fail(f"stale read after Redis answered again (the change was made while it was unreachable): {m}")
    if len(stale) > 10:
        s.fail(f"... {len(stale) - 10} more stale reads")
    verify_writes(c, s, "after")
    return s


# ---------------------------------------------------------------------------------------------
# d. Never stale across instances


def scenario_d(c):
    s = Scenario("d", "a change through one instance is never served stale by the other")
    rid = c.seed_ids[0]
    code = c.accepted[rid]["code"]
    stop = threading.Event()
    hammered = [0]

    def hammer(base):
        while not stop.is_set():
            call(base, "GET", f"/api/v1/subjects/{code}?purpose={q(PURPOSE)}", key=c.officers[3])
            hammered[0] += 1

    hs = [threading.Thread(target=hammer, args=(b,), daemon=True) for b in (c.a, c.b, c.a, c.b)]
    t_from = now()
    with Load(c, readers=1, checkers=1, pause=0.05):
        for h in hs:
            h.start()
        fresh_reads(c, s, rid, c.a, [("b", c.b)], 20, "a_to_b")
        fresh_reads(c, s, rid, c.b, [("a", c.a)], 20, "b_to_a")
        # The record itself, straight after the write, from the other instance.
        stale = 0
        for i in range(10):
            v, code2 = bump(c, c.a, rid, f"rec-{i}")
            a = call(c.b, "GET", f"/api/v1/records/{rid}?purpose={q(PURPOSE)}", key=c.officers[0])
            if v is None or a.status != 200 or a.body.get("version") != v:
                stale += 1
                s.fail(f"record read from B after the write through A: {a.status} version {a.body and a.body.get('version')}, written {v}")
        s.fig["record_reads"] = 10
        s.fig["record_stale"] = stale
        stop.set()
        for h in hs:
            h.join(timeout=30)
    t_to = now()
    s.fig["concurrent_profile_reads_of_the_subject"] = hammered[0]
    reqs = c.between(t_from, t_to)
    s.fig.update(figures(reqs, t_from, t_to))
    for r in reqs:
        if not r.ok():
            s.fail(f"failed: {r.desc()}")
    return s


# ---------------------------------------------------------------------------------------------
# e. One access-log sealer at a time


SEALED = re.compile(r"^(\S+)\s+INFO .*access log sealed sealed=(\d+) head_seq=(\d+)")
SEAL_FAILED = re.compile(r"^(\S+)\s+WARN .*access log sealing failed; retrying error=(.*)$")
SEALER_LOCK = 7354110042  # src/store/mod.rs SEALER_LOCK, a transaction advisory lock


def wall_of(stamp):
    """Seconds since the epoch of a log line's RFC 3339 UTC stamp."""
    from datetime import datetime
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def psql(c, sql):
    env = dict(os.environ)
    r = subprocess.run([os.path.join(c.env["PGBIN"], "psql"), "-X", "-At", "-h", "127.0.0.1", "-p", c.env["PG_PORT"],
                        "-U", "postgres", "-d", "creditgate", "-c", sql], capture_output=True, text=True, env=env, timeout=60)
    if r.returncode != 0:
        raise RuntimeError(f"psql: {r.stderr.strip()}")
    return r.stdout.strip()


class LockSampler:
    """Samples pg_locks for the holders of an advisory lock (two int4 halves, objsubid 1), a
    pause between samples, while it runs: how often someone held it. PostgreSQL never grants an exclusive
    advisory lock twice, so `max_at_once` is a figure, not the proof; that a sampler saw the lock
    held at all shows that the workers did take it."""

    def __init__(self, c, key, pause):
        self.c, self.key, self.pause = c, key, pause
        self.fig = {"samples": 0, "with_holder": 0, "max_at_once": 0}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        hi, lo = self.key >> 32, self.key & 0xFFFFFFFF
        sql = (f"SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
               f"AND classid = {hi} AND objid = {lo} AND objsubid = 1")
        while not self.stop.is_set():
            try:
                n = int(psql(self.c, sql))
            except (RuntimeError, ValueError):
                time.sleep(0.05)
                continue
            self.fig["samples"] += 1
            self.fig["with_holder"] += n > 0
            self.fig["max_at_once"] = max(self.fig["max_at_once"], n)
            time.sleep(self.pause)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(timeout=30)

    def check(self, s, what):
        s.fig["advisory_lock_samples"] = self.fig
        s.check(self.fig["samples"] > 0, f"pg_locks never sampled for the {what}'s lock")
        s.check(self.fig["with_holder"] > 0, f"the {what}'s lock was never seen held: no worker took it")
        s.check(self.fig["max_at_once"] <= 1, f"{self.fig['max_at_once']} holders of the {what}'s lock at once")


def scenario_e(c):
    s = Scenario("e", "one access-log sealer at a time across the instances")
    cli_logs = []

    def cli_seal():
        env = dict(os.environ, **{k: v for k, v in c.env.items() if k.startswith("CREDITGATE_")})
        for _ in range(5):
            r = subprocess.run([c.env["BIN"], "audit", "seal"], capture_output=True, text=True, env=env, cwd=c.env["ROOT"], timeout=60)
            cli_logs.append(r.stderr)
            time.sleep(0.3)

    t_from = now()
    cli = threading.Thread(target=cli_seal, daemon=True)
    # The sealer holds its lock for a transaction of milliseconds: sampled without a pause
    # (some 600 samples, a few per cent of which see it held).
    with Load(c), LockSampler(c, SEALER_LOCK, 0) as sampler:
        cli.start()
        time.sleep(6)
        cli.join(timeout=60)
    t_to = now()
    reqs = c.between(t_from, t_to)
    s.fig.update(figures(reqs, t_from, t_to))
    for r in reqs:
        if not r.ok():
            s.fail(f"failed: {r.desc()}")
    sampler.check(s, "sealer")
    time.sleep(1.5)  # the servers seal what the load left (every 0.5 s)

    # The seals every sealer logged (both instances, restarts included, and the command line).
    seals, failed_rounds = [], []
    sources = [(f"instance {n}", open(os.path.join(c.args.tmp, f"creditgate-{n}.log"), encoding="utf-8", errors="replace").read())
               for n in ("a", "b")] + [("command line", t) for t in cli_logs]
    for who, text in sources:
        for line in text.splitlines():
            m = SEALED.match(line)
            if m:
                n, head = int(m.group(2)), int(m.group(3))
                seals.append((head - n + 1, head, who, m.group(1)))
            m = SEAL_FAILED.match(line)
            if m:
                failed_rounds.append((who, m.group(1), m.group(2)))
    seals.sort()
    overlaps, excused, gaps = [], [], []
    expect, last_round = 1, None
    for lo, hi, who, at in seals:
        if lo < expect:
            # The round logs before its commit: a round whose commit was cut (its instance
            # killed, PostgreSQL stopped, just then) is logged and then sealed again by another.
            # Anything else is two sealers at once.
            prev_who, prev_at = last_round
            cut = [a for (a, w0, w1) in c.events
                   if (a == "stop-pg" or (a == f"kill-{prev_who[-1]}" and prev_who.startswith("instance")))
                   and w0 - 2 <= wall_of(prev_at) <= w1 + 0.5]
            msg = f"{who} at {at} sealed seq {lo}-{hi}, already logged as sealed up to {expect - 1} by {prev_who} at {prev_at}"
            (excused if cut else overlaps).append(msg + (f" (that round cut by {cut[0]})" if cut else ""))
        elif lo > expect:
            gaps.append(f"seq {expect}-{lo - 1} sealed by no logged round")
        if hi + 1 > expect:
            last_round = (who, at)
        expect = max(expect, hi + 1)
    if excused:
        s.fig["seal_rounds_logged_then_cut"] = excused
    per = {}
    for lo, hi, who, at in seals:
        p = per.setdefault(who, {"rounds": 0, "entries": 0})
        p["rounds"] += 1
        p["entries"] += hi - lo + 1
    s.fig["seal_rounds_logged"] = per
    s.fig["sealed_up_to_seq_in_logs"] = expect - 1
    # The logs must show the rounds: no parsed seal (a changed log line) must not pass silently.
    s.check(bool(seals), "no sealing round found in the instances' logs")
    for who, text in sources:
        for line in text.splitlines():
            if "checkpoint not written" in line:
                s.fail(f"{who}: {line.strip()[:300]}")
    s.fig["seal_rounds_failed"] = len(failed_rounds)
    for o in overlaps:
        s.fail(f"double seal in the logs: {o}")
    dup = [f for f in failed_rounds if "duplicate key" in f[2] or "unique" in f[2].lower()]
    for who, at, err in dup:
        s.fail(f"a sealing round of {who} at {at} collided with another sealer: {err[:200]}")
    s.fig["seal_failures_other"] = sorted({f[2][:120] for f in failed_rounds if f not in dup})[:5]

    # The chain as stored.
    row = psql(c, "SELECT count(*), count(seq), count(DISTINCT seq), coalesce(max(seq), 0), coalesce(min(seq), 0) FROM access_log")
    total, sealed, distinct, max_seq, min_seq = (int(x) for x in row.split("|"))
    unlinked = int(psql(c, "SELECT count(*) FROM access_log x JOIN access_log y ON y.seq = x.seq + 1 "
                           "WHERE y.prev_hash IS DISTINCT FROM x.chain_hash"))
    first_prev = psql(c, "SELECT prev_hash FROM access_log WHERE seq = 1")
    s.fig["access_log"] = {"entries": total, "sealed": sealed, "distinct_seq": distinct, "max_seq": max_seq,
                           "unsealed": total - sealed, "links_broken": unlinked}
    s.check(sealed == distinct, f"{sealed - distinct} seq numbers given twice")
    s.check(min_seq == 1 and max_seq == sealed, f"seq not 1..{sealed} without gaps: min {min_seq}, max {max_seq}")
    s.check(unlinked == 0, f"{unlinked} entries whose prev_hash is not the chain hash of seq - 1")
    s.check(first_prev == "0" * 64, f"seq 1 does not start from the genesis hash: {first_prev}")
    s.check(expect - 1 <= max_seq, f"the logs name seals up to {expect - 1}, the table only up to {max_seq}")
    if expect - 1 == max_seq:
        for g in gaps:
            s.fail(f"gap in the logged seals: {g}")
    else:
        # A round killed between its commit and its log line (scenario a) leaves a gap in the
        # logs only; the table's own checks above still hold.
        s.fig["logged_gaps_note"] = gaps[:5]

    env = dict(os.environ, **{k: v for k, v in c.env.items() if k.startswith("CREDITGATE_")})
    # The chain, and the checkpoints the instances' sealers wrote outside the database
    # (CREDITGATE_AUDIT_CHECKPOINTS, every 10 s here): at least one, all of them agreeing.
    cp_dir = c.env["CREDITGATE_AUDIT_CHECKPOINTS"]
    cps = sorted(f for f in os.listdir(cp_dir) if f.startswith("checkpoint-")) if os.path.isdir(cp_dir) else []
    s.fig["checkpoints_written"] = len(cps)
    s.check(len(cps) >= 1, f"no checkpoint written to {cp_dir} by the instances")
    r = subprocess.run([c.env["BIN"], "audit", "verify", "--checkpoints", cp_dir], capture_output=True, text=True, env=env, cwd=c.env["ROOT"], timeout=120)
    s.fig["audit_verify"] = {"exit": r.returncode, "output": r.stdout.strip().splitlines()[-2:] if r.stdout.strip() else r.stderr.strip()[-300:]}
    s.check(r.returncode == 0, f"creditgate audit verify --checkpoints exit {r.returncode}: {r.stdout[-1000:]} {r.stderr[-500:]}")
    return s


# ---------------------------------------------------------------------------------------------
# f. The forwarded client address


def scenario_f(c):
    s = Scenario("f", "through nginx: X-Forwarded-For believed, the body limit")
    # One client (as the header that reaches nginx names it) sends unknown keys until its
    # instances answer 429 (CREDITGATE_AUTH_FAILURES, 30 a minute per instance); another
    # client, through the same nginx from the same TCP peer, is still answered 401.
    def bad(xff):
        u = urllib.parse.urlsplit(c.proxy)
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
        try:
            conn.request("GET", "/api/v1/rules", headers={"Authorization": "Bearer cg_not_a_key_at_all", "X-Forwarded-For": xff})
            r = conn.getresponse()
            r.read()
            return r.status
        finally:
            conn.close()

    first = [bad("203.0.113.9") for _ in range(70)]
    s.fig["client_1_statuses"] = {str(k): first.count(k) for k in sorted(set(first))}
    s.check(first[:30].count(401) == 30 and 429 in first[60:],
            f"the first client was not limited after its failures: {s.fig['client_1_statuses']}")
    other = [bad("203.0.113.10") for _ in range(4)]
    s.fig["client_2_statuses"] = {str(k): other.count(k) for k in sorted(set(other))}
    s.check(other == [401] * 4, f"another client behind the same proxy was answered {other}: the proxy's address was counted, not the client's")
    ok = call(c.proxy, "GET", "/api/v1/rules", key=c.officers[0])
    s.check(ok.status == 200, f"a valid key after the refusals: {ok.status} {ok.text[:200]}")

    # client_max_body_size = CREDITGATE_MAX_BODY_BYTES: a body of exactly the limit reaches the
    # service (which reads it: not JSON, 400), one byte more is refused by nginx with the
    # service's problem+json 413.
    def post_raw(size):
        u = urllib.parse.urlsplit(c.proxy)
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
        try:
            conn.request("POST", "/api/v1/records/batch", body=b"x" * size,
                         headers={"Authorization": f"Bearer {c.provider}", "Content-Type": "application/json"})
            r = conn.getresponse()
            return r.status, r.getheader("Content-Type"), r.read().decode("utf-8", "replace")
        except (OSError, http.client.HTTPException) as e:
            return 0, None, str(e)
        finally:
            conn.close()

    limit = 8388608
    at, over = post_raw(limit), post_raw(limit + 1)
    s.fig["body_at_limit"] = {"status": at[0], "content_type": at[1]}
    s.fig["body_over_limit"] = {"status": over[0], "content_type": over[1], "body": over[2][:200]}
    s.check(at[0] != 413, f"a body of exactly {limit} bytes refused: {at[0]} {at[2][:200]}")
    s.check(over[0] == 413 and (over[1] or "").startswith("application/problem+json"),
            f"a body of {limit + 1} bytes: {over[0]} {over[1]} {over[2][:200]}")
    return s


# ---------------------------------------------------------------------------------------------


def read_env(path):
    env = {}
    for line in open(path, encoding="utf-8"):
        m = re.match(r"^(?:export\s+)?([A-Z_][A-Z0-9_]*)=(.*)$", line.strip())
        if m:
            v = m.group(2)
            if len(v) >= 2 and v[0] == v[-1] and v[0] in "'\"":
                v = v[1:-1]
            env[m.group(1)] = v
    return env


# ---------------------------------------------------------------------------------------------
# g. One sync runner at a time


SYNC_LOCK = 7354110043  # src/store/mod.rs SYNC_RUNNER_LOCK, a session advisory lock
SYNC_LINE = re.compile(r"^(\S+)\s+(?:INFO|WARN) .*(sync round started|sync round done|sync round failed)")


def sim_call(c, method, path, body=None):
    return call(f"http://127.0.0.1:{c.env['SIM_PORT']}", method, path, body=body, timeout=10)


def scenario_g(c):
    s = Scenario("g", "one sync runner at a time across the instances")
    st = sim_call(c, "GET", "/stats")
    if st.status != 200 or not st.body:
        s.fail(f"provincial-sim /stats: {st.status} {st.text[:200]}")
        return s
    total = st.body["changes"]
    # Rounds that take a while (a fifth of the requests wait 300 ms), so that both instances'
    # workers (every second) try while the other holds the lock.
    f = sim_call(c, "PUT", "/control/faults", {"rate": 0.2, "kinds": ["latency"], "latency_ms": 300})
    s.check(f.status == 200, f"provincial-sim faults: {f.status} {f.text[:200]}")
    wall_from, t_from = time.time(), now()
    sampler = LockSampler(c, SYNC_LOCK, 0.05).__enter__()
    with Load(c):
        # The feed grows in ten steps, as the platform's does over a day.
        for k in range(1, 11):
            r = sim_call(c, "PUT", "/control/feed", {"published": total * k // 10})
            s.check(r.status == 200, f"provincial-sim feed: {r.status} {r.text[:200]}")
            time.sleep(0.8)
    sim_call(c, "PUT", "/control/faults", {"rate": 0.0})
    expected = sim_call(c, "GET", "/stats").body or {}
    # Everything published arrives once: the city's provincial records are the platform's.
    env = dict(os.environ, **{k: v for k, v in c.env.items() if k.startswith("CREDITGATE_")})
    status, converged_after = None, None
    for _ in range(60):
        r = subprocess.run([c.env["BIN"], "sync", "--status"], capture_output=True, text=True, env=env,
                           cwd=c.env["ROOT"], timeout=60)
        try:
            status = json.loads(r.stdout)
        except ValueError:
            status = {"unreadable": (r.stdout + r.stderr)[-300:]}
        if status.get("provincial_digest") == expected.get("expected_digest"):
            converged_after = round(now() - t_from, 1)
            break
        time.sleep(1)
    sampler.__exit__(None, None, None)
    t_to, wall_to = now(), time.time()
    reqs = c.between(t_from, t_to)
    s.fig.update(figures(reqs, t_from, t_to))
    for r in reqs:
        if not r.ok():
            s.fail(f"failed: {r.desc()}")
    s.fig["changes_published"] = expected.get("published")
    s.fig["converged_after_s"] = converged_after
    s.check(converged_after is not None,
            f"the provincial records never matched the platform's: digest {status.get('provincial_digest') if status else None}, "
            f"expected {expected.get('expected_digest')} ({expected.get('expected_records')} records); status {str(status)[:400]}")
    sampler.check(s, "sync runner")

    # The rounds each instance logged in this scenario's window, as spans; none may overlap.
    spans, open_at = [], {}
    for n in ("a", "b"):
        text = open(os.path.join(c.args.tmp, f"creditgate-{n}.log"), encoding="utf-8", errors="replace").read()
        for line in text.splitlines():
            m = SYNC_LINE.match(line)
            if not m:
                continue
            t = wall_of(m.group(1))
            if not wall_from - 5 <= t <= wall_to + 1:
                continue
            if m.group(2) == "sync round started":
                open_at[n] = t
            elif n in open_at:
                spans.append((open_at.pop(n), t, n))
    spans.sort()
    overlaps = [f"{a[2]} {a[0]:.3f}-{a[1]:.3f} and {b[2]} {b[0]:.3f}-{b[1]:.3f}"
                for a, b in zip(spans, spans[1:]) if b[0] < a[1]]
    per = {n: sum(1 for sp in spans if sp[2] == n) for n in ("a", "b")}
    s.fig["sync_rounds"] = per
    s.fig["sync_round_seconds_max"] = round(max((b - a for a, b, _ in spans), default=0), 3)
    s.check(len(spans) >= 3, f"only {len(spans)} sync rounds logged (\"sync round started\" … \"done\")")
    for o in overlaps:
        s.fail(f"two sync rounds at once: {o}")
    return s


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tmp", required=True)
    p.add_argument("--proxy", required=True)
    p.add_argument("--a", required=True)
    p.add_argument("--b", required=True)
    p.add_argument("--admin-key", required=True)
    p.add_argument("--ctl", required=True)
    p.add_argument("--out")
    p.add_argument("--only", help="comma-separated scenario names (default: all)")
    args = p.parse_args()

    def watchdog():
        print(f"\nscenarios: over the {DEADLINE_S} s budget; stopping", flush=True)
        os._exit(1)

    timer = threading.Timer(DEADLINE_S, watchdog)
    timer.daemon = True
    timer.start()

    c = Cluster(args)
    log("set-up: keys, 30 subjects")
    c.setup()
    order = [("d", scenario_d), ("c", scenario_c), ("c2", scenario_c2), ("a", scenario_a), ("b", scenario_b),
             ("e", scenario_e), ("f", scenario_f), ("g", scenario_g)]
    only = set(args.only.split(",")) if args.only else None
    results = []
    for name, fn in order:
        if only and name not in only:
            continue
        log(f"scenario {name}")
        try:
            s = fn(c)
        except Exception as e:  # a scenario that could not run is a failed scenario
            s = Scenario(name, "could not run")
            s.fail(f"{type(e).__name__}: {e}")
        results.append(s.report())
    totals = {"requests": len(c.reqs), "accepted_writes": len(c.accepted), "seconds": round(now(), 1)}
    out = {"passed": all(r["passed"] for r in results), "totals": totals, "scenarios": results}
    print("\n=== summary")
    for r in results:
        print(f"  {r['name']:>3} {'PASS' if r['passed'] else 'FAIL'}  {r['title']}"
              + (f"  ({len(r['failures'])} failures)" if r["failures"] else ""))
    print(f"  {totals['requests']} requests (through nginx, and straight to the instances), {totals['accepted_writes']} accepted writes, {totals['seconds']} s")
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump(out, f, ensure_ascii=False, indent=2)
    sys.exit(0 if out["passed"] else 1)


if __name__ == "__main__":
    main()
