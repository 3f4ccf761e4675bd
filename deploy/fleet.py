"""A verifier fleet on this machine, from the shipped files: a static origin and the public
server (nginx, deploy/nginx.conf.template) and three verifier nodes (`permit serve`, gunicorn).

    python deploy/fleet.py up [--dir DIR] [--nodes 3] [--interval SECONDS]
    python deploy/fleet.py status [--dir DIR]
    python deploy/fleet.py down [--dir DIR]
    python deploy/fleet.py render --set BASE_URL=https://… --set NAME=VALUE ... [--out FILE]

`up` builds a demo city whose agencies publish their status lists to the origin, fills the
origin from it, renders nginx.conf with free ports, starts nginx and the nodes, waits until every
node is ready and prints the public URL. Each node's home holds only anchor.json: the registry
and the status lists it pulls from the origin. `down` stops everything it started (from the pid
files in DIR/run) and waits until nothing of it runs. `render` writes the nginx configuration
for a real deployment.

The layout of DIR:

    city/          the demo city: the operator's and the agencies' home (keys, ledgers)
    origin/        what nginx serves as the origin: registry.json, status/AGENCY.jwt
    nodes/nodeN/   each node's home (anchor.json, then what it pulled)
    logs/          nginx-access.log, origin-access.log, nginx-error.log; nodeN.access.log (JSON
                   lines, with the request id nginx sets) and nodeN.log
    run/           nginx.conf, pid files, nginx's temporary files
    fleet.json     the ports and settings of this fleet
"""

from __future__ import annotations

import argparse
import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from keys.reasons import Reason
from permits.token import MAX_TOKEN_LENGTH
from verifier.web.errors import problem

DEPLOY = Path(__file__).resolve().parent
TEMPLATE = DEPLOY / "nginx.conf.template"
PERMIT = str(Path(sys.executable).parent / "permit")
# Passive health checks of each node (deploy/nginx.conf.template says why).
UPSTREAM_PARAMETERS = "max_fails=1 fail_timeout=5s"
DEFAULT_DIR = Path("fleet-home")
PLACEHOLDER = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")


class FleetError(Exception):
    """The fleet could not be started, stopped or found."""


def render(template: str, values: Mapping[str, str]) -> str:
    """The template with each ${NAME} replaced by its value; nginx's own $variables are left as
    they are. Raises FleetError naming a placeholder without a value, or a value no placeholder
    uses (a misspelt name)."""
    missing = sorted(set(PLACEHOLDER.findall(template)) - set(values))
    unused = sorted(set(values) - set(PLACEHOLDER.findall(template)))
    if missing or unused:
        raise FleetError(f"placeholders without a value: {missing}; values for no placeholder: {unused}")
    return PLACEHOLDER.sub(lambda m: values[m.group(1)], template)


# What nginx refuses itself (the template's PROBLEM_* placeholders): status, reason, message.
NGINX_REFUSALS: dict[str, tuple[int, Reason, str]] = {
    "BAD_REQUEST": (400, Reason.BAD_REQUEST, "the request could not be read"),
    "NOT_FOUND": (404, Reason.NOT_FOUND, "no such path on this server"),
    "METHOD_NOT_ALLOWED": (405, Reason.METHOD_NOT_ALLOWED, "documents are not pushed here: publish them to the origin"),
    "BODY_TOO_LARGE": (413, Reason.BODY_TOO_LARGE, "the body is larger than this endpoint accepts"),
    "URI_TOO_LONG": (414, Reason.BAD_REQUEST, "the request line is too long"),
    "RATE_LIMITED": (429, Reason.RATE_LIMITED, "too many requests or connections from this address; try again in a moment"),
    "UNSUPPORTED_TRANSFER_CODING": (400, Reason.UNSUPPORTED_TRANSFER_CODING, "send the body as it is, or chunked and nothing else"),
    "SERVICE_UNAVAILABLE": (503, Reason.SERVICE_UNAVAILABLE, "no verifier node could answer; try again in a moment"),
}


def problem_values(base_url: str) -> dict[str, str]:
    """The PROBLEM_* values: each refusal's body exactly as a node with this public address
    writes it (verifier/web/errors.py), without the final newline the template adds; a quoted
    string of nginx's configuration keeps every character of it."""
    values = {}
    for name, (status, reason, message) in NGINX_REFUSALS.items():
        # Byte for byte as the nodes write it (ASCII JSON). An apostrophe would end nginx's quoted
        # string, a $ start a variable, and nginx takes a backslash before a quote or a backslash.
        body = json.dumps(problem(base_url, status, reason, message), separators=(",", ":"))
        if "'" in body or "$" in body or '\\"' in body or "\\\\" in body:
            raise FleetError(f"the {name} problem cannot be written in nginx's configuration: {body}")
        values[f"PROBLEM_{name}"] = body
    return values


