#!/usr/bin/python3
"""yibao-keys: the platform keys (AK/SK) of yibao-gateway.

    yibao-keys import BATCH.csv --registry clinics.tsv --keys keys.tsv
    yibao-keys list --keys keys.tsv [--json]
    yibao-keys state --gateway http://127.0.0.1:8081/yibao/keys [--json]
    yibao-keys use KEY_ID older|newer --gateway URL

import reads the bureau's batch of keys (a CSV: entity or clinic code,
AK, SK, valid from, valid to; a header line is skipped), checks it
against the clinics registry (a code not in the registry, a code or an
AK given twice, a clinic left without a valid key) and writes the keys
file (docs/configuration.md) atomically (a temporary file in the same
folder, mode 0600, then renamed over the old one); `nginx -s reload`
takes it in.  A key for a key_id that already has one is added beside
the newest of its keys that has not expired: two keys per entity, the
gateway signs with the newer from its valid_from on.  Nothing is written
when anything is wrong; every problem is listed.

list shows the keys of a keys file by their times; state asks the
gateway's keys API (yibao_keys_api) for every key's state (never_used,
activated, expiring, expired, pending) and which one signs; use switches
an entity back to its older key (or forward again) without a reload.
No output ever holds an AK or an SK.

Exit status: 0 done; 1 a problem in the batch or the files (nothing
written), or no such key_id; 2 a usage error or a request the gateway
refused (its reason is printed); 3 the gateway could not answer or does
not allow this host.

Standard library only.
"""

import argparse
import csv
import datetime
import json
import os
import re
import sys
import tempfile

from yibao_api import Failure, call

ORG_RE = re.compile(r"^[0-9A-Z]{22}$")
# what a time column may show of itself in a message: digits and the
# separators of a date and time, nothing a key could be made of
TIME_CHARS_RE = re.compile(r"^[0-9 :T+\-Z./]{0,30}$")
ENTITY_RE = re.compile(r"^[HP][0-9]{11}$")
ASCII_RE = re.compile(r"^[\x21-\x7e]+$")
TZ_RE = re.compile(r"^([+-])([0-9]{2}):([0-9]{2})$")

HEADER_WORDS = ("code", "ak", "sk", "编码", "代码", "密钥", "valid")
MAX_PROBLEMS = 50


class Problems(Exception):
    def __init__(self, problems):
        super().__init__("\n".join(problems))
        self.problems = problems


def parse_tz(text):
    m = TZ_RE.match(text)
    if not m:
        raise argparse.ArgumentTypeError("--tz must be +HH:MM or -HH:MM")
    sign = -1 if m.group(1) == "-" else 1
    delta = datetime.timedelta(hours=int(m.group(2)),
                               minutes=int(m.group(3)))
    return datetime.timezone(sign * delta)


def shown_time(text):
    """A time column as a message may show it: itself when it has only
    the characters of a date and time, else not (the columns may be out
    of order, and it a key)."""
    return repr(text) if TIME_CHARS_RE.match(text) else "(not shown)"


def parse_time(text, tz, end_of_day):
    """An instant from the batch: a date (the start of the day, or for
    valid_to the end of it), a date and time, in tz unless it says its
    own offset.  None if it is none of these."""
    text = text.strip().replace("/", "-")
    for fmt in ("%Y-%m-%d", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S",
                "%Y-%m-%d %H:%M", "%Y%m%d"):
        try:
            t = datetime.datetime.strptime(text, fmt)
        except ValueError:
            continue
        t = t.replace(tzinfo=tz)
        if fmt in ("%Y-%m-%d", "%Y%m%d") and end_of_day:
            t += datetime.timedelta(days=1)
        return t
    try:
        t = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=tz)
    return t


def format_time(t, tz):
    if t.timestamp() == 0:
        return "1970-01-01T00:00:00Z"
    return t.astimezone(tz).isoformat(timespec="seconds")


class Key:
    def __init__(self, key_id, ak, sk, valid_from=None, valid_to=None,
                 where=""):
        self.key_id = key_id
        self.ak = ak
        self.sk = sk
        self.valid_from = valid_from
        self.valid_to = valid_to
        self.where = where

    def epoch_from(self):
        return int(self.valid_from.timestamp()) if self.valid_from else 0

    def label(self):
        return "%s@%d" % (self.key_id, self.epoch_from())

    def expired(self, now):
        return self.valid_to is not None and self.valid_to <= now

    def state(self, now):
        """The state by the times alone (activation is the gateway's)."""
        if self.expired(now):
            return "expired"
        if self.valid_to is not None \
                and (self.valid_to - now).total_seconds() <= 30 * 86400:
            return "expiring"
        if self.valid_from is not None and now < self.valid_from:
            return "pending"
        return "valid"


