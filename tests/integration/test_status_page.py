"""The status page for insurance IT: served by the gateway,
self-contained, and rendered with data by a real browser, Debian's
headless Chromium (tools/deps.sh installs it; nothing is installed
here).  The screenshot is kept as build/status-page.png."""

import html
import json
import os
import re
import struct
import subprocess
import time
import zlib

import pytest

import harness
from harness import sim_post

import test_status as ts

ROOT = harness.ROOT
CHROMIUM = "/usr/bin/chromium"
SCREENSHOT = os.path.join(ROOT, "build", "status-page.png")

# the page's colors for ok and for an upstream failure (status_page.html)
GREEN = (0x2e, 0x7d, 0x32)
RED = (0xc6, 0x28, 0x28)

needs_chromium = pytest.mark.skipif(
    not os.access(CHROMIUM, os.X_OK),
    reason="chromium is not installed: run make deps")


def chromium(tmp_path, url, *args):
    """Headless Chromium on url; returns its stdout."""
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
           "--disable-quic", "--no-first-run",
           "--disable-background-networking",
           "--disable-component-update", "--disable-sync",
           "--user-data-dir=%s" % (tmp_path / "chromium-profile"),
           "--virtual-time-budget=5000", "--window-size=1280,900"]
    p = subprocess.run(cmd + list(args) + [url], capture_output=True,
                       text=True, timeout=180, stdin=subprocess.DEVNULL)
    assert p.returncode == 0, p.stderr[-3000:]
    return p.stdout


def png_pixels(path):
    """(width, height, set of (r, g, b)) of an 8-bit RGB or RGBA PNG,
    decoded with zlib alone."""
    with open(path, "rb") as f:
        data = f.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, ihdr = 8, [], None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"IDAT":
            idat.append(chunk)
        elif kind == b"IEND":
            break
    w, h, depth, color, _, _, interlace = ihdr
    assert depth == 8 and color in (2, 6) and interlace == 0, ihdr
    bpp = 3 if color == 2 else 4
    raw = zlib.decompress(b"".join(idat))
    stride = w * bpp
    prev = bytearray(stride)
    colors = set()
    i = 0
    for _ in range(h):
        ftype, line = raw[i], bytearray(raw[i + 1:i + 1 + stride])
        i += 1 + stride
        if ftype == 1:
            for x in range(bpp, stride):
                line[x] = (line[x] + line[x - bpp]) & 0xff
        elif ftype == 2:
            line = bytearray((a + b) & 0xff for a, b in zip(line, prev))
        elif ftype == 3:
            for x in range(stride):
                left = line[x - bpp] if x >= bpp else 0
                line[x] = (line[x] + ((left + prev[x]) >> 1)) & 0xff
        elif ftype == 4:
            for x in range(stride):
                a = line[x - bpp] if x >= bpp else 0
                b = prev[x]
                c = prev[x - bpp] if x >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc
                                      else b if pb <= pc else c)) & 0xff
        else:
            assert ftype == 0, "bad filter %d" % ftype
        for x in range(0, stride, bpp):
            colors.add((line[x], line[x + 1], line[x + 2]))
        prev = line
    return w, h, colors


def cells(dom, attr, value):
    """{class: text} of the cells of the table row with attr=value."""
    m = re.search(r'<tr %s="%s">(.*?)</tr>' % (attr, re.escape(value)),
                  dom, re.S)
    assert m, "no row %s=%s in the page" % (attr, value)
    out = {}
    for cls, text in re.findall(r'<td class="([^"]*)">([^<]*)</td>',
                                m.group(1)):
        out[cls.split()[0]] = html.unescape(text)
    return out


