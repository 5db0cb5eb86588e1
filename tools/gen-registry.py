#!/usr/bin/python3
"""Generate a consistent, synthetic registry: keys.tsv, clinics.tsv and
callers.tsv in the formats of mappings/yibao_registry.h.

The clinics file has exactly N rows.  Township hospitals (mode "own",
their own national code H + admdvs + 5 digits) each come with 15..35
village clinics; most villages settle through their township hospital
(mode "township"), about 6 % have their own designation and are linked
to the township hospital that supervises them (column township_code).
Every row has the optional columns of the weekly report: county and
township names, a 机构ID, 是否纳入 (是 for most, 否 with a reason for
about 2 %).  Every entity (a township hospital or an "own" village) has
one key, k-<entity code>.

All values are invented and only shaped like real ones; the same --seed
and -n always give the same files.  keys.tsv and callers.tsv hold
secrets and are created with mode 0600.

    tools/gen-registry.py --out /tmp/registry -n 50000 --seed 1
"""

import argparse
import os
import random
import string
import sys

SURNAMES = (
    "王李张刘陈杨赵黄周吴徐孙马朱胡郭何林高罗郑梁谢宋唐许韩冯邓曹彭曾肖田"
    "董潘袁蔡蒋余杜叶程魏苏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦方白邹孟"
)
PLACES = "东西南北前后大小新老上下中"
SUFFIXES = "庄村屯营集店寨桥河湾岗坡沟峪堡"

ORG_CHARS = string.digits + string.ascii_uppercase
REASONS = ("无医保网络", "村医未取得执业资格", "未完成信息系统改造",
           "正在办理定点协议")
INFNOS_HIS = "1101,2201-2208,2601,5203,9001"
INFNOS_READONLY = "1101"
INFNOS_TOWNSHIP = "1101,2201-2208,2301-2305,2401-2405,5201-5205,9001"


class Generator:
    def __init__(self, rng, province, own_percent):
        self.rng = rng
        self.province = province
        self.own_percent = own_percent
        self.orgs = set()
        self.seq = {}
        self.towns = []
        self.county_names = {}
        self.org_ids = 0
        self.counties = [
            "%s%02d%02d" % (province, city, county)
            for city in range(1, 18)
            for county in range(2, 2 + rng.randint(6, 14))
        ]
        rng.shuffle(self.counties)

    def org_code(self):
        while True:
            code = "PDY" + "".join(self.rng.choice(ORG_CHARS)
                                   for _ in range(19))
            if code not in self.orgs:
                self.orgs.add(code)
                return code

    def entity_code(self, admdvs):
        n = self.seq.get(admdvs, 0) + 1
        if n > 99999:
            sys.exit("gen-registry: more than 99999 entities in %s" % admdvs)
        self.seq[admdvs] = n
        return "H%s%05d" % (admdvs, n)

    def name(self, kind):
        rng = self.rng
        place = rng.choice(SURNAMES) + rng.choice(PLACES + SURNAMES)
        if kind == "town":
            return place + "镇卫生院"
        return place + rng.choice(SUFFIXES) + "村卫生室"

    def county_name(self, admdvs):
        if admdvs not in self.county_names:
            self.county_names[admdvs] = (self.rng.choice(SURNAMES)
                                         + self.rng.choice(PLACES) + "县")
        return self.county_names[admdvs]

    def report(self, county, township, admdvs):
        """county, township, 机构ID, 是否纳入, 未纳入原因"""
        self.org_ids += 1
        org_id = "%s%03d%s" % (admdvs, self.org_ids % 1000,
                               "".join(self.rng.choice(ORG_CHARS)
                                       for _ in range(3)))
        if self.rng.randrange(100) < 2:
            return [county, township, org_id, "否",
                    self.rng.choice(REASONS)]
        return [county, township, org_id, "是", ""]

    def secret(self, n):
        return "".join(self.rng.choice("0123456789abcdef") for _ in range(n))

    def generate(self, total):
        """Returns (keys, clinics): lists of rows (lists of strings)."""
        keys, clinics = [], []
        t = 0

        while len(clinics) < total:
            admdvs = self.counties[t % len(self.counties)]
            t += 1

            town = self.entity_code(admdvs)
            town_name = self.name("town")
            self.towns.append(town)
            town_key = "k-" + town
            keys.append([town_key, "AK" + self.secret(24), self.secret(40)])
            county = self.county_name(admdvs)
            township = town_name[:-3]
            clinics.append([self.org_code(), town_name, admdvs, "own", town,
                            town_name, town_key, ""]
                           + self.report(county, township, admdvs))

            for _ in range(self.rng.randint(15, 35)):
                if len(clinics) == total:
                    break

                org = self.org_code()
                name = self.name("village")

                if self.rng.randrange(100) < self.own_percent:
                    own = self.entity_code(admdvs)
                    key = "k-" + own
                    keys.append([key, "AK" + self.secret(24),
                                 self.secret(40)])
                    clinics.append([org, name, admdvs, "own", own, name,
                                    key, town]
                                   + self.report(county, township, admdvs))
                else:
                    clinics.append([org, name, admdvs, "township", town,
                                    town_name, town_key, town]
                                   + self.report(county, township, admdvs))

        return keys, clinics

    def callers(self, clinics):
        rng = self.rng
        rows = [["village-subsystem", self.secret(40), "*", "*"]]

        cities = sorted({c[2][:4] for c in clinics})
        for i, city in enumerate(cities[:5]):
            rows.append(["his-vendor-%d" % (i + 1), self.secret(40),
                         "admdvs:" + city, INFNOS_HIS])

        sample = rng.sample(clinics, min(5, len(clinics)))
        rows.append(["his-readonly", self.secret(40),
                     ",".join(c[0] for c in sample), INFNOS_READONLY])

        for i, town in enumerate(self.towns[:3]):
            rows.append(["his-township-%d" % (i + 1), self.secret(40),
                         town, INFNOS_TOWNSHIP])

        return rows