def read_tsv(path):
    """(line number, fields) of the records of a data file."""
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\r\n")
            if not line or line.startswith("#"):
                continue
            yield n, line.split("\t")


def read_registry(path):
    """The key_id of each org code and of each entity code's clinics."""
    by_org, by_entity, key_ids = {}, {}, {}
    for n, f in read_tsv(path):
        if len(f) < 7:
            raise SystemExit("yibao-keys: %s line %d: expected 7 to 13 "
                             "TAB-separated fields, got %d"
                             % (path, n, len(f)))
        org, entity, key_id = f[0], f[4], f[6]
        by_org[org] = key_id
        by_entity.setdefault(entity, set()).add(key_id)
        key_ids.setdefault(key_id, []).append(org)
    return by_org, by_entity, key_ids


def read_keys(path):
    """The keys of a keys file, by key_id; a missing file has none."""
    keys = {}
    if path is None or not os.path.exists(path):
        return keys
    for n, f in read_tsv(path):
        where = "%s line %d" % (path, n)
        if len(f) == 3:
            k = Key(f[0], f[1], f[2], where=where)
        elif len(f) == 5:
            vf = parse_time(f[3], datetime.timezone.utc, False)
            vt = parse_time(f[4], datetime.timezone.utc, False)
            if vf is None or vt is None:
                raise SystemExit("yibao-keys: %s: a time is not "
                                 "YYYY-MM-DDTHH:MM:SS+HH:MM" % where)
            k = Key(f[0], f[1], f[2], vf, vt, where)
        else:
            raise SystemExit("yibao-keys: %s: expected 3 or 5 "
                             "TAB-separated fields, got %d"
                             % (where, len(f)))
        keys.setdefault(k.key_id, []).append(k)
    return keys


def looks_like_header(row):
    first = row[0].strip().lower() if row else ""
    return not (ORG_RE.match(row[0].strip()) or ENTITY_RE.match(
        row[0].strip())) and any(w in first or w in ",".join(row).lower()
                                 for w in HEADER_WORDS)


def read_batch(path, encoding, tz, registry, problems):
    """The batch's rows as Keys, each under the key_id the registry
    gives its code.  Problems are appended (no AK or SK in them)."""
    by_org, by_entity, _ = registry
    out, seen_code, seen_ak, seen_id = [], {}, {}, {}

    with open(path, encoding=encoding, newline="") as f:
        rows = list(csv.reader(f))

    for n, row in enumerate(rows, 1):
        row = [c.strip() for c in row]
        if not any(row):
            continue
        if n == 1 and looks_like_header(row):
            continue
        where = "%s line %d" % (os.path.basename(path), n)
        if len(row) != 5:
            problems.append("%s: expected 5 fields (code, AK, SK, valid "
                            "from, valid to), got %d" % (where, len(row)))
            continue
        code, ak, sk, vf_text, vt_text = row

        if ORG_RE.match(code):
            key_id = by_org.get(code)
            if key_id is None:
                problems.append("%s: clinic %s is not in the registry"
                                % (where, code))
                continue
        elif ENTITY_RE.match(code):
            ids = by_entity.get(code)
            if not ids:
                problems.append("%s: entity %s is not in the registry"
                                % (where, code))
                continue
            if len(ids) > 1:
                problems.append("%s: the clinics of entity %s name %d "
                                "key_ids (%s): give their org codes"
                                % (where, code, len(ids),
                                   ", ".join(sorted(ids))))
                continue
            key_id = next(iter(ids))
        else:
            # not shown: with the columns out of order it may be a key
            problems.append("%s: the code column is neither a "
                            "22-character org code nor a national code "
                            "(H or P and 11 digits); its value is not "
                            "shown" % where)
            continue

        bad = [name for name, v in (("AK", ak), ("SK", sk))
               if not ASCII_RE.match(v) or len(v) > 512]
        if bad:
            problems.append("%s: the %s of %s is empty, too long or not "
                            "printable ASCII" % (where, " and ".join(bad),
                                                 code))
            continue

        vf = parse_time(vf_text, tz, False)
        vt = parse_time(vt_text, tz, True)
        if vf is None or vt is None:
            problems.append("%s: valid from %s / valid to %s: not a date "
                            "(YYYY-MM-DD) or a date and time"
                            % (where, shown_time(vf_text),
                               shown_time(vt_text)))
            continue
        if vt <= vf:
            problems.append("%s: valid to is not after valid from" % where)
            continue

        if code in seen_code:
            problems.append("%s: code %s is a duplicate of line %d"
                            % (where, code, seen_code[code]))
            continue
        if ak in seen_ak:
            problems.append("%s: the AK of %s is the AK of line %d"
                            % (where, code, seen_ak[ak]))
            continue
        if key_id in seen_id:
            problems.append("%s: %s has key_id %s, as line %d: one key per "
                            "entity in a batch" % (where, code, key_id,
                                                   seen_id[key_id]))
            continue
        seen_code[code], seen_ak[ak], seen_id[key_id] = n, n, n
        out.append(Key(key_id, ak, sk, vf, vt, where))

    return out