def batch_body_max(max_batch: int = 100) -> int:
    """The largest body POST /api/v1/verify/batch accepts (verifier/web/api.py computes it so)."""
    return max_batch * (2 * MAX_TOKEN_LENGTH + 8) + 64


def nginx_values(run_dir: Path, log_dir: Path, public_port: int, nodes: list[str], origin_port: int, origin_dir: Path,
                 origin_max_age: int) -> dict[str, str]:
    """The template's values for an nginx on 127.0.0.1 in front of `nodes` (HOST:PORT), whose
    public address (the nodes' base URL) is http://127.0.0.1:PUBLIC_PORT."""
    return {
        **problem_values(f"http://127.0.0.1:{public_port}"),
        "NGINX_USER": pwd.getpwuid(os.geteuid()).pw_name,
        "PID_FILE": str(run_dir / "nginx.pid"),
        "TEMP_DIR": str(run_dir),
        "LOG_DIR": str(log_dir),
        "PUBLIC_LISTEN": f"127.0.0.1:{public_port}",
        "SERVER_NAME": "127.0.0.1",
        "NODES": "\n        ".join(f"server {node} {UPSTREAM_PARAMETERS};" for node in nodes),
        "BATCH_BODY_MAX": str(batch_body_max()),
        "ORIGIN_LISTEN": f"127.0.0.1:{origin_port}",
        "ORIGIN_DIR": str(origin_dir),
        "ORIGIN_MAX_AGE": str(origin_max_age),
    }


def start_nginx(run_dir: Path, log_dir: Path, values: Mapping[str, str]) -> int:
    """Render the template into run_dir/nginx.conf and start nginx in the background, as the
    user running this; its master's pid (also in run_dir/nginx.pid). Raises FleetError when
    nginx refuses the configuration or does not start."""
    conf = run_dir / "nginx.conf"
    run_dir.mkdir(parents=True, exist_ok=True)
    log_dir.mkdir(parents=True, exist_ok=True)
    conf.write_text(render(TEMPLATE.read_text(), values))
    command = [nginx(), "-p", str(run_dir), "-c", str(conf), "-e", str(log_dir / "nginx-error.log")]
    checked = subprocess.run([*command, "-t", "-q"], capture_output=True, text=True)
    if checked.returncode != 0:
        raise FleetError(f"nginx refused its configuration: {checked.stderr.strip()}")
    # nginx forks into the background and writes its pid file.
    started = subprocess.run(command, capture_output=True, text=True)
    if started.returncode != 0:
        raise FleetError(f"nginx did not start: {started.stderr.strip()}")
    pid_file = run_dir / "nginx.pid"
    _wait(lambda: pid_file.exists() and pid_file.read_text().strip().isdigit(), 10, "nginx did not write its pid file")
    return int(pid_file.read_text())


def stop_nginx(pid: int) -> None:
    """Stop the nginx whose master is `pid` and wait until it has."""
    if running(pid):
        os.kill(pid, signal.SIGTERM)
        _wait(lambda: not running(pid), 15, "nginx did not stop")


def node_ready(url: str) -> bool:
    """Whether the node at `url` says it is ready (GET /api/v1/readyz answers 200)."""
    return http_status(f"{url}/api/v1/readyz") == 200


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def running(pid: int) -> bool:
    """Whether `pid` is a live process (a zombie, dead but not yet reaped, is not)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False


def _command_line(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def http_status(url: str, timeout: float = 2) -> int | None:
    """The HTTP status a GET of `url` answers, or None when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


