"""The package as a user installs it: a wheel built from this checkout by pip, installed in a fresh
virtualenv outside the checkout, run from another directory so that nothing is imported from the
source tree. From that install alone: every module imports, a demo home, the verifier's page with
its script and stylesheet over HTTP, a published JSON Schema and an error as problem details, and a
printed permit (HTML, and PDF by Chromium). Slow (pip
builds the wheel and installs every dependency into the new virtualenv): one test.

And what the code imports, the package declares: nothing arrives only as another's dependency."""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request
from importlib.metadata import packages_distributions
from pathlib import Path

from verifier.web.local import bundle
from verifier.web.schemas import published

ROOT = Path(__file__).parent.parent
# What a clone holds and nothing a developer's tree adds: the copy is built as a user would build it.
NOT_SOURCE = shutil.ignore_patterns(".git", ".venv", "__pycache__", "*.egg-info", "build", "dist", ".pytest_cache",
                                    ".mypy_cache", ".ruff_cache", "demo-home", "artifacts")
IMPORT_EVERY_MODULE = """
import importlib, json, pkgutil
names = ["cli"] + [m.name for p in ("keys", "permits", "verifier") for m in pkgutil.walk_packages(importlib.import_module(p).__path__, p + ".")]
print(json.dumps({name: importlib.import_module(name).__file__ for name in ["keys", "permits", "verifier", *names]}))
"""
STATIC = {"verify.js": "text/javascript; charset=utf-8", "page.css": "text/css; charset=utf-8"}


def run(*command: str | Path, cwd: Path, env: dict[str, str], timeout: float = 600) -> str:
    done = subprocess.run([str(part) for part in command], cwd=cwd, env=env, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=timeout)
    assert done.returncode == 0, (command, done.stdout[-2000:], done.stderr[-2000:])
    return done.stdout


def get(url: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.headers["Content-Type"], error.read()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_the_wheel_installed_elsewhere_serves_the_page_and_prints_a_permit(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    # Nothing of this test's own environment may lead back to the checkout.
    env = {name: value for name, value in os.environ.items()
           if not name.startswith("PERMIT_") and name not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}

    source = tmp_path / "source"
    shutil.copytree(ROOT, source, ignore=NOT_SOURCE)
    run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", tmp_path / "dist", source, cwd=elsewhere, env=env)
    (wheel,) = (tmp_path / "dist").glob("hcm_permits-*.whl")

    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv, cwd=elsewhere, env=env)
    bin_dir = venv / "bin"
    run(bin_dir / "python", "-m", "pip", "install", "--quiet", wheel, cwd=elsewhere, env=env)
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"

    # Every module imports with the runtime dependencies alone, and each comes from the install.
    where = json.loads(run(bin_dir / "python", "-c", IMPORT_EVERY_MODULE, cwd=elsewhere, env=env))
    assert len(where) > 40 and {"cli", "permits", "verifier.web.serve"} <= set(where), where
    site = Path(run(bin_dir / "python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=elsewhere, env=env).strip())
    assert site.is_relative_to(venv)
    assert all(Path(file).is_relative_to(site) for file in where.values()), where
    packaged = site / "verifier" / "web"

    home = elsewhere / "home"
    run(bin_dir / "permit", "demo", "--dir", home, cwd=elsewhere, env=env)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with (tmp_path / "serve.err").open("w") as errors:
        server = subprocess.Popen([bin_dir / "permit", "--home", home, "serve", "--bind", f"127.0.0.1:{port}", "--base-url", url,
                                   "--access-log", tmp_path / "access.log"], cwd=elsewhere, env=env, stdin=subprocess.DEVNULL,
                                  stdout=subprocess.DEVNULL, stderr=errors, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if json.loads(get(f"{url}/api/v1/healthz")[2])["status"] == "ok":
                    break
            except OSError:
                pass
            assert server.poll() is None and time.monotonic() < deadline, (tmp_path / "serve.err").read_text()
            time.sleep(0.3)

        status, content_type, page = get(f"{url}/v")
        assert (status, content_type) == (200, "text/html; charset=utf-8")
        script = re.search(rb'<script defer src="([^"]+)"', page)
        stylesheet = re.search(rb'<link rel="stylesheet" href="([^"]+)"', page)
        assert script and stylesheet, page[:2000]
        for path in (script.group(1).decode(), stylesheet.group(1).decode()):
            name = path.rsplit("/", 1)[-1]
            status, content_type, body = get(f"{url}{path}")
            assert (status, content_type) == (200, STATIC[name])
            assert body == (packaged / "static" / name).read_bytes() == (ROOT / "verifier" / "web" / "static" / name).read_bytes()
        # The page's check, joined from the installed modules: the script the source tree makes.
        status, content_type, body = get(f"{url}/local.js")
        assert (status, content_type, body.decode()) == (200, "text/javascript; charset=utf-8", bundle())
        # Every file the page may load (the in-browser verifier's modules, the scanner's decoder) is installed.
        static = ROOT / "verifier" / "web" / "static"
        for source in (path for path in static.rglob("*") if path.is_file()):
            assert (packaged / "static" / source.relative_to(static)).read_bytes() == source.read_bytes(), source
        # The published schemas, and errors as problem details, from the install alone.
        status, content_type, body = get(f"{url}/api/v1/schemas/verdict.json")
        assert (status, content_type) == (200, "application/schema+json")
        assert json.loads(body) == json.loads(json.dumps(published("verdict.json", url)))
        status, content_type, body = get(f"{url}/api/v1/schemas/none.json")
        assert (status, content_type, json.loads(body)["type"]) == (404, "application/problem+json", f"{url}/api/v1/problems/not_found")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)

    permits = json.loads(run(bin_dir / "permit", "--home", home, "list", "--json", cwd=elsewhere, env=env))["permits"]
    active = next(p for p in permits if p["state"] == "active")
    for suffix in ("html", "pdf"):
        out = elsewhere / f"permit.{suffix}"
        printed = json.loads(run(bin_dir / "permit", "--home", home, "print", active["id"], "--out", out, "--json",
                                 cwd=elsewhere, env=env))
        assert (printed["id"], printed["file"]) == (active["id"], str(out))
    html = (elsewhere / "permit.html").read_text(encoding="utf-8")
    assert active["holder"]["name"] in html and active["number"] in html and "<svg" in html
    assert (elsewhere / "permit.pdf").read_bytes().startswith(b"%PDF-")
    text = subprocess.run(["pdftotext", elsewhere / "permit.pdf", "-"], capture_output=True, text=True, check=True).stdout
    assert active["number"] in text


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_every_package_imported_at_run_time_is_declared() -> None:
    shipped = [ROOT / "cli.py", *(path for package in ("keys", "permits", "verifier") for path in (ROOT / package).rglob("*.py"))]
    imported: dict[str, set[str]] = {}
    for path in shipped:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module else []
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top not in ("cli", "keys", "permits", "verifier"):
                    imported.setdefault(top, set()).add(path.relative_to(ROOT).as_posix())
    distributions = packages_distributions()
    declared = {_normal(re.match(r"[A-Za-z0-9._-]+", requirement).group())  # type: ignore[union-attr]
                for requirement in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]}
    undeclared = {module: sorted(where) for module, where in imported.items()
                  if not {_normal(d) for d in distributions.get(module, [module])} & declared}
    assert undeclared == {}
    assert {"click", "flask", "gunicorn", "werkzeug", "markupsafe"} <= imported.keys()
