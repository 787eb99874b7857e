#!/usr/bin/env python3
"""An independent provincial credit platform, written from docs/provincial-protocol.md alone.

It serves the exchange protocol's three operations to the city's sync client:

  GET  /v1/changes?after=CURSOR&limit=N   the change feed, oldest first, in pages
  POST /v1/records/batch                  the city's pushed records, idempotent by
                                          (source code, source record id, version)
  POST /v1/repairs/batch                  the city's approved repairs, idempotent by repair_id

Every request is checked as the document's "Signing" section says (headers missing or not of
their form, unknown key id, stale timestamp, replayed nonce, bad signature: 401 problem+json with
`code`), and every answer, the 401s included, is signed over the canonical answer. Faults, set in
the scenario file, stand for a proxy or impostor in the way (an unsigned or badly signed 401) and
for an answer lost after a push (of records or of repairs) was taken. The scenario can also make
the platform refuse some records (`reject_push_ids`) and some repairs (`reject_repair_ids`).

Unsigned, for the tests:

  GET  /state           what the platform saw (requests, pulls, pushes, repairs received and
                        refused, faults left, violations)
  POST /control/hold    from now on every protocol request is held unanswered (until killed);
                        lets a test start a server configured with this platform without its
                        own sync round changing anything
  POST /control/release answers held and later requests again

Usage:
  python3 platform.py --port 0 --secret HEX --key-id city --scenario FILE

The first line on standard output is `listening on http://127.0.0.1:PORT`.
Standard library only.
"""

import os
import sys

# This file is named platform.py, as the standard library's `platform`: keep its directory off
# the import path so that no standard module importing `platform` gets this one.
sys.path[:] = [p for p in sys.path
               if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]

import argparse  # noqa: E402
import datetime
import hashlib
import hmac
import json
import re
import secrets
import socket
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

WINDOW = 300  # seconds: timestamps further from our clock are stale; nonces remembered this long
MAX_LIMIT = 1000
ANSWER_NONCE_BYTES = 16  # 32 hex characters, as a request nonce

HEX32 = re.compile(r"^[0-9a-fA-F]{32}$")
# The form of the signing headers (the document: "a nonce of 16 to 64 characters"; hex is read in
# either case; the signature is an HMAC-SM3, 32 bytes; the timestamp is Unix seconds).
NONCE_FORM = re.compile(r"^[0-9a-fA-F]{16,64}$")
SIGNATURE_FORM = re.compile(r"^[0-9a-fA-F]{64}$")
TIMESTAMP_FORM = re.compile(r"^[0-9]{1,12}$")
DAY_FORM = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
# A mainland ID number: 17 digits and a digit or X, a province code first, a date in 7-14.
ID_NUMBER = re.compile(r"(?<![0-9])([1-8][0-9])[0-9]{4}((?:19|20)[0-9]{2})(0[1-9]|1[0-2])(0[1-9]|[12][0-9]|3[01])[0-9]{3}[0-9Xx](?![0-9])")

FAULT_KINDS = {
    # kind: the requests it concerns by default
    "unsigned_401": "any",
    "badly_signed_401": "any",
    "lose_push_answer": "push",
    "lose_repair_answer": "repair",
}
# The faults after which the platform has taken the request and answers nothing.
LOSE_ANSWER = {"lose_push_answer", "lose_repair_answer"}


def sm3_hex(data: bytes) -> str:
    return hashlib.new("sm3", data).hexdigest()


def hmac_sm3_hex(secret: bytes, text: str) -> str:
    return hmac.new(secret, text.encode("utf-8"), "sm3").hexdigest()


def canonical_request(method: str, path_query: str, timestamp: str, nonce: str, body: bytes) -> str:
    """Five lines joined by \\n (the document, "Signing")."""
    return "\n".join([method.upper(), path_query, timestamp, nonce, sm3_hex(body)])


def canonical_answer(status: int, request_nonce: str, timestamp: str, nonce: str, body: bytes) -> str:
    """Six lines joined by \\n, the first the literal RESPONSE."""
    return "\n".join(["RESPONSE", str(status), request_nonce, timestamp, nonce, sm3_hex(body)])