def write(path, header, rows, secret):
    if secret:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.chmod(path, 0o600)
    else:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)

    with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
        f.write(header)
        for row in rows:
            f.write("\t".join(row) + "\n")


def main():
    p = argparse.ArgumentParser(
        description="Generate a synthetic keys/clinics/callers file set.")
    p.add_argument("--out", required=True, metavar="DIR",
                   help="directory to write keys.tsv, clinics.tsv and "
                        "callers.tsv to (created if missing)")
    p.add_argument("-n", "--clinics", type=int, default=50000, metavar="N",
                   help="number of rows of clinics.tsv (default 50000)")
    p.add_argument("--seed", type=int, default=1,
                   help="random seed; the same seed gives the same files "
                        "(default 1)")
    p.add_argument("--province", default="37", metavar="NN",
                   help="2-digit province of the admdvs codes (default 37)")
    p.add_argument("--own-percent", type=int, default=6, metavar="P",
                   help="percentage of villages with their own designation, "
                        "linked to their township hospital (default 6)")
    args = p.parse_args()

    if args.clinics < 1:
        p.error("--clinics must be at least 1")
    if len(args.province) != 2 or not args.province.isdigit():
        p.error("--province must be 2 digits")
    if not 0 <= args.own_percent <= 100:
        p.error("--own-percent must be 0..100")

    rng = random.Random(args.seed)
    gen = Generator(rng, args.province, args.own_percent)
    keys, clinics = gen.generate(args.clinics)
    callers = gen.callers(clinics)

    os.makedirs(args.out, exist_ok=True)
    made = "# generated by tools/gen-registry.py -n %d --seed %d " \
           "(synthetic values)\n" % (args.clinics, args.seed)

    write(os.path.join(args.out, "keys.tsv"),
          made + "# key_id\tak\tsk\n", keys, True)
    write(os.path.join(args.out, "clinics.tsv"),
          made + "# org_code\tname\tadmdvs\tmode\tentity_code\tentity_name"
                 "\tkey_id\ttownship_code\tcounty\ttownship\torg_id"
                 "\tincluded\treason\n", clinics, False)
    write(os.path.join(args.out, "callers.tsv"),
          made + "# caller_id\tsecret\tclinics\tinfnos\n", callers, True)

    print("gen-registry: %d clinics, %d keys, %d callers in %s"
          % (len(clinics), len(keys), len(callers), args.out))


if __name__ == "__main__":
    main()
