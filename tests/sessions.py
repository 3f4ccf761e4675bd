"""Not a test: what runs a guide as one session and compares each output block it shows with what
its command really printed (tests/test_guides.py uses it for the officer's and operator's guides).

How a guide is read. Its fenced blocks, in order:

- a ```sh block is a step, run in one bash session per guide (the environment it exports is kept
  for the next step), unless the comment `<!-- not run: why -->` precedes it;
- a bare ``` (or ```text) block after a step, before the next one, is that step's output and is
  compared with what the step printed (standard output and error, as a terminal shows them);
  any other bare block must say what it is instead, `<!-- not output: a file layout -->`, or where
  it is checked, `<!-- checked: tests/test_docs.py -->`;
- a block preceded by `<!-- file: NAME -->` is written to NAME in the session's directory (a CSV
  file the guide imports).

Other comments before a step (invisible once rendered): `<!-- home: PATH -->` sets PERMIT_HOME
for that step only (the guide says in words whose machine it is), `<!-- before: COMMANDS -->` runs hidden
commands first (their output is not compared), `<!-- background -->` runs a server: its output
is read once it answers, and it runs until the session ends; `<!-- any order -->`: its output's
lines come in an order that varies (a table sorted by random key ids); `<!-- verifier: PATH -->` starts
the session's verifier (the guide's https://xacminh.example) over a new home there that holds
the operator's anchor.json. `<!-- session: NAME -->` in a guide names the world it starts in.

The guide's paths (/srv/…, /backup/…) are under the session's directory; https://xacminh.example
after push, install, --registry-url or curl is the session's verifier; 127.0.0.1:8000 is a free
port. Only what changes by nature from run to run is normalised when comparing: permit ids and
key ids (a guide's id stands for the one its first output shows, in later commands too), times
and dates, tokens (the digits after /v#), a QR code's version and module size, a status list's
compressed size and an import's rate.
Within a line, "…" stands for text the guide leaves out (a line ending in "…" for every line that
begins as it does); a line "…" alone for one or more lines.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

# A fence may be indented (a block inside a list item); its lines are then read without the indent.
FENCE = re.compile(r"^( {0,3})```(\w*)[^\n]*\n(.*?)^\1```[ \t]*$", re.MULTILINE | re.DOTALL)
COMMENT = re.compile(r"<!--\s*([a-z][a-z ]*?)\s*(?::\s*(.*?))?\s*-->", re.DOTALL)
STEP_LANGUAGES = ("sh", "bash")
OUTPUT_LANGUAGES = ("", "text")
GUIDE_VERIFIER = "https://xacminh.example"
GUIDE_PORT = "127.0.0.1:8000"
GUIDE_ROOTS = ("/srv/", "/backup/")


@dataclass(frozen=True)
class Block:
    line: int
    language: str
    text: str
    markers: dict[str, str]


def blocks(text: str) -> list[Block]:
    """The fenced blocks of a guide, each with the comments between it and the block before."""
    found, last_end = [], 0
    for fence in FENCE.finditer(text):
        markers = {m.group(1): (m.group(2) or "") for m in COMMENT.finditer(text, last_end, fence.start())}
        indent = fence.group(1)
        body = "".join(line[len(indent):] if line.startswith(indent) else line for line in fence.group(3).splitlines(keepends=True))
        found.append(Block(text.count("\n", 0, fence.start()) + 1, fence.group(2), body, markers))
        last_end = fence.end()
    return found


@dataclass
class Step:
    command: Block
    output: Block | None = None
    files: list[Block] = field(default_factory=list)


def steps(text: str) -> list[Step]:
    """The steps of a guide, each with the output block it shows and the files it needs.
    AssertionError for a bare block that is neither an output nor says what it is."""
    found: list[Step] = []
    files: list[Block] = []
    current: Step | None = None
    elsewhere = False  # the last step is another runner's
    for block in blocks(text):
        if block.markers.get("session", "").startswith("once"):
            # A chapter with a runner of its own (`<!-- session: once … -->`, the officer guides'
            # chapter on bases): its blocks, and the output after each, are that runner's.
            current, elsewhere = None, block.language in STEP_LANGUAGES
            continue
        if elsewhere and block.language in OUTPUT_LANGUAGES:
            elsewhere = False
            continue
        elsewhere = False
        if "file" in block.markers:
            files.append(block)
        elif block.language in STEP_LANGUAGES:
            if "not run" in block.markers:
                current = None
                continue
            current = Step(block, files=files)
            files = []
            found.append(current)
        elif block.language in OUTPUT_LANGUAGES and not ({"not output", "checked"} & block.markers.keys()):
            assert current is not None, f"line {block.line}: an output block with no step before it (or mark it: not output / checked)"
            assert current.output is None, f"line {block.line}: a second output block for the step at line {current.command.line}"
            current.output = block
    return found


def session_name(text: str) -> str | None:
    match = re.search(r"<!--\s*session:\s*([\w-]+)\s*-->", text)
    return match.group(1) if match else None


# --- comparing ------------------------------------------------------------------------------------

# What varies by nature, as the guide writes it (left) and as it may be printed (right).
_ISO_TIME = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z"
_VARYING = [
    (re.compile(_ISO_TIME), _ISO_TIME),
    (re.compile(r"\b\d\d/\d\d/\d{4}\b"), r"\d\d/\d\d/\d{4}"),
    (re.compile(r"\b\d{4}-\d\d-\d\d\b"), r"\d{4}-\d\d-\d\d"),
    (re.compile(r"(?<=/v#)\d+"), r"\d+"),
    (re.compile(r"\b\d+(?= bytes?\b| byte\b)"), r"\d+"),
    (re.compile(r"\b[\d,]+(?= (?:rows/s|dòng/giây)\b)"), r"[\d,]+"),
    (re.compile(r"(?<=ETA )\d+:\d\d|(?<=còn khoảng )\d+:\d\d"), r"\d+:\d\d"),
    # A QR code's version (and so its modules' size) follows the token's length, which the random
    # permit id and status index move by a character or two.
    (re.compile(r"(?<=QR code \(version )\d+|(?<=QR code version )\d+|(?<=mã QR \(phiên bản )\d+|(?<=Mã QR phiên bản )\d+"), r"\d+"),
    (re.compile(r"\b\d+[.,]\d+(?= mm modules\))|(?<=\(mô-đun )\d+[.,]\d+(?= mm\))"), r"\d+[.,]\d+"),
]
# A guide's permit id has a letter and a digit, its key id a capital, a small letter and a digit;
# the ones they stand for may lack some.
PERMIT_ID = re.compile(r"(?<![\w/-])(?=[0-9A-Z]{0,7}[0-9])(?=[0-9A-Z]{0,7}[A-Z])[0-9A-Z]{8}(?![\w/-])")
KID = re.compile(r"(?<![\w-])(?=[\w-]{0,11}[a-z])(?=[\w-]{0,11}[A-Z])(?=[\w-]{0,11}[0-9])[A-Za-z0-9_-]{12}(?![\w-])")
_BINDABLE = [(PERMIT_ID, r"[0-9A-Z]{8}"), (KID, r"[A-Za-z0-9_-]{12}")]


class Bindings:
    """What each of the guide's ids stands for in this session, learnt from the outputs."""

    def __init__(self) -> None:
        self.real: dict[str, str] = {}
        self.known: dict[str, str] = {}  # each id the guide uses → the pattern of what it stands for

    def learn_ids(self, guide: str) -> None:
        """The guide's ids: where one stands alone (after a space, say), it is found; then
        wherever it appears, in a file name too (private/hcm-syt-KID.key)."""
        for pattern, replacement in _BINDABLE:
            self.known.update({token: replacement for token in pattern.findall(guide)})

    def line_pattern(self, expected: str) -> tuple[re.Pattern[str], dict[str, str]]:
        """The expected line as a regular expression; new ids become named groups (name → id)."""
        pieces: list[str] = []
        groups: dict[str, str] = {}
        at = 0
        prefix_only = expected.endswith("…")
        text = expected[:-1] if prefix_only else expected
        spans: list[tuple[int, int, str, str | None]] = [(m.start(), m.end(), ".*?", None) for m in re.finditer("…", text)]
        for pattern, replacement in _VARYING:
            spans += [(m.start(), m.end(), replacement, None) for m in pattern.finditer(text)]
        for token, replacement in self.known.items():
            spans += [(m.start(), m.end(), replacement, token)
                      for m in re.finditer(rf"(?<![A-Za-z0-9_]){re.escape(token)}(?![A-Za-z0-9_])", text)]
        taken: list[tuple[int, int, str, str | None]] = []
        for span in sorted(spans):
            if not taken or span[0] >= taken[-1][1]:
                taken.append(span)
        for start, end, replacement, token in taken:
            pieces.append(re.escape(text[at:start]))
            if token is None:
                pieces.append(f"(?:{replacement})")
            elif token in self.real:
                pieces.append(re.escape(self.real[token]))
            elif token in groups.values():
                name = next(n for n, t in groups.items() if t == token)
                pieces.append(f"(?P={name})")
            else:
                name = f"g{len(groups)}"
                groups[name] = token
                pieces.append(f"(?P<{name}>{replacement})")
            at = end
        pieces.append(re.escape(text[at:]))
        return re.compile("".join(pieces) + (".*" if prefix_only else "")), groups

    def match_line(self, expected: str, real: str, bind: bool) -> bool:
        pattern, groups = self.line_pattern(expected)
        match = pattern.fullmatch(real)
        if match is None:
            return False
        if bind:
            for name, token in groups.items():
                value = match.group(name)
                assert value not in self.real.values() or self.real.get(token) == value, (
                    f"{token} of the guide and another of its ids stand for the same {value}")
                self.real[token] = value
        return True

    def match(self, expected: list[str], real: list[str], any_order: bool = False) -> bool:
        """Whether `real` is what `expected` shows ("…" lines as the module says; with
        `any_order`, the same lines in any order); binds the guide's new ids only when the whole
        block matches."""
        saved = dict(self.real)
        ok = self._match_any_order(expected, real) if any_order else self._match(expected, real)
        if not ok:
            self.real = saved
        return ok

    def _match_any_order(self, expected: list[str], real: list[str]) -> bool:
        left = list(real)
        for line in expected:
            found = next((i for i, candidate in enumerate(left) if self.match_line(line, candidate, bind=True)), None)
            if found is None:
                return False
            del left[found]
        return not left

    def _match(self, expected: list[str], real: list[str]) -> bool:
        j = 0
        for i, line in enumerate(expected):
            if line == "…":
                j += 1  # at least one line left out
                if i + 1 == len(expected):
                    return j <= len(real)
                while j < len(real) and not self.match_line(expected[i + 1], real[j], bind=False):
                    j += 1
                continue
            if j >= len(real) or not self.match_line(line, real[j], bind=True):
                return False
            j += 1
        return j == len(real)

    def command(self, text: str) -> str:
        """A step's command with the guide's ids replaced by what they stand for (in a file name
        too: private/hcm-syt-KID.key)."""
        for pattern, _ in _BINDABLE:
            unknown = [m.group() for m in pattern.finditer(text) if m.group() not in self.real]
            assert not unknown, f"the guide uses {unknown} before any output shows them"
        for token, real in self.real.items():
            text = re.sub(rf"(?<![A-Za-z0-9_]){re.escape(token)}(?![A-Za-z0-9_])", real, text)
        return text