def merge(old, batch, now, problems):
    tz = datetime.timezone.utc
    """The keys after the batch: per key_id the batch's key and the
    newest old key that has not expired (a re-import of the same AK
    replaces it)."""
    keys = {k: list(v) for k, v in old.items()}
    for k in batch:
        have = [o for o in keys.get(k.key_id, [])
                if o.ak != k.ak and not o.expired(now)]
        for o in have:
            if o.valid_from is None:
                # a key without times becomes the older of the two: valid
                # from the epoch (its label stays <key_id>@0) until the
                # new one's end
                o.valid_from = datetime.datetime(1970, 1, 1, tzinfo=tz)
                o.valid_to = k.valid_to
        have.sort(key=lambda o: o.valid_from)
        if have and have[-1].valid_from >= k.valid_from:
            problems.append("%s: valid from of %s is not after that of its "
                            "key in the keys file (%s)"
                            % (k.where, k.key_id, have[-1].where))
            continue
        keys[k.key_id] = have[-1:] + [k]
    return keys


def check_clinics(registry, keys, now, problems):
    _, _, key_ids = registry
    left = []
    for key_id, orgs in sorted(key_ids.items()):
        if not any(not k.expired(now) for k in keys.get(key_id, [])):
            left.extend(orgs)
    if left:
        problems.append("%d clinic(s) left without a valid key: %s%s"
                        % (len(left), ", ".join(left[:20]),
                           ", ..." if len(left) > 20 else ""))