class Platform:
    """The platform's state: the feed, what was pushed, the faults, what was seen."""

    def __init__(self, key_id: str, secret: bytes, scenario: dict):
        self.key_id = key_id
        self.secret = secret
        self.lock = threading.Lock()
        self.release = threading.Event()
        self.hold = False

        style = scenario.get("cursor_style", "padded")
        if style not in ("short", "padded"):
            raise SystemExit(f"cursor_style must be short or padded, not {style!r}")
        self.page_limit_default = int(scenario.get("page_limit_default", 500))
        self.changes = []
        for i, c in enumerate(scenario.get("changes", []), start=1):
            cursor = f"c{i}" if style == "short" else f"c_{i:06d}"
            change = {
                "cursor": cursor,
                "op": c["op"],
                "source_code": c["source_code"],
                "source_record_id": c["source_record_id"],
                "version": c["version"],
            }
            if c["op"] == "upsert":
                change["record"] = c["record"]
            elif c["op"] != "remove":
                raise SystemExit(f"change {i}: op must be upsert or remove")
            self.changes.append(change)
        self.position = {c["cursor"]: i for i, c in enumerate(self.changes)}

        self.faults = []
        for f in scenario.get("faults", []):
            kind = f["kind"]
            if kind not in FAULT_KINDS:
                raise SystemExit(f"unknown fault {kind!r}")
            self.faults.append({"kind": kind, "left": int(f.get("times", 1)),
                                "on": f.get("on", FAULT_KINDS[kind])})
        self.reject_push_ids = set(scenario.get("reject_push_ids", []))
        # Repairs the platform refuses: by repair_id or by the source record id they name (the
        # city makes the repair id, which a scenario written beforehand cannot know).
        self.reject_repair_ids = set(scenario.get("reject_repair_ids", []))
        self.reject_repair_reason = str(scenario.get(
            "reject_repair_reason", "the platform refuses this repair (scenario reject_repair_ids)"))

        # What was seen.
        self.requests = 0
        self.pulls = 0
        self.pages_served = 0
        self.pushes = 0
        self.held = 0
        self.push_attempts_by_id = {}
        self.received = []  # [source_code, source_record_id, version], in order taken
        self.taken = set()  # (source_code, source_record_id, version) accepted
        self.repair_pushes = 0  # POST /v1/repairs/batch requests (any)
        self.repair_attempts_by_id = {}  # repair_id (as sent, or "?" for none) -> items seen
        self.repairs_received = []  # [repair_id, source_code, source_record_id, version, repaired_on]
        self.repairs_taken = {}  # repair_id -> the item as taken (idempotency)
        self.repairs_refused = []  # {"repair_id", "errors": [codes]} per rejected item, in order
        self.repairs_answered = {}  # repair_id -> the status of an answer delivered in full
        self.repairs_of_unknown_records = []  # repairs naming a record neither fed nor pushed
        self.faults_injected = {}
        self.refusals = {}  # 401 code -> count (genuine refusals, signed)
        self.answers = {}  # status -> count of answers sent (any)
        self.pull_afters = []  # the `after` of each authentic pull (None at the start)
        self.pull_limits = []
        self.violations = []  # the client breaking the document, as seen here
        self.nonces = {}  # nonce -> time seen, authentic requests (the replay window)
        self.all_nonces = set()  # every request nonce ever sent (the client must never reuse)

    # -- signing -----------------------------------------------------------------------

    def sign_answer(self, status: int, request_nonce: str, body: bytes):
        ts = str(int(time.time()))
        nonce = secrets.token_hex(ANSWER_NONCE_BYTES)
        sig = hmac_sm3_hex(self.secret, canonical_answer(status, request_nonce, ts, nonce, body))
        return {"X-Cg-Timestamp": ts, "X-Cg-Nonce": nonce, "X-Cg-Signature": sig}

    def authenticate(self, method, path_query, headers, body):
        """None when the request is authentic, else the 401 code. Remembers its nonce."""
        key_id = headers.get("X-Cg-Key-Id")
        ts = headers.get("X-Cg-Timestamp")
        nonce = headers.get("X-Cg-Nonce")
        sig = headers.get("X-Cg-Signature")
        # "A request without the four headers, or with one that is not of its form, is refused
        # as malformed_signature" — before anything else is looked at.
        if (not key_id or ts is None or nonce is None or sig is None
                or not TIMESTAMP_FORM.match(ts) or not NONCE_FORM.match(nonce)
                or not SIGNATURE_FORM.match(sig.strip())):
            return "malformed_signature"
        if not hmac.compare_digest(key_id.encode(), self.key_id.encode()):
            return "unknown_key"
        t = int(ts)
        now = time.time()
        if abs(now - t) > WINDOW:
            return "stale_timestamp"
        expected = hmac_sm3_hex(self.secret, canonical_request(method, path_query, ts, nonce, body))
        if not hmac.compare_digest(expected, sig.strip().lower()):
            return "bad_signature"
        with self.lock:
            for n, seen in list(self.nonces.items()):
                if now - seen > 2 * WINDOW:
                    del self.nonces[n]
            if nonce in self.nonces:
                return "replayed_nonce"
            self.nonces[nonce] = now
        return None

    # -- faults ------------------------------------------------------------------------

    def take_fault(self, kind_of_request):
        with self.lock:
            for f in self.faults:
                if f["left"] > 0 and f["on"] in ("any", kind_of_request):
                    f["left"] -= 1
                    self.faults_injected[f["kind"]] = self.faults_injected.get(f["kind"], 0) + 1
                    return f["kind"]
        return None

    # -- operations --------------------------------------------------------------------

    def pull(self, query):
        """(status, body dict) for GET /v1/changes."""
        q = parse_qs(query, keep_blank_values=True)
        after = q.get("after", [None])[0]
        if after == "":
            after = None
        limit_s = q.get("limit", [None])[0]
        if limit_s is None or limit_s == "":
            limit = self.page_limit_default
        else:
            try:
                limit = int(limit_s)
            except ValueError:
                return 400, problem(400, "bad_limit", f"limit must be a whole number: {limit_s!r}")
            if limit < 1:
                return 400, problem(400, "bad_limit", "limit must be at least 1")
        limit = min(limit, MAX_LIMIT)
        with self.lock:
            self.pull_afters.append(after)
            self.pull_limits.append(limit)
            if after is None:
                start = 0
            elif after in self.position:
                start = self.position[after] + 1
            else:
                self.violations.append(f"pull after a cursor this platform never gave: {after!r}")
                return 400, problem(400, "unknown_cursor", f"no such cursor: {after!r}")
            page = self.changes[start:start + limit]
            end = start + len(page)
            next_cursor = page[-1]["cursor"] if page else after
            self.pages_served += 1
        return 200, {
            "changes": page,
            "after": after,
            "next_cursor": next_cursor,
            "has_more": end < len(self.changes),
            "remaining": len(self.changes) - end,
        }

    def push(self, body):
        """(status, body dict) for POST /v1/records/batch; takes what it accepts."""
        try:
            batch = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return 400, problem(400, "bad_request", "the body is not JSON")
        if not isinstance(batch, dict) or not isinstance(batch.get("records"), list):
            return 400, problem(400, "bad_request", "expected {\"batch_id\": …, \"records\": [...]}")
        results = []
        with self.lock:
            if not isinstance(batch.get("batch_id"), str):
                self.violations.append("a pushed batch without a batch_id string")
            if len(batch["records"]) > 200:
                self.violations.append(
                    f"a pushed batch of {len(batch['records'])} records (the document: batches of 200)")
            for i, item in enumerate(batch["records"]):
                errors = []
                if not isinstance(item, dict):
                    results.append({"index": i, "status": "rejected",
                                    "errors": [err("", "not_an_object", "an item must be an object")]})
                    continue
                src = item.get("source_code")
                rid = item.get("source_record_id")
                ver = item.get("version")
                rec = item.get("record")
                if not isinstance(src, str) or not src:
                    errors.append(err("source_code", "required", "a source code is required"))
                if not isinstance(rid, str) or not rid:
                    errors.append(err("source_record_id", "required", "a source record id is required"))
                if isinstance(ver, bool) or not isinstance(ver, int) or ver < 1:
                    errors.append(err("version", "invalid", "the version must be a whole number from 1"))
                if not isinstance(rec, dict):
                    errors.append(err("record", "required", "the record must be an object"))
                key = f"{src}|{rid}|{ver}"
                self.push_attempts_by_id[key] = self.push_attempts_by_id.get(key, 0) + 1
                if isinstance(rid, str) and ID_NUMBER.search(rid):
                    self.violations.append(f"pushed id holds a plain ID number: {mask(rid)}")
                if isinstance(rec, dict) and isinstance(rec.get("version"), int) \
                        and not isinstance(ver, bool) and rec.get("version") != ver:
                    self.violations.append(
                        f"pushed item {src}|{rid}: version {ver} but its record says {rec.get('version')}")
                if not errors and rid in self.reject_push_ids:
                    errors.append(err("source_record_id", "refused",
                                      "the platform refuses this record (scenario reject_push_ids)"))
                if errors:
                    results.append({"index": i, "status": "rejected", "errors": errors})
                    continue
                t = (src, rid, ver)
                if t in self.taken:
                    results.append({"index": i, "status": "duplicate", "errors": []})
                else:
                    self.taken.add(t)
                    self.received.append([src, rid, ver])
                    results.append({"index": i, "status": "accepted", "errors": []})
        return 200, {"results": results}

    def push_repairs(self, body):
        """(status, body dict, delivered) for POST /v1/repairs/batch; takes what it accepts.

        `delivered` is [(repair_id, status)] for the items whose repair_id is a string: the
        handler marks them answered once the answer is written in full (`answered`).
        """
        try:
            batch = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return 400, problem(400, "bad_request", "the body is not JSON"), []
        if not isinstance(batch, dict) or not isinstance(batch.get("repairs"), list):
            return 400, problem(400, "bad_request", "expected {\"batch_id\": …, \"repairs\": [...]}"), []
        results, delivered = [], []
        with self.lock:
            if not isinstance(batch.get("batch_id"), str) or not batch.get("batch_id"):
                self.violations.append("a repair batch without a batch_id string")
            if len(batch["repairs"]) > 200:
                self.violations.append(
                    f"a repair batch of {len(batch['repairs'])} repairs (the document: batches of 200)")
            known_records = {(c["source_code"], c["source_record_id"]) for c in self.changes}
            known_records |= {(r[0], r[1]) for r in self.received}
            for i, item in enumerate(batch["repairs"]):
                if not isinstance(item, dict):
                    errors = [err("", "not_an_object", "an item must be an object")]
                    self.repair_attempts_by_id["?"] = self.repair_attempts_by_id.get("?", 0) + 1
                    self.repairs_refused.append({"repair_id": None, "errors": ["not_an_object"]})
                    results.append({"index": i, "status": "rejected", "errors": errors})
                    continue
                rep_id = item.get("repair_id")
                src = item.get("source_code")
                rid = item.get("source_record_id")
                ver = item.get("version")
                day = item.get("repaired_on")
                errors = []
                if not isinstance(rep_id, str) or not rep_id:
                    errors.append(err("repair_id", "required", "a repair id is required"))
                if not isinstance(src, str) or not src:
                    errors.append(err("source_code", "required", "a source code is required"))
                if not isinstance(rid, str) or not rid:
                    errors.append(err("source_record_id", "required", "a source record id is required"))
                if isinstance(ver, bool) or not isinstance(ver, int) or ver < 1:
                    errors.append(err("version", "invalid", "the version must be a whole number from 1"))
                if day is None:
                    errors.append(err("repaired_on", "required", "the day of the decision is required"))
                elif not is_day(day):
                    errors.append(err("repaired_on", "invalid",
                                      f"the day of the decision must be a date YYYY-MM-DD: {day!r}"))
                key = rep_id if isinstance(rep_id, str) and rep_id else "?"
                self.repair_attempts_by_id[key] = self.repair_attempts_by_id.get(key, 0) + 1
                if key != "?" and key in self.repairs_answered:
                    self.violations.append(
                        f"repair {key} sent again after the platform answered it "
                        f"{self.repairs_answered[key]} (the document: not sent again)")
                if isinstance(rid, str) and ID_NUMBER.search(rid):
                    self.violations.append(f"repair of a record id holding a plain ID number: {mask(rid)}")
                if not errors and (rep_id in self.reject_repair_ids or rid in self.reject_repair_ids):
                    errors.append(err("repair_id", "refused", self.reject_repair_reason))
                if errors:
                    self.repairs_refused.append({"repair_id": rep_id if key != "?" else None,
                                                 "errors": [e["code"] for e in errors]})
                    results.append({"index": i, "status": "rejected", "errors": errors})
                    if key != "?":
                        delivered.append((key, "rejected"))
                    continue
                fields = [rep_id, src, rid, ver, day]
                if rep_id in self.repairs_taken:
                    if self.repairs_taken[rep_id] != fields:
                        self.violations.append(
                            f"repair {rep_id} sent again with other fields: "
                            f"{mask(json.dumps(self.repairs_taken[rep_id], ensure_ascii=False))} then "
                            f"{mask(json.dumps(fields, ensure_ascii=False))}")
                    results.append({"index": i, "status": "duplicate", "errors": []})
                    delivered.append((rep_id, "duplicate"))
                else:
                    self.repairs_taken[rep_id] = fields
                    self.repairs_received.append(fields)
                    if (src, rid) not in known_records:
                        self.repairs_of_unknown_records.append([rep_id, src, rid])
                    results.append({"index": i, "status": "accepted", "errors": []})
                    delivered.append((rep_id, "accepted"))
        return 200, {"results": results}, delivered

    def answered(self, delivered):
        """The answer to a repair batch was written in full: its items count as delivered."""
        with self.lock:
            for rep_id, status in delivered:
                self.repairs_answered.setdefault(rep_id, status)

    def state(self):
        with self.lock:
            left = {}
            for f in self.faults:
                left[f["kind"]] = left.get(f["kind"], 0) + f["left"]
            return {
                "requests": self.requests,
                "pulls": self.pulls,
                "pages_served": self.pages_served,
                "pushes": self.pushes,
                "held": self.held,
                "hold": self.hold,
                "changes": len(self.changes),
                "last_cursor": self.changes[-1]["cursor"] if self.changes else None,
                "push_attempts_by_id": dict(self.push_attempts_by_id),
                "received": list(self.received),
                "repair_pushes": self.repair_pushes,
                "repair_attempts_by_id": dict(self.repair_attempts_by_id),
                "repairs_received": [list(r) for r in self.repairs_received],
                "repairs_refused": [dict(r) for r in self.repairs_refused],
                "repairs_of_unknown_records": [list(r) for r in self.repairs_of_unknown_records],
                "faults_left": left,
                "faults_injected": dict(self.faults_injected),
                "refusals": dict(self.refusals),
                "answers": {str(k): v for k, v in self.answers.items()},
                "pull_afters": list(self.pull_afters),
                "pull_limits": list(self.pull_limits),
                "violations": list(self.violations),
            }


