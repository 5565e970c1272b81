"""Shared fixtures: databases (SQLite in memory, a real PostgreSQL), moto's S3 server, the app under
`streamlit run`, and Playwright driving Debian's chromium.

Without chromium, PostgreSQL or ../shared/datasets a test skips with its reason on a laptop; with CI=true
it fails instead, so nothing hides.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session, SQLModel

import store.models  # noqa: F401  (registers the tables)
from store.db import make_engine, upgrade
from store.sessions import COOKIE as SESSION_COOKIE
from tests.utils import ROOT, store_cli

SHARED = ROOT.parent / "shared"
DATASETS = SHARED / "datasets"
ARTIFACTS = ROOT / "tests" / "browser" / "artifacts"
CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
CHROMIUM = os.environ.get("PARLEY_CHROMIUM", "/usr/bin/chromium")


def missing(reason: str) -> None:
    """Skip on a developer's machine; fail under CI=true, where everything must be present."""
    if CI:
        pytest.fail(f"required in CI: {reason}", pytrace=False)
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 30.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status < 500:
                    return
        except Exception:
            time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer in {timeout} s")


def eventually(predicate, timeout: float = 20.0, what: str = "condition") -> None:  # type: ignore[no-untyped-def]
    """Wait for `predicate()` to hold (what the server writes lands a moment after the page shows it)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not met in {timeout:g} s")
        time.sleep(0.1)


@pytest.fixture
def datasets_dir() -> Path:
    """../shared/datasets, the real public samples."""
    if not (DATASETS / "README.md").exists():
        missing(f"the shared datasets are not at {DATASETS}")
    return DATASETS


# ---------------------------------------------------------------- passwords


@pytest.fixture(autouse=True, scope="session")
def production_hasher() -> Iterator[object]:
    """Passwords made in a test process hashed with argon2id at its cheapest cost (8 KiB, one pass): the
    production cost (64 MiB, three passes) takes ~130 ms a hash, and the tests hash over a thousand (every
    make_user and add_user). The algorithm and the code around it are the production ones; a hash carries its
    own cost, so the app verifies these as it verifies any. Yields the production hasher, which
    tests/store/test_users.py checks."""
    from argon2 import PasswordHasher, profiles

    from store import users

    production = users._hasher
    users._hasher = PasswordHasher.from_parameters(profiles.CHEAPEST)
    yield production
    users._hasher = production


# ---------------------------------------------------------------- databases


@pytest.fixture
def sqlite_engine() -> Iterator[Engine]:
    """A fresh in-memory SQLite engine with every table."""
    engine = make_engine("sqlite://")
    SQLModel.metadata.create_all(engine)
    yield engine
    engine.dispose()


@dataclass
class PostgresServer:
    url: str  # to the maintenance database "postgres"
    template: str = "parley_template"
    _n: itertools.count = field(default_factory=lambda: itertools.count(1))

    def database_url(self, name: str) -> str:
        return self.url.rsplit("/", 1)[0] + f"/{name}"

    def new_database(self) -> str:
        """A fresh migrated database (copied from a template migrated once)."""
        name = f"t{os.getpid()}_{next(self._n)}"
        admin = make_engine(self.url).execution_options(isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"'))
        admin.dispose()
        return self.database_url(name)


def _pg_bin() -> Path | None:
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (candidate / "initdb").exists():
            return candidate
    return None


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    """A real PostgreSQL server on a free loopback port, in a temp dir, for this test session."""
    bindir = _pg_bin()
    if bindir is None:
        missing("PostgreSQL server binaries not found under /usr/lib/postgresql (apt-get install postgresql)")
    tmp = Path(tempfile.mkdtemp(prefix="parley-pg-"))
    data = tmp / "data"
    run_as: list[str] = []
    if os.geteuid() == 0:  # initdb refuses root
        shutil.chown(tmp, "postgres", "postgres")
        run_as = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    subprocess.run(
        [*run_as, str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "--no-sync"],
        check=True,
        capture_output=True,
    )
    opts = f"-p {port} -k {tmp} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
    subprocess.run(
        [*run_as, str(bindir / "pg_ctl"), "-D", str(data), "-o", opts, "-l", str(tmp / "log"), "-w", "start"],
        check=True,
        capture_output=True,
    )
    server = PostgresServer(url=f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres")
    admin = make_engine(server.url).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{server.template}"'))
    admin.dispose()
    upgrade(server.database_url(server.template))
    from store.db import get_engine

    get_engine(server.database_url(server.template)).dispose()  # a template must have no connections
    try:
        yield server
    finally:
        subprocess.run(
            [*run_as, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], capture_output=True
        )
        # The hundreds of databases a worker made are ~100k files: removing them took 20-26 s at the end of
        # the run, so a process of its own removes them while pytest exits.
        subprocess.Popen(["rm", "-rf", str(tmp)], start_new_session=True)


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database URL for code that opens its own engines or processes: a migrated SQLite file (shared
    as the app's processes share it), or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.db'}"
        upgrade(url)
        return url
    server: PostgresServer = request.getfixturevalue("pg_server")
    return server.new_database()


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    """The store's engine, once on SQLite in memory and once on a real PostgreSQL database."""
    if request.param == "sqlite":
        yield request.getfixturevalue("sqlite_engine")
        return
    server: PostgresServer = request.getfixturevalue("pg_server")
    eng = make_engine(server.new_database())
    yield eng
    eng.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as s:
        yield s


# ---------------------------------------------------------------- S3


