#!/usr/bin/env python3
"""Writes a 双公示 行政处罚 (CF_*) CSV of N rows with valid, distinct codes, for import benchmarks.

    python3 benches/make_cf_csv.py ROWS OUT.csv
"""
import csv
import random
import sys

CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
W = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]
OW = [3, 7, 9, 10, 5, 8, 4, 2]


def org_check(body):
    v = lambda c: int(c) if c.isdigit() else ord(c) - 55
    r = 11 - sum(v(c) * w for c, w in zip(body, OW)) % 11
    return {10: "X", 11: "0"}.get(r, str(r))


def uscc(n):
    body = "MB%06d" % (n % 1_000_000)
    s = "91" + ["110000", "310115", "440300"][n // 1_000_000 % 3] + body + org_check(body)
    return s + CHARS[(31 - sum(CHARS.index(c) * w for c, w in zip(s, W)) % 31) % 31]


def main():
    rows, out = int(sys.argv[1]), sys.argv[2]
    rnd = random.Random(7)
    header = ["CF_XDR_MC", "CF_XDR_LB", "CF_XDR_SHXYM", "CF_FRDB", "CF_WSH", "CF_WFXW", "CF_SY", "CF_YJ",
              "CF_CFLB", "CF_NR", "CF_NR_FK", "CF_JDRQ", "CF_CFJG", "CF_CFJGDM"]
    with open(out, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        for i in range(rows):
            fine = rnd.choice(["0.2", "1.5", "30", "250"])
            w.writerow(["示例企业%d有限公司" % (i // 2), "法人及非法人组织", uscc(i // 2), "张三",
                        "市监罚〔2026〕%d号" % i, "虚假宣传", "发布虚假广告", "广告法第五十五条",
                        rnd.choice(["罚款", "警告;罚款", "罚款、没收违法所得"]), "罚款%s万元" % fine, fine,
                        "2026-%02d-%02d" % (rnd.randint(1, 10), rnd.randint(1, 28)),
                        "市市场监督管理局", "11110000MB0000000U"])


if __name__ == "__main__":
    main()
