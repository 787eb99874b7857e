#!/usr/bin/env python3
"""Self-test of platform.py: a small client that signs and verifies exactly as
docs/provincial-protocol.md says (written apart from platform.py's helpers), run against the
platform as a child process. `python3 tests/indie_platform/selftest.py` — exit 0 when all pass.
"""

import hashlib
import http.client
import json
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SECRET = bytes.fromhex("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff")


def sm3(b):
    return hashlib.new("sm3", b).hexdigest()


def hmac_sm3_by_hand(key, msg):
    """RFC 2104 spelled out (block 64 bytes), to check hmac.new(..., 'sm3') independently."""
    if len(key) > 64:
        key = hashlib.new("sm3", key).digest()
    key = key.ljust(64, b"\0")
    inner = hashlib.new("sm3", bytes(k ^ 0x36 for k in key) + msg).digest()
    return hashlib.new("sm3", bytes(k ^ 0x5C for k in key) + inner).hexdigest()


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        check.failed += 1


check.failed = 0


class Client:
    def __init__(self, port, key_id="city", secret=SECRET):
        self.port, self.key_id, self.secret = port, key_id, secret

    def request(self, method, target, body=b"", *, ts=None, nonce=None, key_id=None,
                tamper_body=None, sig=None, drop=()):
        """A signed request; `drop` names headers left out. Returns (status, headers, body,
        the nonce the answer must be bound to: "" when none was sent)."""
        ts = str(int(time.time())) if ts is None else ts
        nonce = secrets.token_hex(16) if nonce is None else nonce
        canonical = f"{method}\n{target}\n{ts}\n{nonce}\n{sm3(body)}"
        signature = hmac_sm3_by_hand(self.secret, canonical.encode()) if sig is None else sig
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        headers = {"X-Cg-Key-Id": key_id or self.key_id, "X-Cg-Timestamp": ts,
                   "X-Cg-Nonce": nonce, "X-Cg-Signature": signature}
        for name in drop:
            del headers[name]
        if "X-Cg-Nonce" in drop:
            nonce = ""
        sent = body if tamper_body is None else tamper_body
        if method == "POST":
            headers["Content-Type"] = "application/json"
        conn.request(method, target, body=sent or None, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        return resp.status, dict(resp.getheaders()), data, nonce

    def verifies(self, status, headers, data, request_nonce):
        h = {k.lower(): v for k, v in headers.items()}
        if not all(k in h for k in ("x-cg-timestamp", "x-cg-nonce", "x-cg-signature")):
            return False
        canonical = "\n".join(["RESPONSE", str(status), request_nonce, h["x-cg-timestamp"],
                               h["x-cg-nonce"], sm3(data)])
        return hmac_sm3_by_hand(self.secret, canonical.encode()) == h["x-cg-signature"]


def unsigned(port, method, path):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request(method, path)
    r = conn.getresponse()
    d = json.loads(r.read())
    conn.close()
    return d


def start(scenario, key_id="city"):
    d = tempfile.mkdtemp()
    path = os.path.join(d, "scenario.json")
    with open(path, "w") as f:
        json.dump(scenario, f)
    p = subprocess.Popen([sys.executable, os.path.join(HERE, "platform.py"), "--port", "0",
                          "--secret", SECRET.hex(), "--key-id", key_id, "--scenario", path],
                         stdout=subprocess.PIPE, text=True)
    line = p.stdout.readline().strip()
    assert line.startswith("listening on http://127.0.0.1:"), line
    return p, int(line.rsplit(":", 1)[1])


def post_json(c, target, obj):
    s, h, d, n = c.request("POST", target, json.dumps(obj, ensure_ascii=False).encode())
    return s, h, d, n, (json.loads(d) if d else None)


def repair(rep_id, src="SCJG", rid="CF-1", version=1, day="2026-11-24"):
    return {"repair_id": rep_id, "source_code": src, "source_record_id": rid, "version": version,
            "repaired_on": day}


def repairs(changes):
    """POST /v1/repairs/batch (the document's "Repairs"), and the signing headers' form."""
    p, port = start({"cursor_style": "short", "changes": changes[:2],
                     "faults": [{"kind": "lose_repair_answer", "times": 1}],
                     "reject_repair_ids": ["CF-NO"],
                     "reject_repair_reason": "省平台不予接收：该记录由省级部门认定"})
    try:
        c = Client(port)
        T = "/v1/repairs/batch"

        # Signing, as for every endpoint: each refusal signed, for the nonce carried if any.
        body = json.dumps({"batch_id": "rpush_0", "repairs": [repair("rep_0")]}).encode()
        for what, kw in [("no X-Cg-Signature", {"drop": ("X-Cg-Signature",)}),
                         ("no X-Cg-Nonce", {"drop": ("X-Cg-Nonce",)}),
                         ("no X-Cg-Key-Id", {"drop": ("X-Cg-Key-Id",)}),
                         ("no X-Cg-Timestamp", {"drop": ("X-Cg-Timestamp",)}),
                         ("a nonce of 12 characters", {"nonce": "0123456789ab"}),
                         ("a nonce of 65 characters", {"nonce": "a" * 65}),
                         ("a timestamp not in seconds", {"ts": "2026-11-24T08:30:00Z"}),
                         ("a signature not 64 hex characters", {"sig": "zz" * 32})]:
            s, h, d, n = c.request("POST", T, body, **kw)
            check(s == 401 and json.loads(d)["code"] == "malformed_signature" and c.verifies(s, h, d, n),
                  f"repairs, {what}: 401 malformed_signature, signed for the nonce carried ({n!r})")
        s, h, d, n = c.request("POST", T, body, sig="ab" * 32)
        check(s == 401 and json.loads(d)["code"] == "bad_signature" and c.verifies(s, h, d, n),
              "repairs, a wrong signature: 401 bad_signature, signed")
        s, h, d, n = c.request("POST", T, body, tamper_body=body.replace(b"rep_0", b"rep_9"))
        check(s == 401 and json.loads(d)["code"] == "bad_signature", "repairs, a body altered after signing: bad_signature")
        s, h, d, n = c.request("POST", T, body, key_id="someone")
        check(s == 401 and json.loads(d)["code"] == "unknown_key" and c.verifies(s, h, d, n),
              "repairs, an unknown key id: 401 unknown_key, signed")
        st = unsigned(port, "GET", "/state")
        check(st["repair_attempts_by_id"] == {} and st["repairs_received"] == [],
              f"nothing refused was taken: {st['repair_attempts_by_id']}")
        check(st["faults_left"] == {"lose_repair_answer": 1},
              f"a refused request does not use up the lost-answer fault: {st['faults_left']}")
        # A 24-character upper-case hex nonce is of its form (16 to 64, hex read in either case):
        # the first authentic repair request, whose answer the fault loses after taking it.
        try:
            c.request("POST", T, body, nonce="AB" * 12)
            check(False, "fault lose_repair_answer: no answer")
        except (http.client.RemoteDisconnected, ConnectionResetError, http.client.BadStatusLine):
            check(True, "fault lose_repair_answer: taken, the connection closed without an answer")
        s, h, d, n, a = post_json(c, T, json.loads(body))
        check(s == 200 and c.verifies(s, h, d, n) and a["results"] == [{"index": 0, "status": "duplicate", "errors": []}],
              f"the same repair again: duplicate (taken before the lost answer): {a}")

        # A record pushed first, so that the platform knows SCJG|CF-1.
        s, h, d, n, a = post_json(c, "/v1/records/batch", {"batch_id": "b_1", "records": [
            {"source_code": "SCJG", "source_record_id": "CF-1", "version": 2, "record": {"version": 2}}]})
        check(s == 200 and [r["status"] for r in a["results"]] == ["accepted"], "a record pushed")

        batch = {"batch_id": "rpush_1", "repairs": [
            repair("rep_1", version=2),
            5,
            {"repair_id": "rep_bad", "source_code": "SCJG", "source_record_id": "CF-2", "version": "1",
             "repaired_on": "2026-13-01"},
            {},
            repair("rep_2", rid="CF-NO"),
            repair("rep_3", day="2026-02-30"),
            {"repair_id": "rep_4", "source_code": "SCJG", "source_record_id": "CF-4", "version": True,
             "repaired_on": "20261124"},
            repair("rep_5", src="PROV-T", rid="T-1", day="2026-11-20"),
        ]}
        s, h, d, n, a = post_json(c, T, batch)
        res = a["results"]
        check(s == 200 and c.verifies(s, h, d, n), "a repair batch: 200, answer verifies")
        check([r["index"] for r in res] == list(range(8)), "one result per item, in order")
        check([r["status"] for r in res] == ["accepted", "rejected", "rejected", "rejected", "rejected",
                                             "rejected", "rejected", "accepted"],
              f"well-formed: accepted; malformed and refused: rejected (never a 500): "
              f"{[r['status'] for r in res]}")
        fields = lambda r: sorted((e["field"], e["code"]) for e in r["errors"])  # noqa: E731
        check(fields(res[1]) == [("", "not_an_object")], f"an item not an object: {res[1]['errors']}")
        check(fields(res[2]) == [("repaired_on", "invalid"), ("version", "invalid")],
              f"version a string, month 13: {res[2]['errors']}")
        check(fields(res[3]) == [("repair_id", "required"), ("repaired_on", "required"),
                                 ("source_code", "required"), ("source_record_id", "required"),
                                 ("version", "invalid")], f"an empty item: {res[3]['errors']}")
        check(fields(res[4]) == [("repair_id", "refused")]
              and res[4]["errors"][0]["message"] == "省平台不予接收：该记录由省级部门认定",
              f"refused by the scenario, with its reason: {res[4]['errors']}")
        check(fields(res[5]) == [("repaired_on", "invalid")], f"30 February: {res[5]['errors']}")
        check(fields(res[6]) == [("repaired_on", "invalid"), ("version", "invalid")],
              f"version true, a day without dashes: {res[6]['errors']}")
        check(all(r["errors"] == [] for r in (res[0], res[7])), "no errors on the accepted")

        s, h, d, n, a = post_json(c, T, {"batch_id": "rpush_2", "repairs": [
            repair("rep_6", rid="CF-9"), repair("rep_7"), repair("rep_7")]})
        check([r["status"] for r in a["results"]] == ["accepted", "accepted", "duplicate"],
              "new repairs accepted; one repeated within its batch: duplicate")
        s, h, d, n, a = post_json(c, T, {"batch_id": "rpush_3", "repairs": []})
        check(s == 200 and a == {"results": []} and c.verifies(s, h, d, n), "an empty batch: no results")
        for bad, what in [(b"{not json", "not JSON"), (b'{"batch_id": "x", "repairs": {}}', "repairs not a list"),
                          (b"[]", "not an object")]:
            s, h, d, n = c.request("POST", T, bad)
            check(s == 400 and json.loads(d)["code"] == "bad_request" and c.verifies(s, h, d, n),
                  f"a body {what}: 400 bad_request, signed")
        st = unsigned(port, "GET", "/state")
        check(len(st["violations"]) == 5 and all("/v1/repairs/batch: " in x for x in st["violations"]),
              f"nothing against the document so far but the malformed headers: {st['violations']}")

        # The client breaking the document, named as violations.
        s, h, d, n, a = post_json(c, T, {"batch_id": "rpush_4", "repairs": [repair("rep_5", src="PROV-T", rid="T-1", day="2026-11-20")]})
        check([r["status"] for r in a["results"]] == ["duplicate"], "a delivered repair sent again: duplicate")
        s, h, d, n, a = post_json(c, T, {"batch_id": "rpush_5", "repairs": [repair("rep_2", rid="CF-NO")]})
        check([r["status"] for r in a["results"]] == ["rejected"], "a refused repair sent again: rejected again")
        s, h, d, n, a = post_json(c, T, {"batch_id": "rpush_6", "repairs": [repair("rep_1", version=2, day="2026-11-25")]})
        check([r["status"] for r in a["results"]] == ["duplicate"], "a repair id sent with other fields: duplicate")
        s, h, d, n, a = post_json(c, T, {"repairs": [repair("rep_8", rid="CF-5|110101199003070011")]})
        check([r["status"] for r in a["results"]] == ["accepted"], "a plain ID number in the record id: accepted")
        s, h, d, n, a = post_json(c, T, {"batch_id": "rpush_7", "repairs": [repair(f"rep_b{i}") for i in range(201)]})
        check(len(a["results"]) == 201, "201 repairs in a batch: answered")

        st = unsigned(port, "GET", "/state")
        got = st["repairs_received"][:7]
        check(got == [["rep_0", "SCJG", "CF-1", 1, "2026-11-24"],
                      ["rep_1", "SCJG", "CF-1", 2, "2026-11-24"],
                      ["rep_5", "PROV-T", "T-1", 1, "2026-11-20"],
                      ["rep_6", "SCJG", "CF-9", 1, "2026-11-24"],
                      ["rep_7", "SCJG", "CF-1", 1, "2026-11-24"],
                      ["rep_8", "SCJG", "CF-5|110101199003070011", 1, "2026-11-24"],
                      ["rep_b0", "SCJG", "CF-1", 1, "2026-11-24"]]
              and len(st["repairs_received"]) == 207,
              f"state repairs_received, each repair once: {got}")
        att = st["repair_attempts_by_id"]
        check({k: att.get(k) for k in ("rep_0", "rep_1", "rep_2", "rep_5", "rep_7", "rep_bad", "?")}
              == {"rep_0": 2, "rep_1": 2, "rep_2": 2, "rep_5": 2, "rep_7": 2, "rep_bad": 1, "?": 2},
              f"state repair_attempts_by_id: {att}")
        check([r["repair_id"] for r in st["repairs_refused"]].count("rep_2") == 2
              and {"repair_id": None, "errors": ["not_an_object"]} in st["repairs_refused"],
              f"state repairs_refused: {st['repairs_refused'][:8]}")
        check(st["repairs_of_unknown_records"] == [["rep_0", "SCJG", "CF-1"], ["rep_6", "SCJG", "CF-9"],
                                                   ["rep_8", "SCJG", "CF-5|110101199003070011"]],
              f"repairs naming a record neither fed nor pushed: {st['repairs_of_unknown_records']}")
        check(st["repair_pushes"] == 24, f"repair requests: {st['repair_pushes']}")
        v = st["violations"]
        want = ["no X-Cg-Nonce", "not 32 hex characters: '0123456789ab'", "not 32 hex characters: 'aaaa",
                "timestamp is not whole Unix seconds", "not 32 hex characters: 'ABAB",
                "repair rep_5 sent again after the platform answered it accepted",
                "repair rep_2 sent again after the platform answered it rejected",
                "repair rep_1 sent again after the platform answered it accepted",
                "repair rep_1 sent again with other fields",
                "a repair batch without a batch_id string",
                "plain ID number: CF-5|110101********0011",
                "a repair batch of 201 repairs"]
        check(len(v) == len(want) and all(w in x for w, x in zip(want, v))
              and not any("110101199003070011" in x for x in v),
              "the client's breaches are named, ID numbers masked:\n  " + "\n  ".join(v))
    finally:
        p.kill()
        p.wait()


def main():
    # The primitives.
    check(sm3(b"abc") == "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0",
          "SM3('abc') is GB/T 32905's example")
    import hmac as _h
    for k in (b"k", SECRET, b"x" * 100):
        check(_h.new(k, b"msg", "sm3").hexdigest() == hmac_sm3_by_hand(k, b"msg"),
              f"hmac.new(sm3) equals RFC 2104 by hand ({len(k)}-byte key)")
    import importlib.util
    spec = importlib.util.spec_from_file_location("indie_platform", os.path.join(HERE, "platform.py"))
    _p = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(_p)
    if hasattr(_p, "canonical_request"):
        ex = _p.canonical_request("GET", "/v1/changes?after=c_000120&limit=500", "1700000000",
                                  "0" * 32, b"")
        check(ex == "GET\n/v1/changes?after=c_000120&limit=500\n1700000000\n" + "0" * 32 + "\n"
              + "1ab21d8355cfa17f8e61194831e81a8f22bec8c728fefb747ed035eb5082aa2b",
              "the platform's canonical request is the document's five lines")
        check(sm3(b"") == "1ab21d8355cfa17f8e61194831e81a8f22bec8c728fefb747ed035eb5082aa2b",
              "SM3 of the empty string (GET bodies)")

    changes = []
    for i in range(1, 15):
        changes.append({"op": "upsert", "source_code": "PROV-T", "source_record_id": f"T-{i}",
                        "version": 1, "record": {"n": i}})
    changes.append({"op": "remove", "source_code": "PROV-T", "source_record_id": "T-1", "version": 2})
    p, port = start({"cursor_style": "short", "changes": changes, "page_limit_default": 5,
                     "faults": [{"kind": "unsigned_401", "times": 1},
                                {"kind": "badly_signed_401", "times": 1},
                                {"kind": "lose_push_answer", "times": 1}],
                     "reject_push_ids": ["NO-1"]})
    try:
        c = Client(port)
        s, h, d, n = c.request("GET", "/v1/changes?limit=5")
        check(s == 401 and "X-Cg-Signature" not in h and json.loads(d)["code"] == "bad_signature",
              "fault unsigned_401: a 401 without signature headers")
        s, h, d, n = c.request("GET", "/v1/changes?limit=5")
        check(s == 401 and "X-Cg-Signature" in h and not c.verifies(s, h, d, n),
              "fault badly_signed_401: a 401 whose signature does not verify")

        # The feed, page by page, with opaque short cursors.
        after, seen, pages = None, [], 0
        while True:
            target = "/v1/changes?limit=5" if after is None else f"/v1/changes?after={after}&limit=5"
            s, h, d, n = c.request("GET", target)
            check(s == 200 and c.verifies(s, h, d, n), f"GET {target}: 200, answer verifies")
            page = json.loads(d)
            check(page["after"] == after, f"  page says it follows {after!r}")
            seen += [x["cursor"] for x in page["changes"]]
            pages += 1
            if not page["has_more"]:
                check(page["remaining"] == 0, "  last page: remaining 0")
                break
            after = page["next_cursor"]
        check(seen == [f"c{i}" for i in range(1, 16)] and pages == 3, f"cursors c1..c15 in 3 pages: {seen}")
        s, h, d, n = c.request("GET", "/v1/changes?after=c15&limit=5")
        page = json.loads(d)
        check(s == 200 and page["changes"] == [] and page["next_cursor"] == "c15" and not page["has_more"],
              "after the last cursor: an empty page whose next_cursor is the cursor asked after")
        s, h, d, n = c.request("GET", "/v1/changes")
        check(len(json.loads(d)["changes"]) == 5, "no limit: page_limit_default")
        s, h, d, n = c.request("GET", "/v1/changes?limit=5000")
        check(s == 200 and len(json.loads(d)["changes"]) == 15, "limit over 1000: clamped")
        s, h, d, n = c.request("GET", "/v1/changes?after=c99")
        check(s == 400 and json.loads(d)["code"] == "unknown_cursor" and c.verifies(s, h, d, n),
              "an unknown cursor: 400 unknown_cursor, signed")

        # Refusals, each signed.
        s, h, d, n = c.request("GET", "/v1/changes", key_id="someone")
        check(s == 401 and json.loads(d)["code"] == "unknown_key" and c.verifies(s, h, d, n),
              "unknown key id: 401 unknown_key, signed")
        s, h, d, n = c.request("GET", "/v1/changes", ts=str(int(time.time()) - 301))
        check(s == 401 and json.loads(d)["code"] == "stale_timestamp" and c.verifies(s, h, d, n),
              "timestamp 301 s old: 401 stale_timestamp, signed")
        s, h, d, n = c.request("GET", "/v1/changes", ts=str(int(time.time()) + 290))
        check(s == 200, "timestamp 290 s ahead: accepted")
        nonce = secrets.token_hex(16)
        s, h, d, n = c.request("GET", "/v1/changes?limit=1", nonce=nonce)
        check(s == 200, "a fresh nonce: 200")
        s, h, d, n = c.request("GET", "/v1/changes?limit=1", nonce=nonce)
        check(s == 401 and json.loads(d)["code"] == "replayed_nonce" and c.verifies(s, h, d, n),
              "the same nonce again: 401 replayed_nonce, signed")
        s, h, d, n = c.request("GET", "/v1/changes?limit=1", sig="ab" * 32)
        check(s == 401 and json.loads(d)["code"] == "bad_signature" and c.verifies(s, h, d, n),
              "a wrong signature: 401 bad_signature, signed")
        # Signed for one query, sent with another: the path and query are signed as sent.
        ts, nonce = str(int(time.time())), secrets.token_hex(16)
        sig = hmac_sm3_by_hand(SECRET, f"GET\n/v1/changes?limit=1\n{ts}\n{nonce}\n{sm3(b'')}".encode())
        s, h, d, n = c.request("GET", "/v1/changes?limit=2", ts=ts, nonce=nonce, sig=sig)
        check(s == 401 and json.loads(d)["code"] == "bad_signature", "another query than signed: bad_signature")

        # Push.
        batch = {"batch_id": "b_1", "records": [
            {"source_code": "SCJG", "source_record_id": "CF-1", "version": 1, "record": {"version": 1}},
            {"source_code": "SCJG", "source_record_id": "NO-1", "version": 1, "record": {}},
        ]}
        body = json.dumps(batch).encode()
        s, h, d, n = c.request("POST", "/v1/records/batch", body, tamper_body=body.replace(b"CF-1", b"CF-2"))
        check(s == 401 and json.loads(d)["code"] == "bad_signature", "a body altered after signing: bad_signature")
        try:
            c.request("POST", "/v1/records/batch", body)
            check(False, "fault lose_push_answer: no answer")
        except (http.client.RemoteDisconnected, ConnectionResetError, http.client.BadStatusLine):
            check(True, "fault lose_push_answer: the connection closed without an answer")
        s, h, d, n = c.request("POST", "/v1/records/batch", body)
        res = json.loads(d)["results"]
        check(s == 200 and c.verifies(s, h, d, n) and [r["status"] for r in res] == ["duplicate", "rejected"],
              f"the batch again: duplicate (taken before the lost answer), rejected: {res}")
        batch["records"][0]["version"] = 2
        batch["records"][0]["record"]["version"] = 2
        s, h, d, n = c.request("POST", "/v1/records/batch", json.dumps(batch).encode())
        check([r["status"] for r in json.loads(d)["results"]] == ["accepted", "rejected"],
              "a new version: accepted")
        s, h, d, n = c.request("POST", "/v1/nothing", b"{}")
        check(s == 404 and c.verifies(s, h, d, n), "an unknown operation: 404, signed")

        st = unsigned(port, "GET", "/state")
        check(st["received"] == [["SCJG", "CF-1", 1], ["SCJG", "CF-1", 2]], f"state received: {st['received']}")
        check(st["push_attempts_by_id"] == {"SCJG|CF-1|1": 2, "SCJG|CF-1|2": 1, "SCJG|NO-1|1": 3},
              f"state attempts: {st['push_attempts_by_id']}")
        check(st["faults_left"] == {"unsigned_401": 0, "badly_signed_401": 0, "lose_push_answer": 0},
              f"faults used: {st['faults_left']}")
        v = st["violations"]
        check(len(v) == 2 and "never gave: 'c99'" in v[0] and "nonce sent before" in v[1],
              f"the client's deliberate breaches (unknown cursor, reused nonce) are named: {v}")

        # Hold and release.
        unsigned(port, "POST", "/control/hold")
        out = {}
        t = threading.Thread(target=lambda: out.update(r=c.request("GET", "/v1/changes?limit=1")))
        t.start()
        time.sleep(0.5)
        check(t.is_alive() and unsigned(port, "GET", "/state")["held"] == 1, "held while on hold")
        unsigned(port, "POST", "/control/release")
        t.join(5)
        check(out.get("r", (0,))[0] == 200, "answered once released")
    finally:
        p.kill()
        p.wait()

    # A platform that knows another key id answers the city with a signed unknown_key.
    p, port = start({"cursor_style": "padded", "changes": changes[:3]}, key_id="province-other")
    try:
        c = Client(port)
        s, h, d, n = c.request("GET", "/v1/changes")
        check(s == 401 and json.loads(d)["code"] == "unknown_key" and c.verifies(s, h, d, n),
              "another key id: 401 unknown_key, signed with the shared secret")
        c2 = Client(port, key_id="province-other")
        s, h, d, n = c2.request("GET", "/v1/changes")
        check(s == 200 and [x["cursor"] for x in json.loads(d)["changes"]] == ["c_000001", "c_000002", "c_000003"],
              "padded cursors")
    finally:
        p.kill()
        p.wait()

    repairs(changes)

    print("all passed" if check.failed == 0 else f"{check.failed} FAILED")
    return 1 if check.failed else 0


if __name__ == "__main__":
    sys.exit(main())