@dataclass
class S3Server:
    endpoint: str
    env: dict[str, str]

    def client(self):  # type: ignore[no-untyped-def]
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            region_name="us-east-1",
        )


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """moto's S3-compatible server on a free loopback port, reached through boto3 with endpoint_url."""
    exe = shutil.which("moto_server") or str(Path(sys.executable).parent / "moto_server")
    if not Path(exe).exists():
        missing("moto_server is not installed (pip install 'moto[server]')")
    port = free_port()
    proc = subprocess.Popen(
        [exe, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        wait_http(endpoint + "/moto-api/", proc=proc)
        env = {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
        yield S3Server(endpoint=endpoint, env=env)
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture
def s3(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> S3Server:
    """moto's S3 server with boto3's AWS_* variables pointing at it for this test."""
    for key, value in s3_server.env.items():
        monkeypatch.setenv(key, value)
    return s3_server


# ---------------------------------------------------------------- the app under `streamlit run`


@dataclass
class AppServer:
    """`streamlit run app.py` on a free port with its own database and blob folder."""

    url: str
    database_url: str
    blobs: str
    env: dict[str, str]
    proc: subprocess.Popen
    log: Path

    def engine(self) -> Engine:
        from store.db import get_engine

        return get_engine(self.database_url)

    def cli(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess:
        """`python -m store ARGS` against this server's database and blobs."""
        return store_cli(self.env, *args, input=input)

    def add_user(self, username: str, password: str, role: str = "annotator") -> None:
        done = self.cli("users", "add", username, "--role", role, "--password-stdin", input=password + "\n")
        assert done.returncode == 0, done.stderr

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def start_app(
    tmp: Path,
    *,
    extra_env: dict[str, str] | None = None,
    database_url: str | None = None,
    port: int | None = None,
) -> AppServer:
    """`streamlit run app.py` on `port` (default: a free one), ready once its health check answers."""
    port = port or free_port()
    database_url = database_url or f"sqlite:///{tmp}/parley.db"
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "PARLEY_BLOBS": str(tmp / "blobs"),
        "PARLEY_DATA": str(tmp),
        "PYTHONUNBUFFERED": "1",
        **(extra_env or {}),
    }
    log = tmp / f"streamlit-{port}.log"
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "streamlit", "run", "app.py",
            "--server.headless=true", "--server.address=127.0.0.1", f"--server.port={port}",
            "--server.fileWatcherType=none", "--browser.gatherUsageStats=false",
        ],
        cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    server = AppServer(
        url=f"http://127.0.0.1:{port}",
        database_url=database_url,
        blobs=str(tmp / "blobs"),
        env=env,
        proc=proc,
        log=log,
    )
    try:
        wait_http(server.url + "/_stcore/health", timeout=60, proc=proc)
    except Exception:
        server.stop()
        raise RuntimeError(f"streamlit did not start:\n{server.output()[-3000:]}") from None
    return server


@pytest.fixture
def app_server(tmp_path: Path) -> Iterator[AppServer]:
    """A fresh app with an empty database, for one test."""
    server = start_app(tmp_path)
    yield server
    server.stop()


@pytest.fixture
def replicas(tmp_path: Path, pg_server: PostgresServer) -> Iterator[tuple[AppServer, AppServer]]:
    """Two `streamlit run` replicas of the app, as behind a load balancer: one PostgreSQL database, one blob
    folder, nothing else shared (each has its own folder and log); started at the same time."""
    from concurrent.futures import ThreadPoolExecutor

    url = pg_server.new_database()
    blobs = tmp_path / "blobs"
    dirs = [tmp_path / "a", tmp_path / "b"]
    for d in dirs:
        d.mkdir()
    with ThreadPoolExecutor(2) as pool:
        futures = [
            pool.submit(start_app, d, database_url=url, extra_env={"PARLEY_BLOBS": str(blobs)}) for d in dirs
        ]
    servers = [f.result() for f in futures if f.exception() is None]
    try:
        for f in futures:
            f.result()  # re-raises a failed start (the started one is stopped below)
        for server in servers:
            server.blobs = str(blobs)
        yield servers[0], servers[1]
    finally:
        for server in servers:
            server.stop()


# ---------------------------------------------------------------- the browser


@pytest.fixture(scope="session")
def browser():  # type: ignore[no-untyped-def]
    if not Path(CHROMIUM).exists():
        missing(f"chromium not found at {CHROMIUM} (apt-get install chromium, or set PARLEY_CHROMIUM)")
    from playwright.sync_api import expect, sync_playwright

    # Assertions wait as long as actions do (15 s): on CI's 2 cores with two test workers a Streamlit
    # run can take a few seconds; what is asserted is unchanged.
    expect.set_options(timeout=15_000)
    with sync_playwright() as pw:
        b = pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run", "--disable-quic",
            ],
        )  # fmt: skip
        yield b
        b.close()


@pytest.fixture
def page(browser, request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    """A new browser context and page; a screenshot is kept in tests/browser/artifacts when the test fails."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    pg = context.new_page()
    pg.set_default_timeout(15_000)
    yield pg
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(Exception):
            pg.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    context.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):  # type: ignore[no-untyped-def]
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


def sign_in(page, server: AppServer, username: str, password: str, path: str = "/") -> None:  # type: ignore[no-untyped-def]
    """Open `path` and sign in through the sign-in form; returns once the page has reloaded signed in."""
    page.goto(server.url + path)
    page.get_by_role("textbox", name="Username").fill(username)
    page.get_by_role("textbox", name="Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    # Once the password is checked, the page swaps its ticket for the session cookie (/auth/session) and
    # then reloads itself (location.replace). A page.goto before that reload has begun is aborted by it
    # (net::ERR_ABORTED), so wait for what only the reloaded, signed-in page draws: the cookie and the
    # Sign out button.
    page.get_by_role("button", name="Sign out").wait_for(state="attached", timeout=30_000)
    assert any(c["name"] == SESSION_COOKIE for c in page.context.cookies()), (
        f"no session cookie for {username}"
    )
