#!/usr/bin/env python3
"""Bulk comparison throughput: lines per second of a bulk check (POST /api/v1/bulk-checks, a
roster of SUBJECTS codes checked in the background) against single checks per second
(POST /api/v1/checks) in the same run, on the same data (the issue's goal: bulk >= 5x the
sequential single checks).

Starts `creditgate serve` on a free port (after `migrate`), loads a penalty record for every
10th of SUBJECTS codes (POST /api/v1/records/batch), then measures:
  - SINGLES single checks, one after the other on one keep-alive connection, and the same
    checks again from 4 client threads (a connection each);
  - one bulk job of all SUBJECTS codes: from just before the POST until GET
    /api/v1/bulk-checks/{id} says `done` (polled every 0.2 s);
then reads the result CSV and checks it: SUBJECTS rows, a penalised subject (every 10th) not
`clear`, every other one `clear`, and for a sample of 50 codes the verdict of the single check.
Prints the figures at the end; exits 1 on a mismatch or a failed job.

    benches/bulk_checks.sh        (or python3 benches/bulk_checks.py with BIN set)

Environment: BIN (default target/release/creditgate), DB (default a fresh SQLite file;
postgres://... is used as is, and should be an empty database: records other benches left on
the same codes change the verdicts), SUBJECTS (20000, at most 100000), SINGLES (1000).
Python 3 standard library only.
"""
import csv
import http.client
import io
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = os.environ.get("BIN", "target/release/creditgate")
SUBJECTS = int(os.environ.get("SUBJECTS", "20000"))
SINGLES = int(os.environ.get("SINGLES", "1000"))
THREADS = 4
PENALTY_EVERY = 10  # code(n) with n % 10 == 0 has a penalty record
RECORDS_PER_CALL = 1000  # the limit of POST /api/v1/records/batch
SAMPLE = 50  # result rows compared with a single check of the same code
POLL = 0.2  # seconds between GET /api/v1/bulk-checks/{id}
STALL = 120  # seconds without progress before giving up
SCENARIO, PURPOSE = "procurement", "政府采购资格审查"
RESULT_COLUMNS = ["line", "uscc", "verdict", "reason", "measures", "report_no"]
VERDICTS = ["clear", "review", "restricted", "prohibited", "rejected"]

# GB 32100 / GB 11714 check characters, as src/domain/uscc.rs (check_char, org_check_char, compose).
CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
WEIGHTS = [3**i % 31 for i in range(17)]
ORG_WEIGHTS = [3, 7, 9, 10, 5, 8, 4, 2]


def org_check_char(body8):
    s = sum((int(c) if c.isdigit() else ord(c) - 55) * w for c, w in zip(body8, ORG_WEIGHTS))
    return {10: "X", 11: "0"}.get(11 - s % 11, str(11 - s % 11))


def check_char(first17):
    return CHARS[(31 - sum(CHARS.index(c) * w for c, w in zip(first17, WEIGHTS)) % 31) % 31]


def code(n):
    """The n-th code: 91, division 110105, body MA + n in 6 digits (as the tests)."""
    body = "MA%06d" % n
    s = "91110105" + body + org_check_char(body)
    return s + check_char(s)


assert code(701) == "91110105MA0007014Y" and code(722) == "91110105MA0007225E"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Api:
    """One keep-alive connection to the server."""

    def __init__(self, port):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def send(self, method, path, key=None, data=None, content_type="application/json", want=200):
        """The response body (bytes) of a request answered with `want`; else exits."""
        headers = {"Content-Type": content_type}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        try:
            self.conn.request(method, path, body=data, headers=headers)
            r = self.conn.getresponse()
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            self.conn.close()  # the server closed an idle keep-alive connection: once more
            self.conn.request(method, path, body=data, headers=headers)
            r = self.conn.getresponse()
        body = r.read()
        if r.status != want:
            raise SystemExit(f"{method} {path}: {r.status}, want {want}: {body[:500].decode(errors='replace')}")
        return body

    def call(self, method, path, key=None, body=None, want=200):
        data = json.dumps(body).encode() if body is not None else None
        text = self.send(method, path, key, data, want=want).decode()
        return json.loads(text) if text else None

    def check(self, key, uscc):
        """The verdict of one single check."""
        report = self.call("POST", "/api/v1/checks", key, want=201, body={
            "scenario": SCENARIO, "subject": {"uscc": uscc}, "purpose": PURPOSE,
            "reference": "BENCH-1"})
        return report["verdict"]

    def close(self):
        self.conn.close()