def is_day(v):
    """A calendar day written YYYY-MM-DD."""
    if not isinstance(v, str) or not DAY_FORM.match(v):
        return False
    try:
        datetime.date.fromisoformat(v)
    except ValueError:
        return False
    return True


def err(field, code, message):
    return {"field": field, "code": code, "message": message}


def problem(status, code, detail):
    titles = {400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 405: "Method Not Allowed"}
    return {"type": "about:blank", "title": titles.get(status, "Error"), "status": status,
            "code": code, "detail": detail, "errors": []}


def mask(s):
    return ID_NUMBER.sub(lambda m: m.group(0)[:6] + "********" + m.group(0)[-4:], s)


def make_handler(platform: Platform, verbose: bool):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "indie-provincial/1"

        def log_message(self, fmt, *args):
            if verbose:
                sys.stderr.write("platform: " + (fmt % args) + "\n")

        # -- plumbing ------------------------------------------------------------------

        def read_body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                out = b""
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass
                        return out
                    out += self.rfile.read(size)
                    self.rfile.readline()
            n = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(n) if n > 0 else b""

        def send(self, status, body_obj, content_type="application/json", sign_for=None,
                 bad_signature=False):
            """Sends an answer; `sign_for` is the request nonce to bind it to (None: unsigned)."""
            body = json.dumps(body_obj, ensure_ascii=False).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            if sign_for is not None:
                headers = platform.sign_answer(status, sign_for, body)
                if bad_signature:
                    s = headers["X-Cg-Signature"]
                    headers["X-Cg-Signature"] = ("0" if s[0] != "0" else "1") + s[1:]
                for k, v in headers.items():
                    self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
            with platform.lock:
                platform.answers[status] = platform.answers.get(status, 0) + 1

        def drop_connection(self):
            """Closes the connection without a byte of answer."""
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

        # -- dispatch ------------------------------------------------------------------

        def do_GET(self):
            self.dispatch("GET")

        def do_POST(self):
            self.dispatch("POST")

        def do_PUT(self):
            self.dispatch("PUT")

        def do_DELETE(self):
            self.dispatch("DELETE")

        def dispatch(self, method):
            try:
                self._dispatch(method)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True
            except Exception:  # noqa: BLE001 - a test platform: say what broke, keep serving
                traceback.print_exc()
                self.close_connection = True

        def _dispatch(self, method):
            body = self.read_body()
            path_query = self.path  # the request target exactly as sent
            split = urlsplit(path_query)
            path = split.path

            # The test's own, unsigned.
            if path == "/state" and method == "GET":
                return self.send(200, platform.state())
            if path == "/control/hold" and method == "POST":
                with platform.lock:
                    platform.hold = True
                    platform.release.clear()
                return self.send(200, {"hold": True})
            if path == "/control/release" and method == "POST":
                with platform.lock:
                    platform.hold = False
                    platform.release.set()
                return self.send(200, {"hold": False})

            # The protocol: every answer from here on is signed (unless a fault says not).
            if path == "/v1/changes" and method == "GET":
                kind = "pull"
            elif path == "/v1/records/batch" and method == "POST":
                kind = "push"
            elif path == "/v1/repairs/batch" and method == "POST":
                kind = "repair"
            else:
                kind = "other"

            with platform.lock:
                holding = platform.hold
                if holding:
                    platform.held += 1
            if holding:
                platform.release.wait(timeout=900)
                if not platform.release.is_set():
                    return self.drop_connection()

            request_nonce = self.headers.get("X-Cg-Nonce")
            with platform.lock:
                platform.requests += 1
                if kind == "pull":
                    platform.pulls += 1
                elif kind == "push":
                    platform.pushes += 1
                elif kind == "repair":
                    platform.repair_pushes += 1
                if request_nonce is None:
                    platform.violations.append(f"{method} {path}: no X-Cg-Nonce")
                else:
                    if not HEX32.match(request_nonce):
                        platform.violations.append(
                            f"{method} {path}: nonce is not 32 hex characters: {request_nonce!r}")
                    if request_nonce in platform.all_nonces:
                        platform.violations.append(
                            f"{method} {path}: nonce sent before (never reused, says the document): {request_nonce}")
                    platform.all_nonces.add(request_nonce)
                if self.headers.get("X-Cg-Timestamp") is not None and \
                        not re.fullmatch(r"[0-9]+", self.headers.get("X-Cg-Timestamp")):
                    platform.violations.append(
                        f"{method} {path}: timestamp is not whole Unix seconds: {self.headers.get('X-Cg-Timestamp')!r}")
            bind_to = request_nonce if request_nonce is not None else ""

            # A proxy or impostor in the way answers before the platform sees anything.
            fault = platform.take_fault(kind) if kind in ("pull", "push", "repair") else None
            if fault in ("unsigned_401", "badly_signed_401"):
                # Not counted as a refusal: the platform never saw the request.
                return self.send(401, problem(401, "bad_signature", "signature does not match"),
                                 content_type="application/problem+json",
                                 sign_for=None if fault == "unsigned_401" else bind_to,
                                 bad_signature=(fault == "badly_signed_401"))

            code = platform.authenticate(method, path_query, self.headers, body)
            if code is not None:
                with platform.lock:
                    platform.refusals[code] = platform.refusals.get(code, 0) + 1
                if fault in LOSE_ANSWER:
                    # Nothing was taken; give the fault back for the next authentic push.
                    with platform.lock:
                        for f in platform.faults:
                            if f["kind"] == fault:
                                f["left"] += 1
                                break
                        platform.faults_injected[fault] -= 1
                details = {
                    "malformed_signature": "signing headers missing or not of their form",
                    "unknown_key": "unknown key id",
                    "stale_timestamp": f"timestamp more than {WINDOW} seconds from the platform's clock",
                    "replayed_nonce": "nonce seen before",
                    "bad_signature": "signature does not match",
                }
                return self.send(401, problem(401, code, details[code]),
                                 content_type="application/problem+json", sign_for=bind_to)

            delivered = []
            if kind == "pull":
                status, answer = platform.pull(split.query)
            elif kind == "push":
                status, answer = platform.push(body)
            elif kind == "repair":
                status, answer, delivered = platform.push_repairs(body)
            else:
                status, answer = 404, problem(404, "not_found", f"no such operation: {method} {path}")
            if fault in LOSE_ANSWER and kind in ("push", "repair") and status == 200:
                return self.drop_connection()
            ctype = "application/json" if status == 200 else "application/problem+json"
            self.send(status, answer, content_type=ctype, sign_for=bind_to)
            if delivered:
                platform.answered(delivered)

    return Handler


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--secret", required=True, help="the shared secret, hex")
    ap.add_argument("--key-id", default="city", help="the one key id this platform knows")
    ap.add_argument("--scenario", required=True, help="the scenario JSON file")
    ap.add_argument("--verbose", action="store_true", help="log each request to standard error")
    args = ap.parse_args()
    with open(args.scenario, encoding="utf-8") as f:
        scenario = json.load(f)
    platform = Platform(args.key_id, bytes.fromhex(args.secret), scenario)
    server = ThreadingHTTPServer((args.host, args.port), make_handler(platform, args.verbose))
    server.daemon_threads = True
    print(f"listening on http://{args.host}:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
