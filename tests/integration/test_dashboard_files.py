"""GET /dashboard and /dashboard/<asset> (api_web.c): the page and its two
bundled assets from web_root with their content types, the strict
Content-Security-Policy, caching (no-cache for the page, max-age for the
assets), gzip and 304; anything else under /dashboard/ is 404, and a
web_root without the dashboard answers 404 naming it. The browser test
(tests/browser/dashboard.test.js) runs the real bundle."""
import gzip
import os

PAGE = "<!doctype html><title>d</title><script src=\"/dashboard/dashboard.js\" defer></script>\n"
SCRIPT = "/* dashboard */\n" + "console.log('livetally dashboard');\n" * 100
STYLE = ".uplot{display:block}\n" * 100


def web_root(lt, with_dashboard=True):
    web = os.path.join(str(lt.tmp), "web-dash" if with_dashboard else "web-none")
    os.makedirs(os.path.join(web, "dashboard"), exist_ok=True)
    with open(os.path.join(web, "widget.js"), "w") as f:
        f.write("/* widget */\n")
    if with_dashboard:
        for name, text in (("index.html", PAGE), ("dashboard.js", SCRIPT),
                           ("dashboard.css", STYLE)):
            with open(os.path.join(web, "dashboard", name), "w") as f:
                f.write(text)
    return web


def check_csp(r):
    csp = r.header("Content-Security-Policy")
    assert csp, r
    assert "script-src 'self'" in csp and "default-src 'none'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "unsafe" not in csp
    assert r.header("X-Content-Type-Options") == "nosniff"
    assert r.header("X-Frame-Options") == "DENY"


def test_page_and_assets(lt):
    srv = lt({"web_root": web_root(lt)})
    r = srv.get("/dashboard")
    assert r.status == 200, r
    assert r.header("Content-Type") == "text/html; charset=utf-8"
    assert r.body.decode() == PAGE
    assert r.header("Cache-Control") == "no-cache"
    check_csp(r)
    etag = r.header("ETag")
    assert etag and etag.startswith('"')
    r = srv.get("/dashboard", headers=[("If-None-Match", etag)])
    assert r.status == 304, r

    for name, ctype, text in (("dashboard.js", "application/javascript; charset=utf-8", SCRIPT),
                              ("dashboard.css", "text/css; charset=utf-8", STYLE)):
        r = srv.get("/dashboard/" + name, headers=[("Accept-Encoding", "gzip")])
        assert r.status == 200, r
        assert r.header("Content-Type") == ctype
        assert r.header("Cache-Control") == "public, max-age=300"
        assert r.header("Content-Encoding") == "gzip"
        assert gzip.decompress(r.body).decode() == text
        check_csp(r)
        r2 = srv.get("/dashboard/" + name, headers=[("Accept-Encoding", "gzip"),
                                                    ("If-None-Match", r.header("ETag"))])
        assert r2.status == 304, r2
        r3 = srv.get("/dashboard/" + name)
        assert r3.status == 200 and r3.body.decode() == text and not r3.header("Content-Encoding")

    r = srv.request("HEAD", "/dashboard")
    assert r.status == 200 and r.body == b""


def test_other_paths(lt):
    srv = lt({"web_root": web_root(lt)})
    for path in ("/dashboard/index.html", "/dashboard/widget.js", "/dashboard/nope.js",
                 "/dashboard/dashboard.js/x"):
        r = srv.get(path)
        assert r.status == 404, (path, r)
        assert r.json()["error"] == "not_found"
    r = srv.request("POST", "/dashboard", body="{}", headers=[("Content-Type", "application/json")])
    assert r.status == 405, r
    assert "GET" in r.header("Allow")


def test_without_the_dashboard(lt):
    srv = lt({"web_root": web_root(lt, with_dashboard=False)})
    r = srv.get("/dashboard")
    assert r.status == 404, r
    assert r.json()["error"] == "not_found"
    assert "dashboard/index.html" in r.json()["message"]
    assert srv.get("/widget.js").status == 200