def record(n, uscc):
    return {"source_record_id": f"BULK-{n}", "kind": "penalty",
            "subject": {"uscc": uscc, "name": "北京示例科技有限公司", "kind": "legal_person"},
            "decision_no": f"京市监罚〔2026〕{n}号", "decision_date": "2026-03-01",
            "severity": "serious", "penalty_types": ["fine"], "fine_amount": "2500000.00",
            "authority": {"name": "北京市市场监督管理局", "uscc": "11110000MB0000000U"},
            "sharing_class": "unconditional", "open_class": "open", "status": "active",
            "version": 1, "details": {"CF_WFXW": "虚假宣传"}}


def multipart(fields, file_name, file_type, file_bytes):
    """A multipart/form-data body: the text fields, then the part `file`; and its content type."""
    boundary = "creditgate-bench-" + uuid.uuid4().hex
    out = []
    for name, value in fields.items():
        out.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                   f"{value}\r\n".encode())
    out.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{file_name}"\r\n'
               f"Content-Type: {file_type}\r\n\r\n".encode())
    out.append(file_bytes)
    out.append(f"\r\n--{boundary}--\r\n".encode())
    return b"".join(out), f"multipart/form-data; boundary={boundary}"


def singles_in_threads(port, key, codes):
    """Checks `codes` from THREADS threads, a connection each: {code: verdict}, seconds."""
    verdicts, errors, lock = {}, [], threading.Lock()

    def work(part):
        api = Api(port)
        try:
            for c in part:
                v = api.check(key, c)
                with lock:
                    verdicts[c] = v
        except BaseException as e:  # SystemExit from Api.send included: reported after join
            errors.append(e)
        finally:
            api.close()

    threads = [threading.Thread(target=work, args=(codes[k::THREADS],)) for k in range(THREADS)]
    t = time.monotonic()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    took = time.monotonic() - t
    if errors:
        raise SystemExit(f"single checks in {THREADS} threads: {errors[0]}")
    return verdicts, took


