#!/usr/bin/python3
"""`make bench`: wrk against a private instance (PostgreSQL cluster, SMTP
stand-in, Apache with the module, all on loopback), printing requests per
second for each scenario and the ratios between them. Figures compare
scenarios measured in the same run, on the same machine."""

import re
import shutil
import json
import urllib.request
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from harness.httpd import Httpd, free_port   # noqa: E402
from harness.pg import PgCluster             # noqa: E402
from harness.smtp import SmtpStandin         # noqa: E402

DURATION = "10s"
THREADS, CONNECTIONS = "2", "32"
STAFF = ("bench", "bench-password")

ME_LUA = """\
wrk.headers["Authorization"] = "Bearer {token}"
"""

POST_LUA = """\
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Basic YmVuY2g6YmVuY2gtcGFzc3dvcmQ="
wrk.body = '{"to": "bench@jklg.test"}'
"""


def wrk(url, script=None):
    cmd = ["wrk", "-t", THREADS, "-c", CONNECTIONS, "-d", DURATION, "--latency"]
    if script:
        cmd += ["-s", str(script)]
    out = subprocess.run(cmd + [url], capture_output=True, text=True,
                         check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rps, p99, int(non2xx.group(1)) if non2xx else 0


def api(url, body):
    req = urllib.request.Request(url, data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req) as resp:
        return json.load(resp)


def customer_token(httpd, pg):
    """A verified customer's access token, for the authenticated path."""
    email, password = "bench@jklg.test", "Bench-mark-2027!"
    api(f"{httpd.url}/api/customers/register", {
        "email": email, "password": password, "first_name": "Bench",
        "last_name": "Mark"})
    pg.psql(f"UPDATE customers SET email_verified_at = now() "
            f"WHERE email = '{email}'")
    return api(f"{httpd.url}/api/customers/login",
               {"email": email, "password": password})["token"]


def main():
    work = Path(tempfile.mkdtemp(prefix="jklg-bench-"))
    work.chmod(0o755)
    pg = PgCluster(work / "pg")
    smtp = SmtpStandin(free_port())
    httpd = None
    try:
        pg.init()
        pg.start()
        pg.ensure_app_db()
        pg.migrate()
        smtp.start()
        httpd = Httpd(work / "httpd", pg.dbd_params(), staff=STAFF, jklg=(
            'JKLGPublicURL https://travel.test\n'
            'JKLGJWTKey bench-key-0123456789abcdef0123456789\n'
            'JKLGMailFrom "JKLG Travel <noreply@jklg.test>"\n'
            f'JKLGMailSMTP smtp://127.0.0.1:{smtp.port}\n'))
        (work / "httpd").mkdir()
        httpd.start()
        script = work / "post.lua"
        script.write_text(POST_LUA)
        me_script = work / "me.lua"
        me_script.write_text(ME_LUA.format(token=customer_token(httpd, pg)))
        health = f"{httpd.url}/api/health"
        queue = f"{httpd.url}/api/admin/email/test"
        me = f"{httpd.url}/api/customers/me"

        wrk(health)                         # warm up children and pools
        results = {}
        results["health"] = wrk(health)
        results["customers/me (JWT)"] = wrk(me, me_script)
        results["email/test, SMTP up"] = wrk(queue, script)
        smtp.stop()
        results["email/test, SMTP down"] = wrk(queue, script)
        results["health, SMTP down"] = wrk(health)

        print(f"\nwrk -t{THREADS} -c{CONNECTIONS} -d{DURATION}, loopback, "
              "one run:")
        for name, (rps, p99, bad) in results.items():
            print(f"  {name:24s} {rps:9.0f} req/s   p99 {p99:>8s}   "
                  f"non-2xx {bad}")
        up = results["email/test, SMTP up"][0]
        down = results["email/test, SMTP down"][0]
        print(f"\n  customers/me / health:          "
              f"{results['customers/me (JWT)'][0] / results['health'][0]:.2f}")
        print(f"  email/test with SMTP down / up: {down / up:.2f}")
        print(f"  health with SMTP down / up:     "
              f"{results['health, SMTP down'][0] / results['health'][0]:.2f}")
    finally:
        if httpd:
            httpd.stop()
        smtp.stop()
        pg.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