# cli.ProgressBar's line: "<label> [<30 of # or space>] <share>% <done>/<total> <unit>…".
PROGRESS_BAR = re.compile(r" \[[# ]{30}\] +\d+[.,]\d%")


def lines_of(text: str) -> list[str]:
    lines = [line.rstrip() for line in text.splitlines()]
    while lines and not lines[0]:
        lines.pop(0)
    while lines and not lines[-1]:
        lines.pop()
    return lines


# --- running ----------------------------------------------------------------------------------------


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@dataclass
class Session:
    """One guide's session: its directory (the guide's / for /srv and /backup), its environment,
    the servers it started, what the guide's ids stand for."""

    root: Path
    env: dict[str, str]
    verifier_url: str = ""  # the guide's https://xacminh.example
    port: int = field(default_factory=free_port)  # the guide's 127.0.0.1:8000
    bindings: Bindings = field(default_factory=Bindings)
    servers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def work(self) -> Path:
        path = self.root / "work"
        path.mkdir(exist_ok=True)
        return path

    def path(self, guide_path: str) -> Path:
        return self.root / guide_path.lstrip("/")

    def to_machine(self, text: str) -> str:
        text = self.bindings.command(text)
        for prefix in GUIDE_ROOTS:  # the directory itself too ("mkdir -p /backup")
            text = re.sub(rf"(?<![\w./-]){re.escape(prefix.rstrip('/'))}(?=/|\b)", f"{self.root}{prefix.rstrip('/')}", text)
        if self.verifier_url:
            text = re.sub(rf"((?:push|install|--registry-url|curl|curl -s) ){re.escape(GUIDE_VERIFIER)}", rf"\g<1>{self.verifier_url}", text)
        return text.replace(GUIDE_PORT, f"127.0.0.1:{self.port}")

    def to_guide(self, text: str) -> str:
        if self.verifier_url:
            text = text.replace(self.verifier_url, GUIDE_VERIFIER)
        return text.replace(f"127.0.0.1:{self.port}", GUIDE_PORT).replace(str(self.root), "")

    def start_verifier(self, guide_home: str, anchor_from: str | None = None) -> None:
        """The guide's https://xacminh.example: `permit serve` over the home at `guide_home`
        (made from the operator's anchor at `anchor_from` when given)."""
        from conftest import start_server

        home = self.path(guide_home)
        if anchor_from is not None:
            home.mkdir(parents=True, exist_ok=True)
            shutil.copy(self.path(anchor_from) / "anchor.json", home / "anchor.json")
        self.verifier_url, process = start_server(home, self.root / "verifier.log")
        self.servers.append(process)

    def script(self, step: Step) -> str:
        for block in step.files:
            (self.work / block.markers["file"]).write_text(block.text, encoding="utf-8")
        if "verifier" in step.command.markers:
            self.start_verifier(step.command.markers["verifier"], "/srv/permit/operator")
        parts = [f"source {self.root / 'env.sh'} 2>/dev/null", f"cd {self.work}", "set -uo pipefail"]
        if "home" in step.command.markers:  # for this step only
            parts.append(f"__home=${{PERMIT_HOME-}}; export PERMIT_HOME={self.to_machine(step.command.markers['home'])}")
        if "before" in step.command.markers:
            # In a subshell: hidden commands leave nothing (an exported variable) to the step.
            parts.append("( " + self.to_machine(step.command.markers["before"]) + "\n) > " + str(self.root / "before.log") + " 2>&1")
        return "\n".join(parts) + "\n"

    def run(self, step: Step) -> str:
        """Run a step; what it printed, as the guide would show it."""
        after = "export PERMIT_HOME=$__home\n" if "home" in step.command.markers else ""
        script = self.script(step) + self.to_machine(step.command.text) + f"\n{after}export -p > {self.root / 'env.sh'}\n"
        if "background" in step.command.markers:
            return self._run_in_background(script)
        done = subprocess.run(["bash", "-c", script], cwd=self.work, env=self.env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, encoding="utf-8", timeout=300)
        return self.to_guide(done.stdout)

    def _run_in_background(self, script: str) -> str:
        log = self.root / f"background-{len(self.servers)}.log"
        with open(log, "wb") as out:
            process = subprocess.Popen(["bash", "-c", script], cwd=self.work, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                       start_new_session=True)
        self.servers.append(process)
        deadline = time.monotonic() + 30
        while not answers(f"http://127.0.0.1:{self.port}/api/v1/healthz"):
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        time.sleep(0.5)  # the workers' own lines follow the first answer
        return self.to_guide(log.read_text(encoding="utf-8"))

    def stop(self) -> None:
        from bench.servers import stop_group

        for process in self.servers:
            if process.poll() is None:
                stop_group(process)


def base_environment(root: Path, passphrase: str) -> dict[str, str]:
    """What a shell gives the guide's commands: the permit command on PATH and a passphrase (the
    guide says it comes from PERMIT_PASSPHRASE or a prompt)."""
    home = root / "user"
    home.mkdir(parents=True, exist_ok=True)
    return {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", "HOME": str(home), "LANG": "C.UTF-8",
            "PYTHONIOENCODING": "utf-8", "PERMIT_PASSPHRASE": passphrase, "TZ": "UTC"}


def walk(session: Session, guide: str, text: str) -> int:
    """Run every step of a guide in order and compare each output it shows with what the step
    printed; how many outputs were compared."""
    compared = 0
    session.bindings.learn_ids(text)
    for step in steps(text):
        printed = lines_of(session.run(step))
        if step.output is None:
            continue
        hidden = session.root / "before.log"
        assert session.bindings.match(lines_of(step.output.text), printed, "any order" in step.command.markers), (
            f"{guide} line {step.output.line}: the step at line {step.command.line} prints:\n" + "\n".join(printed)
            + (f"\n(its hidden commands printed: {hidden.read_text()})" if "before" in step.command.markers else ""))
        compared += 1
    return compared