def test_generated_page_is_current():
    p = subprocess.run(["/usr/bin/python3",
                        os.path.join(ROOT, "tools", "gen-status-page.py"),
                        "--check"], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr


def test_page_is_self_contained(make_stack):
    stack = make_stack(scheme="none")
    code, headers, body = ts.get(stack, ts.PAGE)
    assert code == 200
    assert headers["content-type"] == "text/html; charset=utf-8"
    csp = headers["content-security-policy"]
    assert "default-src 'none'" in csp and "connect-src 'self'" in csp
    assert headers["referrer-policy"] == "no-referrer"

    with open(os.path.join(ROOT, "module", "status_page.html"), "rb") as f:
        assert body == f.read()

    page = body.decode("utf-8")
    # nothing loaded from elsewhere: no URL but the SVG namespace
    urls = set(re.findall(r"(?:https?:)?//[A-Za-z0-9.-]+\.[a-z]+", page))
    assert urls == {"http://www.w3.org"}, urls
    assert not re.search(r"<(script|link|img|iframe)[^>]+(src|href)=",
                         page, re.I)
    assert "@import" not in page and "url(" not in page
    assert "innerHTML" not in page and "eval(" not in page


@needs_chromium
def test_page_shows_the_status_in_chromium(make_stack, tmp_path):
    stack = make_stack(scheme="none", read_timeout="1s")
    clinic = ts.township_clinic(stack)
    ready = ts.signed_in(stack, clinic)

    for _ in range(6):
        assert ts.send(stack, ts.envelope(ready)).status == 200
    for _ in range(2):
        r = ts.send(stack, ts.envelope(ready, infno="5203",
                                       inp={"data": {}}))
        assert r.status == 200
    assert ts.send(stack, ts.envelope(dict(clinic, sign_no=""))) \
        .body["infcode"] == -1
    assert ts.send(stack, ts.envelope(ready),
                   secret="wrong-secret-wrong-secret").status == 401
    sim_post(stack, "fault", {"infno": "1101", "mode": "http_500",
                              "count": 1})
    assert ts.send(stack, ts.envelope(ready)).status == 502

    doc = ts.wait_status(stack, lambda d: d["totals"]["requests"] == 12)
    url = stack.status_url + ts.PAGE

    dom = chromium(tmp_path, url, "--dump-dom")

    assert re.search(r'<span id="state" class="live">live</span>', dom), \
        dom[:3000]
    assert 'id="banner" style="display: none;"' in dom

    # every transaction of the document is a row with its numbers
    for row in doc["infnos"]:
        c = cells(dom, "data-infno", row["infno"])
        assert int(c["c-requests"]) == row["requests"], row["infno"]
        for cls in ts.CLASSES:
            assert int(c["c-" + cls]) == row[cls], (row["infno"], cls)
        assert c["c-p95"] == "%d ms" % row["latency_ms"]["p95"]
    assert [x for x in re.findall(r'data-infno="([^"]+)"', dom)] == \
        [x["infno"] for x in doc["infnos"]] == ["9001", "1101", "5203",
                                                "other"]
    assert cells(dom, "data-infno", "1101")["c-success"] == "75.0%"

    # the failing clinic and its errors
    m = re.search(r'<tr data-clinic="%s">(.*?)</tr>' % clinic["org"],
                  dom, re.S)
    assert m, "no failing clinic row"
    row = html.unescape(m.group(1))
    assert clinic["name"] in row and clinic["entity"] in row
    assert "YB6003 upstream_status" in row and "infcode -1" in row

    # the health cards
    assert re.search(r'id="success"[^>]*>%s</div>'
                     % re.escape("%.1f%%" % (doc["totals"]
                                             ["success_ratio"] * 100)),
                     dom)
    assert re.search(r'id="store"[^>]*>up</div>', dom)
    assert re.search(r'id="platform"[^>]*>failing</div>', dom) \
        or re.search(r'id="platform"[^>]*>answering</div>', dom)
    assert "auth_signature" in dom

    # the chart: one bar per class present in the last minutes
    chart = re.search(r'<div id="chart">(.*?)</div>', dom, re.S).group(1)
    assert chart.count("<rect") >= 4
    assert "<polyline" in chart

    # the screenshot: a real rendering, with the data's colors in it
    os.makedirs(os.path.dirname(SCREENSHOT), exist_ok=True)
    if os.path.exists(SCREENSHOT):
        os.unlink(SCREENSHOT)
    chromium(tmp_path, url, "--screenshot=%s" % SCREENSHOT)
    assert os.path.getsize(SCREENSHOT) > 30000
    w, h, colors = png_pixels(SCREENSHOT)
    assert (w, h) == (1280, 900)
    assert len(colors) > 200, len(colors)
    assert GREEN in colors and RED in colors


@needs_chromium
def test_page_reports_an_unreachable_status(make_stack, tmp_path):
    stack = make_stack(scheme="none")

    dom = chromium(tmp_path, stack.status_url + ts.PAGE
                   + "?src=/yibao/nothing-here&interval=1", "--dump-dom")
    assert '<span id="state" class="down">no data</span>' in dom
    assert re.search(r'id="banner"[^>]*>Status unavailable from '
                     r'/yibao/nothing-here: HTTP 404', dom)

    # another host is never asked: the page falls back to its own
    dom = chromium(tmp_path, stack.status_url + ts.PAGE
                   + "?src=//example.com/status", "--dump-dom")
    assert '<span id="state" class="live">live</span>' in dom
    assert "Refreshes every 5 s from status." in dom
