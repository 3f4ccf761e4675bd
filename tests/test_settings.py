"""The verifier's settings: flag > environment > configuration file > default, and CORS."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from conftest import NOW, City, Clock, free_port, start_server, verifier_home
from flask.testing import FlaskClient

from keys.errors import InputError
from verifier import settings
from verifier.web.app import create_app
from verifier.web.serve import gunicorn_setting_names

PERMIT = Path(sys.executable).parent / "permit"


def test_defaults_listen_on_the_loopback_address_and_pull_every_minute() -> None:
    resolved = settings.resolve({}, {}, None, "https://xacminh.example")
    assert resolved.gunicorn["bind"] == "127.0.0.1:8000"
    assert (resolved.app["REFRESH_INTERVAL"], resolved.app["BASE_URL"], resolved.app["REFUSE_WHEN_UNREADY"]) == (60, "https://xacminh.example", False)


def test_each_setting_comes_from_its_highest_source(tmp_path: Path) -> None:
    file = tmp_path / "gunicorn.conf.py"
    file.write_text("import os\nbind = '127.0.0.1:1'\nworkers = 3\ntimeout = 45\nrefresh_interval = 30\ngrace = 10\n"
                    "max_batch = 7\ncors_origins = ['https://portal.example']\nhelper = os.sep\n")
    config = settings.read_config_file(file, gunicorn_setting_names())
    resolved = settings.resolve({"GRACE": 20, "BIND": None}, {"PERMIT_REFRESH_INTERVAL": "15", "PERMIT_GRACE": "99", "PERMIT_BIND": "127.0.0.1:2"},
                                config, "https://home.example")
    assert resolved.app["GRACE"] == 20  # flag over environment and file
    assert resolved.app["REFRESH_INTERVAL"] == 15  # environment over file
    assert resolved.gunicorn["bind"] == "127.0.0.1:2"  # environment over file, for gunicorn's settings too
    assert (resolved.app["MAX_BATCH"], resolved.gunicorn["workers"], resolved.gunicorn["timeout"]) == (7, 3, 45)  # file over default
    assert resolved.app["CORS_ORIGINS"] == ("https://portal.example",)
    assert resolved.app["POLL_INTERVAL"] == 2  # default
    assert "helper" not in resolved.gunicorn and "HELPER" not in resolved.app


@pytest.mark.parametrize(("environ", "message"), [
    ({"PERMIT_WORKERS": "many"}, "PERMIT_WORKERS='many'"),
    ({"PERMIT_REFRESH_INTERVAL": "0"}, "expected a number above 0"),
    ({"PERMIT_STATUS_PULL": "perhaps"}, "expected true or false"),
    ({"PERMIT_CORS_ORIGINS": "https://portal.example/path"}, "is not an origin"),
    ({"PERMIT_LOG_FORMAT": "xml"}, "expected one of text, json"),
])
def test_a_bad_value_is_refused_by_name(environ: dict[str, str], message: str) -> None:
    with pytest.raises(InputError) as caught:
        settings.resolve({}, environ, None, "https://home.example")
    assert caught.value.reason == "bad_config" and message in caught.value.message


def _openapi_server(url: str) -> str:
    with urllib.request.urlopen(f"{url}/api/v1/openapi.json", timeout=5) as response:
        return str(json.loads(response.read())["servers"][0]["url"])


def test_permit_serve_listens_where_the_highest_source_says(city: City, tmp_path: Path) -> None:
    """A real `permit serve`: the file's bind and base URL, then the environment's over them,
    then the flag's over both (start_server passes --bind and --base-url as flags)."""
    city.publish_all()
    home = verifier_home(city.home.path, tmp_path / "verifier")
    file_port, env_port = free_port(), free_port()
    file = tmp_path / "gunicorn.conf.py"
    file.write_text(f"bind = '127.0.0.1:{file_port}'\nbase_url = 'https://file.example'\nworkers = 1\n")
    env = {"PERMIT_HOME": str(home), "PERMIT_CONFIG": str(file)}
    for layer_env, port, base in ((env, file_port, "https://file.example"),
                                  ({**env, "PERMIT_BIND": f"127.0.0.1:{env_port}", "PERMIT_BASE_URL": "https://env.example"},
                                   env_port, "https://env.example")):
        process = subprocess.Popen([str(PERMIT), "serve"], env={**layer_env, "PATH": str(PERMIT.parent)},
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            url = f"http://127.0.0.1:{port}"
            assert _wait_for_openapi(url, process) == f"{base}/api/v1"
        finally:
            process.terminate()
            process.wait(timeout=15)
    url, process = start_server(home, tmp_path / "access.log", env={"PERMIT_CONFIG": str(file), "PERMIT_BASE_URL": "https://env.example"})
    try:
        assert _openapi_server(url) == f"{url}/api/v1"  # start_server's --bind and --base-url flags win
    finally:
        process.terminate()
        process.wait(timeout=15)


def _wait_for_openapi(url: str, process: subprocess.Popen[bytes]) -> str:
    import time

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, "permit serve exited"
        try:
            return _openapi_server(url)
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"nothing answered on {url}")


def test_permit_serve_refuses_a_bad_setting_in_one_line(city: City, tmp_path: Path) -> None:
    file = tmp_path / "broken.conf.py"
    file.write_text("workers = \n")
    for extra, env in ((["--config", str(file)], {}), ([], {"PERMIT_WORKERS": "many"})):
        done = subprocess.run([str(PERMIT), "serve", *extra], env={"PERMIT_HOME": str(city.home.path), **env, "PATH": str(PERMIT.parent)},
                              capture_output=True, text=True, timeout=30)
        assert done.returncode == 2
        assert done.stderr.startswith("Error: [bad_config] ") and done.stderr.count("\n") == 1, done.stderr


# --- CORS -------------------------------------------------------------------------------------


@pytest.fixture
def portal_client(city: City, clock: Clock) -> FlaskClient:
    city.publish_all()
    app = create_app({"HOME": str(city.home.path), "BACKGROUND_REFRESH": False, "CLOCK": clock, "TESTING": True,
                      "CORS_ORIGINS": ("https://portal.example",)})
    return app.test_client()


def test_a_configured_origin_may_call_the_api_from_its_pages(portal_client: FlaskClient, city: City) -> None:
    preflight = portal_client.options("/api/v1/verify", headers={
        "Origin": "https://portal.example", "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"})
    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://portal.example"
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    assert "PUT" not in preflight.headers["Access-Control-Allow-Methods"]
    assert preflight.headers["Access-Control-Allow-Headers"].lower() == "content-type"
    answer = portal_client.post("/api/v1/verify", json={"token": city.issue().token}, headers={"Origin": "https://portal.example"})
    assert (answer.status_code, answer.headers["Access-Control-Allow-Origin"]) == (200, "https://portal.example")


def test_another_origin_gets_no_cors_headers(portal_client: FlaskClient, client: FlaskClient, city: City) -> None:
    token = city.issue().token
    for each in (portal_client, client):
        answer = each.post("/api/v1/verify", json={"token": token}, headers={"Origin": "https://evil.example"})
        assert answer.status_code == 200 and "Access-Control-Allow-Origin" not in answer.headers
    assert "Access-Control-Allow-Origin" not in client.post("/api/v1/verify", json={"token": token},
                                                            headers={"Origin": "https://portal.example"}).headers
    assert NOW  # the clock the in-process apps run on
