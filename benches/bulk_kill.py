#!/usr/bin/env python3
"""Bulk job acceptance: a LINES-line bulk job (default 100,000) finishes, matches line by line the
verdicts of single checks on a sample, survives a kill -9 of the server halfway, and its
rejected lines carry reasons.

Starts `creditgate serve` on a free port (after `migrate`), loads a penalty record for every
10th of LINES codes (POST /api/v1/records/batch), submits a roster of LINES codes in which every
997th line (i % 997 == 996) has a wrong check character (POST /api/v1/bulk-checks), polls GET
/api/v1/bulk-checks/{id} until half the lines are done, kills the server with SIGKILL, starts a
new one on the same database and polls until the job is done. Then checks the result CSV:
LINES rows, `line` = input line, the codes in input order, the bad lines `rejected` with a
reason naming the check character, the penalised ones (every 10th) not `clear`, the others
`clear`, a distinct report_no on every checked line, the job's counts as the result's; and a
sample of 200 lines against single POST /api/v1/checks of the same codes, 20 of them against
their stored report (GET /api/v1/checks/{report_no}). Prints the figures and the checks at the
end; exits 1 when a check fails.

    benches/bulk_kill.sh        (or python3 benches/bulk_kill.py with BIN set)

Environment: BIN (default target/release/creditgate), DB (default a fresh SQLite file;
postgres://... is used as is, and should be an empty database: records other benches left on
the same codes change the verdicts), BULK_LINES (100000, at most 100000).
Python 3 standard library only; the helpers are bulk_checks.py's.
"""
import csv
import http.client
import io
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.dont_write_bytecode = True  # no __pycache__ left in benches/ by the import below
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bulk_checks import (  # noqa: E402  (bulk_checks.py runs nothing on import)
    BIN, PENALTY_EVERY, POLL, PURPOSE, RECORDS_PER_CALL, RESULT_COLUMNS, ROOT, SCENARIO, STALL,
    VERDICTS, Api, code, free_port, multipart, record)

LINES = int(os.environ.get("BULK_LINES", "100000"))
BAD_EVERY = 997  # line i with i % 997 == 996 has a wrong check character
SAMPLE = 200  # result rows compared with a single check of the same code
STORED = 20  # of them, compared with their stored report too
RESTART_STALL = 600  # seconds without progress after the restart before giving up
REFERENCE = "BENCH-KILL"


def is_bad(i):
    return i % BAD_EVERY == BAD_EVERY - 1


def roster_code(i):
    """Line i's code: code(i), its last (check) character made wrong on a bad line."""
    c = code(i)
    return c[:-1] + ("1" if c[-1] == "0" else "0") if is_bad(i) else c


assert roster_code(996) != code(996) and roster_code(996)[:17] == code(996)[:17]


class Checks:
    """Named checks, each over one or more items: how many were checked and what failed."""

    def __init__(self):
        self.items = {}  # name -> [checked, [failure, ...]]

    def __call__(self, name, ok, failure=""):
        item = self.items.setdefault(name, [0, []])
        item[0] += 1
        if not ok:
            item[1].append(failure)

    def failed(self):
        return [n for n, (_, f) in self.items.items() if f]

    def report(self):
        bad = self.failed()
        print(f"result checks: {len(self.items) - len(bad)} passed, {len(bad)} failed")
        for name, (checked, failures) in self.items.items():
            if failures:
                print(f"  FAIL  {name}: {len(failures):,} of {checked:,}")
                for f in failures[:10]:
                    print(f"          {f}")
                if len(failures) > 10:
                    print(f"          … and {len(failures) - 10:,} more")
            else:
                print(f"  ok    {name}: {checked:,}")