@dataclass
class Fleet:
    """A fleet's directory and ports; its processes are found through the pid files in run/."""

    dir: Path
    public_port: int
    origin_port: int
    node_ports: list[int]
    interval: int  # each node's refresh (pull) interval, seconds

    # --- where things are ------------------------------------------------------------------------

    @property
    def city(self) -> Path:
        return self.dir / "city"

    @property
    def origin(self) -> Path:
        return self.dir / "origin"

    @property
    def logs(self) -> Path:
        return self.dir / "logs"

    @property
    def run_dir(self) -> Path:
        return self.dir / "run"

    @property
    def public_url(self) -> str:
        return f"http://127.0.0.1:{self.public_port}"

    @property
    def origin_url(self) -> str:
        return f"http://127.0.0.1:{self.origin_port}"

    def node_url(self, n: int) -> str:
        return f"http://127.0.0.1:{self.node_ports[n]}"

    def node_home(self, n: int) -> Path:
        return self.dir / "nodes" / f"node{n}"

    def node_access_log(self, n: int) -> Path:
        return self.logs / f"node{n}.access.log"

    def _pid_file(self, name: str) -> Path:
        return self.run_dir / f"{name}.pid"

    # --- its state on disk ---------------------------------------------------------------------------

    @classmethod
    def create(cls, directory: Path, nodes: int = 3, interval: int = 60) -> Fleet:
        """A new fleet in `directory` (which must not hold one already) with free ports."""
        directory = directory.resolve()
        if (directory / "fleet.json").exists():
            raise FleetError(f"{directory} already holds a fleet; stop it (down) or choose another --dir")
        directory.mkdir(parents=True, exist_ok=True)
        fleet = cls(directory, free_port(), free_port(), [free_port() for _ in range(nodes)], interval)
        fleet.save()
        return fleet

    @classmethod
    def load(cls, directory: Path) -> Fleet:
        try:
            data = json.loads((directory.resolve() / "fleet.json").read_text())
        except FileNotFoundError:
            raise FleetError(f"no fleet in {directory}: start one with `up`") from None
        return cls(Path(data["dir"]), data["public_port"], data["origin_port"], data["node_ports"], data["interval"])

    def save(self) -> None:
        (self.dir / "fleet.json").write_text(json.dumps({**asdict(self), "dir": str(self.dir)}, indent=2) + "\n")

    # --- the city and the origin -------------------------------------------------------------------

    def build_city(self) -> list[tuple[str, str]]:
        """The demo city, its agencies publishing to the origin; its samples (label, page URL)."""
        from permits.demo import build_demo

        _, samples = build_demo(self.city, lambda _: None, base_url=self.public_url, status_base=f"{self.origin_url}/status")
        (self.dir / "samples.json").write_text(json.dumps(samples, ensure_ascii=False, indent=1) + "\n")
        return samples

    def fill_origin(self) -> None:
        """Copy the city's registry and status lists to the origin, as a first deployment does."""
        synced = subprocess.run([PERMIT, "origin", "sync", str(self.origin)], env={**os.environ, "PERMIT_HOME": str(self.city)},
                                capture_output=True, text=True)
        if synced.returncode != 0:
            raise FleetError(f"permit origin sync failed: {synced.stderr.strip()}")

    # --- nginx ---------------------------------------------------------------------------------------

    def nginx_values(self) -> dict[str, str]:
        # The origin's max-age: a small part of the nodes' refresh interval (a cache in front of
        # the origin may add this much to a revocation's way).
        return nginx_values(self.run_dir, self.logs, self.public_port, [f"127.0.0.1:{port}" for port in self.node_ports],
                            self.origin_port, self.origin, max(1, self.interval // 4))

    def start_nginx(self) -> None:
        start_nginx(self.run_dir, self.logs, self.nginx_values())

    def stop_nginx(self) -> None:
        pid = self._pid("nginx")
        if pid is not None:
            stop_nginx(pid)
        self._pid_file("nginx").unlink(missing_ok=True)

    # --- the nodes -----------------------------------------------------------------------------------

    def start_node(self, n: int) -> int:
        """Start node n (gunicorn: its master and 2 workers) in its own process group; its pid."""
        home = self.node_home(n)
        if not (home / "anchor.json").exists():
            home.mkdir(parents=True, exist_ok=True)
            shutil.copy(self.city / "anchor.json", home / "anchor.json")
        command = [PERMIT, "serve", "--bind", f"127.0.0.1:{self.node_ports[n]}", "--workers", "2",
                   "--access-log", str(self.node_access_log(n)), "--base-url", self.public_url,
                   "--registry-url", f"{self.origin_url}/registry.json", "--status-pull",
                   "--refresh-interval", str(self.interval)]
        env = {**os.environ, "PERMIT_HOME": str(home), "PERMIT_REFUSE_WHEN_UNREADY": "true", "PERMIT_LOG_FORMAT": "json"}
        with open(self.logs / f"node{n}.log", "ab") as log:  # the child keeps its own descriptor
            process = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                       start_new_session=True)
        self._pid_file(f"node{n}").write_text(f"{process.pid}\n")
        _CHILDREN[process.pid] = process
        # Until the child has exec'd `permit`, its command line is this one's.
        _wait(lambda: process.poll() is not None or self._pid(f"node{n}") is not None, 10, f"node {n} did not start")
        return process.pid

    def stop_node(self, n: int, sig: signal.Signals = signal.SIGTERM, timeout: float = 20) -> None:
        """Send `sig` to node n's whole process group (master and workers) and wait until none
        of them runs; a node still running after `timeout` is killed."""
        pid = self._pid(f"node{n}")
        if pid is None:
            return
        group = _group(pid)
        os.killpg(pid, sig)
        try:
            _wait(lambda: not any(running(p) for p in group), timeout, f"node {n} did not stop")
        except FleetError:
            os.killpg(pid, signal.SIGKILL)
            _wait(lambda: not any(running(p) for p in group), 10, f"node {n} did not die")
        _reap(pid)
        self._pid_file(f"node{n}").unlink(missing_ok=True)

    def node_pid(self, n: int) -> int | None:
        return self._pid(f"node{n}")

    def ready(self, n: int) -> bool:
        return node_ready(self.node_url(n))

    def wait_ready(self, n: int, timeout: float = 60) -> None:
        def check() -> bool:
            pid = self._pid(f"node{n}")
            if pid is None or not running(pid):
                raise FleetError(f"node {n} exited: see {self.logs / f'node{n}.log'}")
            return self.ready(n)

        _wait(check, timeout, f"node {n} was not ready within {timeout:.0f} s")

    # --- the whole -----------------------------------------------------------------------------------

    def up(self) -> None:
        # What a previous fleet here left is made again: its nodes trusted its city's anchor.
        for directory in (self.dir / "nodes", self.origin, self.run_dir):
            shutil.rmtree(directory, ignore_errors=True)
        for directory in (self.logs, self.run_dir, self.origin):
            directory.mkdir(parents=True, exist_ok=True)
        try:
            self.build_city()
            self.fill_origin()
            self.start_nginx()
            for n in range(len(self.node_ports)):
                self.start_node(n)
            for n in range(len(self.node_ports)):
                self.wait_ready(n)
            _wait(lambda: http_status(f"{self.public_url}/api/v1/readyz") == 200, 10, "the public server does not answer")
        except BaseException:
            self.down()
            raise

    def down(self) -> None:
        """Stop every part; nothing of this fleet runs afterwards."""
        for n in range(len(self.node_ports)):
            self.stop_node(n)
        self.stop_nginx()
        (self.dir / "fleet.json").unlink(missing_ok=True)

    def status(self) -> dict[str, str]:
        parts = {"nginx": "running" if self._pid("nginx") else "stopped"}
        for n in range(len(self.node_ports)):
            pid = self._pid(f"node{n}")
            ready = {200: "ready", 503: "not ready"}.get(http_status(f"{self.node_url(n)}/api/v1/readyz") or 0, "not answering")
            parts[f"node{n}"] = f"{ready} on {self.node_url(n)}" if pid else "stopped"
        return parts

    def _pid(self, name: str) -> int | None:
        """The pid in run/NAME.pid if that process runs and is what this fleet started there."""
        try:
            pid = int(self._pid_file(name).read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        line = " ".join(_command_line(pid))
        expected = str(self.run_dir) if name == "nginx" else f"127.0.0.1:{self.node_ports[int(name[4:])]}"
        return pid if running(pid) and expected in line else None


# Nodes this process started: reaped once they stop, so that none is left a zombie.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


def _reap(pid: int) -> None:
    process = _CHILDREN.pop(pid, None)
    if process is not None:
        process.wait(timeout=10)


def _group(pid: int) -> list[int]:
    """The processes of `pid`'s process group (a node's master and workers)."""
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.getpgid(int(entry.name)) == pid:
                    members.append(int(entry.name))
            except OSError:
                continue
    return members


def nginx() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if found is None:
        raise FleetError("nginx is not installed: apt-get install nginx")
    return found


def _wait(condition: Callable[[], bool], timeout: float, failure: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise FleetError(failure)
        time.sleep(0.1)


def main() -> None:
    parser = argparse.ArgumentParser(prog="fleet.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=("up", "down", "status", "render"))
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="the fleet's directory (default: fleet-home)")
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--interval", type=int, default=60, help="each node's pull interval in seconds (default 60)")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="render: a placeholder's value")
    parser.add_argument("--out", type=Path, help="render: write here instead of standard output")
    args = parser.parse_args()
    try:
        if args.action == "render":
            values = dict(pair.split("=", 1) for pair in args.set)
            if "BASE_URL" in values:  # the public address, which nginx's own refusals name
                values.update(problem_values(values.pop("BASE_URL")))
            text = render(TEMPLATE.read_text(), values)
            if args.out:
                args.out.write_text(text)
            else:
                sys.stdout.write(text)
        elif args.action == "up":
            fleet = Fleet.create(args.dir, args.nodes, args.interval)
            fleet.up()
            print(f"Fleet up: {fleet.public_url} (page: {fleet.public_url}/v; origin {fleet.origin_url}; "
                  f"nodes {', '.join(fleet.node_url(n) for n in range(len(fleet.node_ports)))}; pull every {fleet.interval} s)")
            for label, url in json.loads((fleet.dir / "samples.json").read_text()):
                print(f"  {label:<9} {url}")
            print(f"Stop it with: python deploy/fleet.py down --dir {args.dir}")
        elif args.action == "down":
            Fleet.load(args.dir).down()
            print(f"Fleet in {args.dir} stopped.")
        else:
            for part, state in Fleet.load(args.dir).status().items():
                print(f"{part:<6} {state}")
    except FleetError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
