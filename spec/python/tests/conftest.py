"""Fixtures of the Python package's tests: the installed package (never the source folder), a real
nginx serving a temporary folder with the bytes it sends counted from its access log, and a report
of measured numbers printed after the run.

Run (from the repository root): ``npm run test:python``, i.e.
``python3 -m pytest spec/python/tests -p no:cacheprovider --import-mode=importlib``."""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

import ndpack

# The tests' shared helpers (expectations.py): pytest's importlib mode puts no test folder on the path.
sys.path.insert(0, str(Path(__file__).resolve().parent))

SOURCE = Path(__file__).resolve().parent.parent / "ndpack"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
REPORTS: list[str] = []


def pytest_configure(config):
    """Refuse to test the source folder, or an installed copy older than it."""
    import ndpack

    installed = Path(ndpack.__file__).resolve().parent
    if installed == SOURCE:
        raise pytest.UsageError(f"ndpack is imported from the source folder {SOURCE}: the tests "
                                "run on the installed package (--import-mode=importlib, and not "
                                "from spec/python)")
    stale = [p.name for p in SOURCE.glob("*.py")
             if not (installed / p.name).is_file()
             or hashlib.sha256((installed / p.name).read_bytes()).digest()
             != hashlib.sha256(p.read_bytes()).digest()]
    if stale:
        raise pytest.UsageError(f"the installed ndpack ({installed}) differs from {SOURCE} in "
                                f"{', '.join(stale)}: run python3 -m pip install ./spec/python")


def pytest_terminal_summary(terminalreporter):
    if REPORTS:
        terminalreporter.section("ndpack measurements")
        for line in REPORTS:
            terminalreporter.write_line(line)


@pytest.fixture
def report():
    """Record a measured number for the summary at the end of the run."""
    return REPORTS.append


class Nginx:
    """nginx serving ``root`` on 127.0.0.1:``port``; ``transferred()`` counts response body bytes."""

    def __init__(self, root: Path, work: Path):
        self.root, self.work = root, work
        self.log = work / "access.log"
        self.process = None
        #: nginx listens on [::1] too, at the same port, where the machine has an IPv6 loopback.
        self.ipv6 = _ipv6_loopback()
        for _ in range(5):  # a port found free can be taken before nginx binds it: try another
            self.port = _free_port()
            listen6 = f"listen [::1]:{self.port};" if self.ipv6 else ""
            (work / "nginx.conf").write_text(_CONFIG.format(work=work, root=root, port=self.port,
                                                            listen6=listen6))
            self.process = subprocess.Popen([NGINX, "-p", str(work), "-c", str(work / "nginx.conf"),
                                             "-e", str(work / "error.log")],
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if self._wait_ready():
                return
        raise RuntimeError(f"nginx did not start: {(work / 'error.log').read_text()}")

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return True
            except OSError:
                time.sleep(0.05)
        self.stop()
        return False

    def url(self, name: str, host: str = "127.0.0.1") -> str:
        """The URL of ``name``; ``host="[::1]"`` reaches it over IPv6 (when ``ipv6``)."""
        return f"http://{host}:{self.port}/{name}"

    def lines(self) -> list[list[str]]:
        """The access log (method, path, status, body bytes, then the request's Range and If-Match
        headers, "-" when absent), complete up to now: a marker request
        is made and waited for, nginx logging each request once it has been sent."""
        marker = f"/__marker-{time.monotonic_ns()}"
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{self.port}{marker}")
        except urllib.error.HTTPError:
            pass
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            rows = [line.split() for line in self.log.read_text().splitlines()]
            for i, row in enumerate(rows):
                if row[1] == marker:
                    return [r for r in rows[:i] if not r[1].startswith("/__marker")]
            time.sleep(0.02)
        raise RuntimeError("nginx did not log the marker request")

    def transferred(self, path: str | None = None) -> int:
        """Body bytes sent (for ``path`` only, when given) since the log was last cleared."""
        return sum(int(r[3]) for r in self.lines() if path is None or r[1] == "/" + path)

    def clear(self) -> None:
        self.lines()  # everything before now is logged
        self.log.write_text("")  # nginx appends (O_APPEND): truncating restarts the count

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=20)


_CONFIG = """daemon off;
master_process off;
pid {work}/nginx.pid;
error_log {work}/error.log;
events {{ worker_connections 256; }}
http {{
  log_format bytes '$request_method $uri $status $body_bytes_sent $http_range $http_if_match';
  access_log {work}/access.log bytes;
  client_body_temp_path {work}/body;
  proxy_temp_path {work}/proxy;
  fastcgi_temp_path {work}/fastcgi;
  uwsgi_temp_path {work}/uwsgi;
  scgi_temp_path {work}/scgi;
  default_type application/octet-stream;
  server {{
    listen 127.0.0.1:{port};
    {listen6}
    root {root};
    location /norange/ {{ max_ranges 0; }}
    location /gzip/ {{ gzip on; gzip_min_length 1; gzip_types *; }}
    location /status/403/ {{ return 403; }}
    location /status/500/ {{ return 500; }}
    location /status/503/ {{ return 503; }}
  }}
}}
"""


def _ipv6_loopback() -> bool:
    """Whether this machine has an IPv6 loopback (::1) to listen on."""
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def replace_keeping_the_size():
    """Writes arrays over a path (atomically, as ``save`` does): a file of the same size whose
    modification time is 10 s later. nginx's ETag and Last-Modified are the time in seconds and the
    size, so a file replaced within the same second by one of the same size looks the same to any
    HTTP client."""
    def replace(path, arrays):
        before = path.stat()
        ndpack.save(path, arrays)
        assert path.stat().st_size == before.st_size
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns + 10**10))
    return replace


@pytest.fixture(scope="module")
def nginx(tmp_path_factory):
    """A real nginx (Debian's) serving a temporary folder: ``nginx.root`` is that folder."""
    if not os.path.exists(NGINX):
        raise RuntimeError("nginx is missing: apt-get install nginx (.ci/run installs it)")
    server = Nginx(tmp_path_factory.mktemp("www"), tmp_path_factory.mktemp("nginx"))
    yield server
    server.stop()
