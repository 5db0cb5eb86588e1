"""What the operations tools (yibao-journal, yibao-offline, yibao-coverage,
yibao-keys) share: one call of a gateway's HTTP API, its errors as exit
statuses, and the table they print.

The tools import it from their own folder (tools/, or /usr/lib/yibao-tools
where the yibao-tools package installs them).  Only the Python standard
library is used.
"""

import json
import urllib.error
import urllib.parse
import urllib.request

EXIT_OK, EXIT_NOT_FOUND, EXIT_USAGE, EXIT_UNAVAILABLE = 0, 1, 2, 3


class Failure(Exception):
    """What a tool prints (after its name) and the status it exits with."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


def fetch(base, path="", method="GET", timeout=15,
          refused="the gateway refused", not_found="not found",
          allow_hint="", **params):
    """The body (bytes) of the gateway's answer at base + path with the
    params (those None or "" left out) as its query, or Failure:

      404  EXIT_NOT_FOUND, the gateway's reason or not_found (not_found
           None: a 404 is an answer like any other, EXIT_UNAVAILABLE)
      400, 409 (not in this state: a record voided or resolved already,
           no older key)  EXIT_USAGE, "refused: reason"
      403  EXIT_UNAVAILABLE, the host is not allowed (allow_hint added)
      else EXIT_UNAVAILABLE, the status or why there was no answer.

    The gateway's reason is the "error" of its JSON answer."""
    query = urllib.parse.urlencode({k: v for k, v in params.items()
                                    if v not in (None, "")})
    url = base.rstrip("/") + path if path else base
    if query:
        url += ("&" if "?" in url else "?") + query
    req = urllib.request.Request(url, method=method,
                                 data=b"" if method == "POST" else None)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.read()
    except urllib.error.HTTPError as e:
        body = e.read()
        try:
            reason = json.loads(body).get("error") or ""
        except (ValueError, AttributeError):
            reason = ""
        if e.code == 404 and not_found is not None:
            raise Failure(EXIT_NOT_FOUND, reason or not_found)
        if e.code in (400, 409):
            raise Failure(EXIT_USAGE, "%s: %s"
                          % (refused, reason or "bad request"))
        if e.code == 403:
            raise Failure(EXIT_UNAVAILABLE, "the gateway does not allow "
                          "this host to use %s%s" % (base, allow_hint))
        raise Failure(EXIT_UNAVAILABLE, "the gateway answered HTTP %d%s"
                      % (e.code, ": " + reason if reason else ""))
    except urllib.error.URLError as e:
        raise Failure(EXIT_UNAVAILABLE, "cannot reach the gateway at %s: %s"
                      % (base, e.reason))
    except OSError as e:
        raise Failure(EXIT_UNAVAILABLE, "no answer from %s: %s" % (base, e))


def call(base, path="", method="GET", **kw):
    """The decoded JSON answer of fetch(), or Failure."""
    body = fetch(base, path, method, **kw)
    try:
        return json.loads(body)
    except ValueError as e:
        raise Failure(EXIT_UNAVAILABLE, "no answer from %s: %s" % (base, e))


def print_json(doc, out):
    print(json.dumps(doc, ensure_ascii=False, indent=1), file=out)


def table(rows, columns, out):
    """rows of dicts as aligned columns: (name, key or function)."""
    cells = [[str(f(r) if callable(f) else (r.get(f) if r.get(f)
                                             is not None else ""))
              for _, f in columns] for r in rows]
    widths = [max([len(c[i]) for c in cells] + [len(columns[i][0])])
              for i in range(len(columns))]
    print("  ".join(n.ljust(w) for (n, _), w in zip(columns, widths))
          .rstrip(), file=out)
    for c in cells:
        print("  ".join(v.ljust(w) for v, w in zip(c, widths)).rstrip(),
              file=out)