def write_keys(path, keys, tz, header):
    """Atomically: a temporary file in path's folder, mode 0600, synced,
    renamed over path."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".keys-", dir=folder)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(header)
            for key_id in sorted(keys):
                for k in sorted(keys[key_id], key=lambda k: k.epoch_from()):
                    row = [k.key_id, k.ak, k.sk]
                    if k.valid_from is not None:
                        row += [format_time(k.valid_from, tz),
                                format_time(k.valid_to, tz)]
                    f.write("\t".join(row) + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    dfd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def cmd_import(args):
    now = args.now or datetime.datetime.now(datetime.timezone.utc)
    registry = read_registry(args.registry)
    old = {} if args.replace else read_keys(args.keys)
    problems = []
    batch = read_batch(args.batch, args.encoding, args.tz, registry,
                       problems)
    keys = merge(old, batch, now, problems)
    check_clinics(registry, keys, now, problems)

    if problems:
        for p in problems[:MAX_PROBLEMS]:
            print("yibao-keys: " + p, file=sys.stderr)
        if len(problems) > MAX_PROBLEMS:
            print("yibao-keys: ... and %d more"
                  % (len(problems) - MAX_PROBLEMS), file=sys.stderr)
        print("yibao-keys: nothing written (%d problem(s))" % len(problems),
              file=sys.stderr)
        return 1

    two = sum(1 for v in keys.values() if len(v) == 2)
    if args.dry_run:
        print("yibao-keys: %d key(s) would be imported; %d key_id(s), %d "
              "with two keys (dry run, nothing written)"
              % (len(batch), len(keys), two))
        return 0

    write_keys(args.keys, keys, args.tz,
               "# written by yibao-keys import (key_id ak sk valid_from "
               "valid_to); mode 0600\n")
    print("yibao-keys: %d key(s) imported into %s; %d key_id(s), %d with "
          "two keys; nginx -s reload takes them in"
          % (len(batch), args.keys, len(keys), two))
    return 0


def cmd_list(args):
    now = args.now or datetime.datetime.now(datetime.timezone.utc)
    keys = read_keys(args.keys)
    rows = []
    for key_id in sorted(keys):
        for k in sorted(keys[key_id], key=lambda k: k.epoch_from()):
            rows.append({
                "key_id": k.key_id, "label": k.label(),
                "valid_from": format_time(k.valid_from, args.tz)
                if k.valid_from else None,
                "valid_to": format_time(k.valid_to, args.tz)
                if k.valid_to else None,
                "state": k.state(now)})
    if args.json:
        json.dump({"keys": rows}, sys.stdout, ensure_ascii=False, indent=1)
        print()
        return 0
    print("%-24s %-36s %-26s %-26s %s"
          % ("key_id", "label", "valid_from", "valid_to", "state"))
    for r in rows:
        print("%-24s %-36s %-26s %-26s %s"
              % (r["key_id"], r["label"], r["valid_from"] or "-",
                 r["valid_to"] or "-", r["state"]))
    return 0


def cmd_state(args):
    doc = call(args.gateway, timeout=30, key_id=args.key_id)
    if args.json:
        json.dump(doc, sys.stdout, ensure_ascii=False, indent=1)
        print()
        return 0
    print("%-36s %-12s %-6s %-21s %s"
          % ("label", "state", "signs", "valid_to", "activated"))
    for k in doc.get("keys", []):
        print("%-36s %-12s %-6s %-21s %s"
              % (k.get("label"), k.get("state"),
                 "yes" if k.get("signs") else "",
                 k.get("valid_to") or "-", k.get("activated") or "-"))
    return 0


def cmd_use(args):
    doc = call(args.gateway, method="POST", timeout=30, key_id=args.key_id,
               use=args.which)
    signs = [k["label"] for k in doc.get("keys", []) if k.get("signs")]
    print("yibao-keys: %s signs with %s" % (args.key_id,
                                           signs[0] if signs else
                                           "no key valid now"))
    return 0


def utc_time(text):
    t = parse_time(text, datetime.timezone.utc, False)
    if t is None:
        raise argparse.ArgumentTypeError("not a date and time: %r" % text)
    return t


def main(argv=None):
    p = argparse.ArgumentParser(
        prog="yibao-keys",
        description="Import the bureau's batch of platform keys into "
                    "yibao-gateway's keys file, list the keys, show their "
                    "states and switch an entity between its two keys. "
                    "No output holds an AK or an SK.",
        epilog="Exit status: 0 done; 1 a problem in the batch or the "
               "files (nothing written), or no such key_id; 2 a usage "
               "error or a request the gateway refused; 3 the gateway "
               "could not answer or does not allow this host.")
    sub = p.add_subparsers(dest="cmd", required=True)

    tz = "+08:00"
    imp = sub.add_parser(
        "import", help="check a batch CSV against the registry and write "
                       "the keys file atomically (mode 0600)",
        description="Rows: entity or clinic code, AK, SK, valid from, "
                    "valid to (a date is the start of that day, or for "
                    "valid to its end; a header line is skipped).")
    imp.add_argument("batch", help="the bureau's CSV")
    imp.add_argument("--registry", required=True,
                     help="the clinics file (yibao_clinics)")
    imp.add_argument("--keys", required=True,
                     help="the keys file (yibao_keys), read and replaced")
    imp.add_argument("--replace", action="store_true",
                     help="start from no keys instead of the keys file's")
    imp.add_argument("--tz", type=parse_tz, default=parse_tz(tz),
                     help="the batch's time zone (default %s)" % tz)
    imp.add_argument("--encoding", default="utf-8-sig",
                     help="the CSV's encoding (default utf-8-sig; the "
                          "bureau's Excel files may be gb18030)")
    imp.add_argument("--dry-run", action="store_true",
                     help="check only, write nothing")
    imp.add_argument("--now", type=utc_time, help=argparse.SUPPRESS)
    imp.set_defaults(func=cmd_import)

    ls = sub.add_parser("list", help="the keys of a keys file by their "
                                     "times")
    ls.add_argument("--keys", required=True)
    ls.add_argument("--json", action="store_true")
    ls.add_argument("--tz", type=parse_tz, default=parse_tz(tz))
    ls.add_argument("--now", type=utc_time, help=argparse.SUPPRESS)
    ls.set_defaults(func=cmd_list)

    st = sub.add_parser("state", help="every key's state, from the "
                                      "gateway's keys API")
    st.add_argument("--gateway", required=True, metavar="URL",
                    help="the keys API, e.g. "
                         "http://127.0.0.1:8081/yibao/keys")
    st.add_argument("--key-id")
    st.add_argument("--json", action="store_true")
    st.set_defaults(func=cmd_state)

    use = sub.add_parser("use", help="sign for an entity with its older "
                                     "key (rollback) or by the times again")
    use.add_argument("key_id")
    use.add_argument("which", choices=("older", "newer"))
    use.add_argument("--gateway", required=True, metavar="URL")
    use.set_defaults(func=cmd_use)

    args = p.parse_args(argv)
    try:
        return args.func(args)
    except Failure as e:
        print("yibao-keys: %s" % e, file=sys.stderr)
        return e.code
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        print("yibao-keys: %s" % e, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