def main():
    if not 1 <= SUBJECTS <= 100_000:
        raise SystemExit("SUBJECTS is 1 to 100000 (the lines one bulk job may hold)")
    os.chdir(ROOT)
    work = tempfile.mkdtemp(prefix="cg-bulk-")
    db = os.environ.get("DB") or f"sqlite://{work}/cg.db"
    backend = "postgres" if db.startswith("postgres") else "sqlite"
    port = free_port()
    env = dict(os.environ, CREDITGATE_BIND=f"127.0.0.1:{port}", CREDITGATE_DATABASE_URL=db,
               CREDITGATE_RULES_DIR=str(ROOT / "rules"), CREDITGATE_DATA_KEY="b" * 64,
               CREDITGATE_ADMIN_KEY="cg_bench_admin_0123456789abcdefghijklmnopqrstuv", CREDITGATE_WEBHOOK_ALLOW="127.0.0.1:*",
               CREDITGATE_WEBHOOK_INSECURE="1", CREDITGATE_LOG="warn",
               CREDITGATE_RATE_LIMIT="0",  # one key drives the load: no per-key limit
               CREDITGATE_MAX_BODY_BYTES=str(64 << 20))
    run = lambda *args: subprocess.run([BIN, *args], env=env, check=True, text=True,
                                       capture_output=True).stdout.strip()
    server, log = None, open(f"{work}/server.log", "w")
    try:
        run("migrate")
        system = run("keys", "create", "--org", "ZFCG-SYS", "--role", "system")
        provider = run("keys", "create", "--org", "SCJG", "--role", "provider")
        server = subprocess.Popen([BIN, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
        for _ in range(150):
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                c.request("GET", "/readyz")
                if c.getresponse().status == 200:
                    break
            except OSError:
                pass
            finally:
                c.close()
            if server.poll() is not None:
                raise SystemExit("server exited:\n" + Path(f"{work}/server.log").read_text()[-2000:])
            time.sleep(0.2)
        else:
            raise SystemExit("server not ready after 30 s")
        api = Api(port)

        # 1. Data: a penalty record for every 10th code; the others have none (clear).
        codes = [code(n) for n in range(SUBJECTS)]
        penalised = range(0, SUBJECTS, PENALTY_EVERY)
        t = time.monotonic()
        for i in range(0, len(penalised), RECORDS_PER_CALL):
            batch = [record(n, codes[n]) for n in penalised[i:i + RECORDS_PER_CALL]]
            r = api.call("POST", "/api/v1/records/batch", provider, {"records": batch})
            bad = [res for res in r["results"] if res.get("status") == "rejected"]
            if bad:
                raise SystemExit(f"records rejected ({len(bad)}), the first: {bad[0]}")
        load_s = time.monotonic() - t
        print(f"loaded {len(penalised):,} penalty records for {SUBJECTS:,} subjects in {load_s:.1f} s "
              f"(batches of {RECORDS_PER_CALL:,})")

        # 2. Single checks of SINGLES codes from the roster: sequential, then in 4 threads.
        rng = random.Random(42)
        picks = rng.sample(range(SUBJECTS), SINGLES) if SINGLES <= SUBJECTS else \
            [rng.randrange(SUBJECTS) for _ in range(SINGLES)]
        single = {}  # code -> verdict of its sequential single check
        t = time.monotonic()
        for n in picks:
            single[codes[n]] = api.check(system, codes[n])
        seq_s = time.monotonic() - t
        seq_rate = SINGLES / seq_s
        print(f"single checks, sequential: {SINGLES:,} in {seq_s:.1f} s = {seq_rate:,.0f}/s")
        threaded, par_s = singles_in_threads(port, system, [codes[n] for n in picks])
        par_rate = SINGLES / par_s
        print(f"single checks, {THREADS} threads: {SINGLES:,} in {par_s:.1f} s = {par_rate:,.0f}/s")
        mismatches = [f"{c}: sequential single check {v}, in {THREADS} threads {threaded.get(c)}"
                      for c, v in single.items() if threaded.get(c) != v]

        # 3. The bulk job of all SUBJECTS codes, from just before the POST until done.
        roster = ("uscc\n" + "".join(c + "\n" for c in codes)).encode()
        body, ctype = multipart({"scenario": SCENARIO, "purpose": PURPOSE, "reference": "BENCH-BULK"},
                                "roster.csv", "text/csv", roster)
        t0 = time.monotonic()
        job = json.loads(api.send("POST", "/api/v1/bulk-checks", system, body, ctype, want=202))
        submit_s = time.monotonic() - t0
        if not str(job.get("id", "")).startswith("bulk_") or job.get("total") != SUBJECTS:
            raise SystemExit(f"POST /api/v1/bulk-checks: want id bulk_… and total {SUBJECTS}: {job}")
        jid, last, moved = job["id"], -1, time.monotonic()
        while True:
            job = api.call("GET", f"/api/v1/bulk-checks/{jid}", system)
            now = time.monotonic()
            print(f"\rbulk {jid}: {job['done']:,}/{job['total']:,} lines, {job['status']}   ",
                  end="", flush=True)
            if job["status"] == "done":
                break
            if job["status"] == "failed":
                print()
                raise SystemExit(f"bulk job failed: {job.get('error')}")
            if job["done"] != last:
                last, moved = job["done"], now
            elif now - moved > STALL:
                print()
                raise SystemExit(f"bulk job stalled at {last:,} lines for {STALL} s: {job}")
            time.sleep(POLL)
        bulk_s = time.monotonic() - t0
        print()
        bulk_rate = SUBJECTS / bulk_s
        print(f"bulk: {SUBJECTS:,} lines in {bulk_s:.1f} s = {bulk_rate:,.0f} lines/s")

        # 4. The result: one row per code, penalised ones not clear, a sample as the single check.
        text = api.send("GET", f"/api/v1/bulk-checks/{jid}/result.csv", system).decode("utf-8")
        if not text.startswith("\ufeff"):
            mismatches.append("result.csv has no byte order mark")
        rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
        header, rows = (rows[0], rows[1:]) if rows else ([], [])
        if header != RESULT_COLUMNS:
            raise SystemExit(f"result.csv columns {header}, want {RESULT_COLUMNS}")
        if len(rows) != SUBJECTS:
            mismatches.append(f"result.csv has {len(rows):,} rows, want {SUBJECTS:,}")
        result = {}  # code -> verdict
        for i, row in enumerate(rows):
            line = dict(zip(RESULT_COLUMNS, row))
            result[line["uscc"]] = line["verdict"]
            if i < SUBJECTS and line["uscc"] != codes[i]:
                mismatches.append(f"row {i + 1}: {line['uscc']}, want {codes[i]} (input order)")
                continue
            penalty = i % PENALTY_EVERY == 0
            if penalty == (line["verdict"] == "clear"):
                want = "not clear (penalty record)" if penalty else "clear (no record)"
                mismatches.append(f"row {i + 1} {line['uscc']}: {line['verdict']} {line['reason']}, want {want}")
        counts = Counter(result[c] for c in codes if c in result)
        job_counts = job.get("counts") or {}
        if any(job_counts.get(v, 0) != counts.get(v, 0) for v in VERDICTS):
            mismatches.append(f"job counts {job_counts} differ from the result's {dict(counts)}")
        sample = list(dict.fromkeys(codes[n] for n in picks))[:SAMPLE]
        if len(sample) < min(SAMPLE, SUBJECTS):  # fewer SINGLES than SAMPLE: fresh single checks
            rest = [c for c in codes if c not in single]
            for c in rng.sample(rest, min(len(rest), SAMPLE - len(sample))):
                single[c] = api.check(system, c)
                sample.append(c)
        mismatches += [f"{c}: bulk {result.get(c)}, single check {single[c]}"
                       for c in sample if result.get(c) != single[c]]

        model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                      if l.startswith("model name")), "?")
        print(f"data: {SUBJECTS:,} lines, {len(penalised):,} with a penalty record (every "
              f"{PENALTY_EVERY}th), scenario {SCENARIO}, {backend}")
        print(f"machine: {len(os.sched_getaffinity(0))} cores, {model}; server and client on one box")
        print(f"single checks (POST /api/v1/checks), {SINGLES:,}: sequential {seq_rate:,.0f}/s, "
              f"{THREADS} threads {par_rate:,.0f}/s")
        print(f"bulk (POST /api/v1/bulk-checks): {bulk_rate:,.0f} lines/s "
              f"({bulk_s:.1f} s from the POST to done, polled every {POLL} s)")
        print(f"bulk / sequential single: {bulk_rate / seq_rate:.1f}x"
              f"  (goal >= 5x: {'met' if bulk_rate >= 5 * seq_rate else 'NOT met'}); "
              f"bulk / {THREADS}-thread single: {bulk_rate / par_rate:.1f}x")
        print("verdicts: " + ", ".join(f"{v} {counts.get(v, 0):,}" for v in VERDICTS)
              + "".join(f", {v} {k:,}" for v, k in counts.items() if v not in VERDICTS))
        print(f"POST /api/v1/bulk-checks round trip (upload of {len(body):,} bytes, job stored): "
              f"{submit_s * 1000:.0f} ms")
        print(f"result checked: {len(rows):,} rows, {len(sample)} compared with single checks, "
              f"{len(mismatches)} mismatches")
        for m in mismatches[:20]:
            print("  " + m)
        if len(mismatches) > 20:
            print(f"  … and {len(mismatches) - 20} more")
        return 1 if mismatches else 0
    except subprocess.CalledProcessError as e:
        raise SystemExit(f"{' '.join(map(str, e.cmd))} failed ({e.returncode}): {e.stderr.strip()}")
    finally:
        if server:
            server.terminate()
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                server.kill()
        log.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