def serve(env, port, log_path, servers, logs):
    """Starts `creditgate serve` (appended to `servers` at once, for the clean-up) and waits
    until GET /readyz answers 200, as bulk_checks.py does."""
    log = open(log_path, "w")
    logs.append(log)
    server = subprocess.Popen([BIN, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
    servers.append(server)
    for _ in range(150):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        try:
            c.request("GET", "/readyz")
            if c.getresponse().status == 200:
                return server
        except OSError:
            pass
        finally:
            c.close()
        if server.poll() is not None:
            raise SystemExit("server exited:\n" + Path(log_path).read_text()[-2000:])
        time.sleep(0.2)
    raise SystemExit("server not ready after 30 s")


def main():
    if not 1 <= LINES <= 100_000:
        raise SystemExit("BULK_LINES is 1 to 100000 (the lines one bulk job may hold)")
    os.chdir(ROOT)
    started = time.monotonic()
    work = tempfile.mkdtemp(prefix="cg-bulk-kill-")
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
    servers, logs, api = [], [], None
    checks = Checks()
    try:
        run("migrate")
        system = run("keys", "create", "--org", "ZFCG-SYS", "--role", "system")
        provider = run("keys", "create", "--org", "SCJG", "--role", "provider")
        serve(env, port, f"{work}/server-1.log", servers, logs)
        api = Api(port)

        # 1. Data: a penalty record for every 10th code; the others have none (clear).
        penalised = range(0, LINES, PENALTY_EVERY)
        t = time.monotonic()
        for i in range(0, len(penalised), RECORDS_PER_CALL):
            batch = [record(n, code(n)) for n in penalised[i:i + RECORDS_PER_CALL]]
            r = api.call("POST", "/api/v1/records/batch", provider, {"records": batch})
            bad = [res for res in r["results"] if res.get("status") == "rejected"]
            if bad:
                raise SystemExit(f"records rejected ({len(bad)}), the first: {bad[0]}")
        load_s = time.monotonic() - t
        print(f"loaded {len(penalised):,} penalty records for {LINES:,} subjects in {load_s:.1f} s "
              f"(batches of {RECORDS_PER_CALL:,})")

        # 2. The roster: code(i) on line i, every 997th with a wrong check character.
        sent = [roster_code(i) for i in range(LINES)]
        bad_lines = [i for i in range(LINES) if is_bad(i)]
        roster = ("uscc\n" + "".join(c + "\n" for c in sent)).encode()
        body, ctype = multipart({"scenario": SCENARIO, "purpose": PURPOSE, "reference": REFERENCE},
                                "roster.csv", "text/csv", roster)
        t0 = time.monotonic()
        job = json.loads(api.send("POST", "/api/v1/bulk-checks", system, body, ctype, want=202))
        submit_s = time.monotonic() - t0
        if not str(job.get("id", "")).startswith("bulk_") or job.get("total") != LINES:
            raise SystemExit(f"POST /api/v1/bulk-checks: want id bulk_… and total {LINES}: {job}")
        jid, total = job["id"], job["total"]
        print(f"submitted {jid}: {total:,} lines ({len(body):,} bytes) in {submit_s * 1000:.0f} ms")

        # 3. Poll until half the lines are done, then kill -9 the server.
        last, moved = -1, time.monotonic()
        while True:
            job = api.call("GET", f"/api/v1/bulk-checks/{jid}", system)
            now = time.monotonic()
            print(f"\rbulk {jid}: {job['done']:,}/{job['total']:,} lines, {job['status']}   ",
                  end="", flush=True)
            if job["status"] == "failed":
                print()
                raise SystemExit(f"bulk job failed before the kill: {job.get('error')}")
            if job["status"] == "done":
                print()
                raise SystemExit(f"the job was done before it was seen half done: the kill was not "
                                 f"tested (LINES {LINES:,} is too few)")
            if 2 * job["done"] >= LINES:
                break
            if job["done"] != last:
                last, moved = job["done"], now
            elif now - moved > STALL:
                print()
                raise SystemExit(f"bulk job stalled at {last:,} lines for {STALL} s: {job}")
            time.sleep(POLL)
        done_at_kill, t_seen = job["done"], now
        api.close()
        servers[0].kill()  # SIGKILL: no shutdown, the chunk in hand cut short
        servers[0].wait()
        t_kill = time.monotonic()
        print()
        print(f"killed the server (SIGKILL, exit {servers[0].returncode}) at {done_at_kill:,} of "
              f"{total:,} lines done (last poll), {t_kill - t0:.1f} s after the POST")

        # 4. A new server on the same database; poll until the job is done.
        port2 = free_port()
        env2 = dict(env, CREDITGATE_BIND=f"127.0.0.1:{port2}")
        serve(env2, port2, f"{work}/server-2.log", servers, logs)
        t_ready = time.monotonic()
        api = Api(port2)
        first = None
        last, moved = -1, time.monotonic()
        while True:
            job = api.call("GET", f"/api/v1/bulk-checks/{jid}", system)
            now = time.monotonic()
            if first is None:
                first, first_status, t_first = job["done"], job["status"], now
            print(f"\rbulk {jid}: {job['done']:,}/{job['total']:,} lines, {job['status']}   ",
                  end="", flush=True)
            if job["status"] == "done":
                break
            if job["status"] == "failed":
                print()
                raise SystemExit(f"bulk job failed after the restart: {job.get('error')}")
            if job["done"] != last:
                last, moved = job["done"], now
            elif now - moved > RESTART_STALL:
                print()
                raise SystemExit(f"bulk job stalled at {last:,} lines for {RESTART_STALL} s "
                                 f"after the restart: {job}")
            time.sleep(POLL)
        t_done = now
        print()
        checks("progress kept across the kill (done on the first poll after the restart >= "
               "done on the last poll before the kill)", first >= done_at_kill,
               f"{first:,} after the restart, {done_at_kill:,} before the kill")
        checks("job total unchanged across the kill", job["total"] == total,
               f"{job['total']:,}, was {total:,}")

        # 5. The result, line by line.
        text = api.send("GET", f"/api/v1/bulk-checks/{jid}/result.csv", system).decode("utf-8")
        checks("result.csv starts with a byte order mark", text.startswith("\ufeff"))
        rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
        header, rows = (rows[0], rows[1:]) if rows else ([], [])
        if header != RESULT_COLUMNS:
            raise SystemExit(f"result.csv columns {header}, want {RESULT_COLUMNS}")
        rows = [dict(zip(RESULT_COLUMNS, r)) for r in rows]
        checks("result rows = LINES", len(rows) == LINES, f"{len(rows):,} rows, want {LINES:,}")
        for i, row in enumerate(rows[:LINES]):
            at = f"row {i + 1} ({row['uscc']}): {row['verdict']} {row['reason']!r}"
            checks("line = the input line (row i: i + 2, the header is line 1)",
                   row["line"] == str(i + 2), f"row {i + 1}: line {row['line']}, want {i + 2}")
            checks("uscc = the code sent, in input order", row["uscc"] == sent[i],
                   f"row {i + 1}: {row['uscc']}, want {sent[i]}")
            if is_bad(i):
                checks(f"bad lines (every {BAD_EVERY}th): rejected, the reason names the check character",
                       row["verdict"] == "rejected" and "check character" in row["reason"], at)
            elif i % PENALTY_EVERY == 0:
                checks(f"penalised lines (every {PENALTY_EVERY}th): a verdict, not clear",
                       row["verdict"] not in ("clear", "rejected"), at)
            else:
                checks("other lines: clear", row["verdict"] == "clear", at)
            if row["verdict"] != "rejected":
                checks("checked (not rejected) lines carry a report_no", row["report_no"] != "", at)
        numbers = [r["report_no"] for r in rows if r["report_no"]]
        twice = [n for n, k in Counter(numbers).items() if k > 1]
        checks("report_no distinct", not twice,
               f"{len(twice):,} numbers on more than one line, e.g. {twice[:3]}")
        counts = Counter(r["verdict"] for r in rows)
        job_counts = job.get("counts") or {}
        checks("job counts = the result's", all(job_counts.get(v, 0) == counts.get(v, 0) for v in VERDICTS)
               and sum(counts.values()) == sum(job_counts.get(v, 0) for v in VERDICTS),
               f"job {job_counts}, result {dict(counts)}")
        checks("job done = total", job["done"] == job["total"], f"{job['done']:,} of {job['total']:,}")

        # 6. A sample of good lines against single checks, some against their stored report.
        rng = random.Random(42)
        good = [i for i in range(min(LINES, len(rows))) if not is_bad(i)]
        sample = rng.sample(good, min(SAMPLE, len(good)))
        mismatches = []
        t = time.monotonic()
        for i in sample:
            report = api.call("POST", "/api/v1/checks", system, want=201, body={
                "scenario": SCENARIO, "subject": {"uscc": sent[i]}, "purpose": PURPOSE,
                "reference": REFERENCE + "-SAMPLE"})
            ok = report["verdict"] == rows[i]["verdict"]
            why = f"row {i + 1} {sent[i]}: bulk {rows[i]['verdict']}, single check {report['verdict']}"
            checks(f"single check verdict = bulk verdict (sample of {SAMPLE}, seed 42)", ok, why)
            if not ok:
                mismatches.append(why)
        singles_s = time.monotonic() - t
        for i in sample[:STORED]:
            no = rows[i]["report_no"]
            if not no:
                checks(f"stored report (GET /api/v1/checks/{{report_no}}) verdict = bulk verdict "
                       f"({STORED} of the sample)", False, f"row {i + 1} {sent[i]}: no report_no")
                continue
            report = api.call("GET", f"/api/v1/checks/{no}", system)
            ok = report.get("verdict") == rows[i]["verdict"] and \
                (report.get("subject") or {}).get("uscc") == sent[i]
            why = (f"row {i + 1} {sent[i]} {no}: bulk {rows[i]['verdict']}, stored report "
                   f"{report.get('verdict')} of {(report.get('subject') or {}).get('uscc')}")
            checks(f"stored report (GET /api/v1/checks/{{report_no}}) verdict = bulk verdict "
                   f"({STORED} of the sample)", ok, why)
            if not ok:
                mismatches.append(why)

        # 7. The figures.
        model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                      if l.startswith("model name")), "?")
        before_s, after_s = t_seen - t0, t_done - t_first
        print(f"data: {LINES:,} lines, {len(penalised):,} with a penalty record (every "
              f"{PENALTY_EVERY}th), {len(bad_lines):,} with a wrong check character (every "
              f"{BAD_EVERY}th), scenario {SCENARIO}, {backend}")
        print(f"machine: {len(os.sched_getaffinity(0))} cores, {model}; server and client on one box")
        print(f"killed (SIGKILL) with {done_at_kill:,} of {total:,} lines done (last poll), "
              f"{before_s:.1f} s after the POST; the first poll after the restart saw {first:,} "
              f"({first_status})")
        print(f"before the kill: {done_at_kill / before_s if before_s > 0 else 0:,.0f} lines/s "
              f"({done_at_kill:,} lines in {before_s:.1f} s from the POST, polled every {POLL} s)")
        print(f"after the restart: {(LINES - first) / after_s if after_s > 0 else 0:,.0f} lines/s "
              f"({LINES - first:,} lines in {after_s:.1f} s); kill to ready {t_ready - t_kill:.1f} s")
        print(f"wall time: {t_done - t0:.1f} s from the POST to done (kill and restart included); "
              f"{time.monotonic() - started:.1f} s the whole run")
        print("verdicts: " + ", ".join(f"{v} {counts.get(v, 0):,}" for v in VERDICTS)
              + "".join(f", {v} {k:,}" for v, k in counts.items() if v not in VERDICTS))
        print(f"sample: {len(sample)} single checks in {singles_s:.1f} s, {min(STORED, len(sample))} "
              f"stored reports read; {len(mismatches)} mismatches")
        for m in mismatches[:20]:
            print("  " + m)
        checks.report()
        return 1 if checks.failed() else 0
    except subprocess.CalledProcessError as e:
        raise SystemExit(f"{' '.join(map(str, e.cmd))} failed ({e.returncode}): {e.stderr.strip()}")
    finally:
        if api:
            api.close()
        for server in servers:
            if server.poll() is None:
                server.terminate()
                try:
                    server.wait(10)
                except subprocess.TimeoutExpired:
                    server.kill()
                    server.wait()
        for log in logs:
            log.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
