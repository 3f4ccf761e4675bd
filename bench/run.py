"""`make bench`: every benchmark, each next to its floor in the same run; writes bench/RESULTS.md.

    python -m bench.run [--quick] [--only STEP ...]

--quick shrinks every size (a smoke run of the harness, minutes become seconds); the committed
RESULTS.md comes from a full run. --only runs the steps named (verify, http, soak, flood, import,
qr, fleet; import includes the status list of the ledger it fills) and only prints their figures: a
partial run never writes a results file. fleet: nginx (deploy/nginx.conf.template) in front of
two nodes against the floor behind the same nginx, the processor time of a node's pulls, a
revocation's way from the origin to every node.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ed25519

from bench.flood import Flood, hostile_documents
from bench.servers import PINNED, rss_mib, server, wrk
from bench.stats import Series, machine, ratios
from bench.world import build
from keys.encoding import b64url_decode
from keys.jws import parse_compact
from permits.home import Home
from permits.spreadsheet import Writer
from verifier.pipeline import verify

BENCH = Path(__file__).parent
PERMIT = str(Path(sys.executable).parent / "permit")
GOALS: list[dict[str, str]] = []


def record(what: str, figure: str, floor: str, ratio: str, goal: str, met: bool | None) -> None:
    GOALS.append({"what": what, "figure": figure, "floor": floor, "ratio": ratio, "goal": goal,
                  "met": "—" if met is None else ("yes" if met else "**no**")})
    print(f"  {what}: {figure} | floor {floor} | {ratio} | goal {goal} | {GOALS[-1]['met']}", flush=True)


def fmt(series: Series, digits: int = 0) -> str:
    return f"{series.median:,.{digits}f} {series.unit} (min {series.low:,.{digits}f}, max {series.high:,.{digits}f})"


def fmt_ratio(series: Series) -> str:
    return f"{series.median:.1%} (min {series.low:.1%}, max {series.high:.1%})"


# --- 1. verification in-process against raw Ed25519 -----------------------------------------------


def bench_verify(world_home: Path, tokens: list[str], repetitions: int) -> None:
    home = Home(world_home)
    now = int(time.time())
    trusted = home.trusted_registry(now)
    registry, lists = trusted.registry, home.status_lists(trusted.registry, now)
    parsed = [parse_compact(token, 4096) for token in tokens]
    raw_keys = [registry.key(str(p.header["kid"])).public_key.key for p in parsed]  # type: ignore[union-attr]
    pipeline, floor = Series("pipeline", "tokens/s"), Series("raw Ed25519", "verifications/s")
    assert all(verify(t, registry, lists, now).valid for t in tokens[:100])
    for _ in range(repetitions):  # interleaved, so both see the same machine
        started = time.perf_counter()
        for token in tokens:
            verify(token, registry, lists, now)
        pipeline.add(len(tokens) / (time.perf_counter() - started))
        started = time.perf_counter()
        for key, p in zip(raw_keys, parsed, strict=True):
            key.verify(p.signature, p.signing_input)
        floor.add(len(tokens) / (time.perf_counter() - started))
    ratio = ratios(pipeline, floor)
    record("verify distinct permit tokens in-process (full pipeline)", fmt(pipeline), fmt(floor), fmt_ratio(ratio),
           "≥ 80 % of raw Ed25519 verification", ratio.median >= 0.80)


# --- 2. and 3. the HTTP endpoint under gunicorn, against the least a verifier must do; large registry


def measure_in_turn(pairs: list[tuple[str, Series, Series]], repetition: int, tokens: Path, seconds: int, connections: int,
                    pin: bool) -> None:
    """wrk against each (url, requests/s series, p99 series) after a warm-up of each, the first
    one first in even repetitions and last in odd ones, so that neither always runs warmer."""
    for url, _, _ in pairs:
        wrk(url, tokens, 2, connections, pin=pin)  # warm-up
    for url, rps, p99 in pairs if repetition % 2 == 0 else pairs[::-1]:
        result = wrk(url, tokens, seconds, connections, pin=pin)
        assert result.errors == 0 and result.non_2xx == 0, result
        rps.add(result.requests_per_second)
        p99.add(result.p99_ms)


def bench_http(small: Path, small_tokens: Path, large: Path | None, large_tokens: Path | None, seconds: int,
               repetitions: int, workers: int, threads: int, worker_class: str, pin: bool) -> None:
    # The floor (bench/bare_app.py) is a bare Flask endpoint that reads the same body, looks the
    # key up by kid and checks the Ed25519 signature with cryptography, under the same gunicorn
    # settings: the least any verifier must do. Both servers run at once and are measured one
    # after the other, the first in turn, so that each pair of figures sees the same machine.
    ours, floor = Series("ours", "req/s"), Series("floor", "req/s")
    ours_p99, floor_p99 = Series("ours p99", "ms", lower_is_better=True), Series("floor p99", "ms", lower_is_better=True)
    connections = 16
    for repetition in range(repetitions):
        with server("ours", small, workers, threads, worker_class, pin) as (ours_url, _), \
                server("bare", small, workers, threads, worker_class, pin) as (floor_url, _):
            pairs = [(ours_url, ours, ours_p99), (floor_url, floor, floor_p99)]
            measure_in_turn(pairs, repetition, small_tokens, seconds, connections, pin)
    rate, latency = ratios(ours, floor), ratios(ours_p99, floor_p99)
    pinning = "server on core 0, wrk on core 1" if pin and PINNED else "wrk beside it on the same cores"
    settings = f"{workers} {worker_class} worker(s) × {threads} thread(s), wrk 1 thread, {connections} connections, {pinning}"
    record(f"POST /api/v1/verify under gunicorn, distinct valid tokens ({settings}); floor: bare Flask reading the body "
           "and checking the Ed25519 signature", fmt(ours), fmt(floor), fmt_ratio(rate),
           "≥ 90 % of the floor's requests/s", rate.median >= 0.90)
    record("… its p99 latency", fmt(ours_p99, 1), fmt(floor_p99, 1), f"{latency.median:.2f}× (min {latency.low:.2f}, max {latency.high:.2f})",
           "≤ 1.25 × the floor's p99", latency.median <= 1.25)
    if large is None or large_tokens is None:
        return
    big, small_again = Series("large registry", "req/s"), Series("small registry", "req/s")
    big_p99 = Series("large p99", "ms", lower_is_better=True)
    worker_memory = Series("worker RSS", "MiB", lower_is_better=True)
    for _ in range(min(repetitions, 3)):  # the large registry takes half a minute to load
        with server("ours", small, workers, threads, worker_class, pin) as (url, _):
            wrk(url, small_tokens, 2, connections, pin=pin)
            small_again.add(wrk(url, small_tokens, seconds, connections, pin=pin).requests_per_second)
        with server("ours", large, workers, threads, worker_class, pin) as (url, pids):
            wrk(url, large_tokens, 2, connections, pin=pin)
            result = wrk(url, large_tokens, seconds, connections, pin=pin)
            assert result.errors == 0 and result.non_2xx == 0, result
            big.add(result.requests_per_second)
            big_p99.add(result.p99_ms)
            worker_memory.add(max(rss_mib(pid) for pid in pids))
    scale = ratios(big, small_again)
    record("the same with 1,000 agencies × 3 keys, status lists of 1,000,000 permits each", fmt(big), fmt(small_again),
           fmt_ratio(scale), "within 5 % of the small demo registry", scale.median >= 0.95)
    record("a verifier worker's memory with that registry and those lists loaded", fmt(worker_memory, 0), "—", "—",
           "≤ 150 MB resident", worker_memory.high * 1.048576 <= 150)


def bench_soak(small: Path, mixed_tokens: Path, seconds: int) -> None:
    # The service as `permit serve` runs it by default, on both cores, with wrk beside it.
    with server("ours", small, 2, 2, "gthread", pin=False) as (url, _):
        result = wrk(url, mixed_tokens, seconds, 256, threads=2, pin=False)
    record(f"soak: 256 connections for {seconds} s, valid, revoked and forged tokens mixed (2 gthread workers × 2 threads)",
           f"{result.requests_per_second:,.0f} req/s, p99 {result.p99_ms:,.1f} ms, {result.requests:,} requests",
           "—", f"{result.errors} socket errors, {result.non_2xx} non-2xx", "zero errors, zero 5xx",
           result.errors == 0 and result.non_2xx == 0)


def bench_push_flood(small: Path, tokens: Path, seconds: int) -> None:
    # Anyone may push a registry or a status list: four clients push hostile documents (each as
    # costly to check as a push can be, bench/flood.py) while wrk measures verification. The
    # floor is the same server, quiet, measured just before.
    home = Home(small)
    now = int(time.time())
    registry = home.trusted_registry(now).registry
    agency = registry.agencies[sorted(registry.agencies)[0]]
    documents = hostile_documents(home.anchor(), agency.id, agency.active_keys(now)[0].public_key, now)
    connections = 16
    with server("ours", small, 2, 2, "gthread", pin=False) as (url, _):
        wrk(url, tokens, 2, connections, pin=False)  # warm-up
        quiet = wrk(url, tokens, seconds, connections, pin=False)
        flood = Flood(url, documents, clients=4)
        flood.start()
        try:
            loaded = wrk(url, tokens, seconds, connections, pin=False)
        finally:
            flood.stop()
    refused = flood.statuses
    record(f"POST /api/v1/verify while 4 clients push hostile documents of up to 16 MiB for {seconds} s "
           f"(2 gthread workers × 2 threads, wrk {connections} connections, all on the same cores)",
           f"{loaded.requests_per_second:,.0f} req/s, p99 {loaded.p99_ms:,.1f} ms; "
           f"pushes refused: {', '.join(f'{n:,} × {code}' for code, n in sorted(refused.items(), key=str))}",
           f"quiet: {quiet.requests_per_second:,.0f} req/s, p99 {quiet.p99_ms:,.1f} ms",
           f"{loaded.requests_per_second / quiet.requests_per_second:.1%} of the requests/s",
           "every verification answered 200; p99 under 1 s; no push accepted",
           loaded.errors == 0 and loaded.non_2xx == 0 and loaded.p99_ms < 1000 and not ({200, 201} & set(refused)))


# --- 4. permit import against raw signing ------------------------------------------------------------


def _csv(path: Path, rows: int) -> None:
    rng = random.Random(5)
    streets = ["Lê Lợi", "Nguyễn Huệ", "Hai Bà Trưng", "Điện Biên Phủ", "Cách Mạng Tháng Tám", "Trần Hưng Đạo"]
    wards = ["Phường Sài Gòn", "Phường Bến Thành", "Phường Tân Định", "Phường Xuân Hòa", "Phường Chợ Lớn"]
    kinds = ["Công ty TNHH", "Công ty Cổ phần", "Hộ kinh doanh"]
    words = ["Thực phẩm", "Sạch", "Bình Minh", "Phương Nam", "Hưng Thịnh", "An Phát", "Sài Gòn", "Minh Tâm"]
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = Writer(handle)
        writer.writerow(["number", "holder_id", "holder_name", "holder_address", "activities", "conditions", "valid_from", "valid_until"])
        for i in range(rows):
            writer.writerow([f"{i + 1:07d}/GCN-ATTP", f"03{rng.randrange(10**8):08d}",
                             f"{rng.choice(kinds)} {rng.choice(words)} {rng.choice(words)}",
                             f"{rng.randrange(1, 400)} {rng.choice(streets)}, {rng.choice(wards)}, TP. Hồ Chí Minh",
                             "Sản xuất, chế biến thực phẩm|Bán lẻ thực phẩm", "", "01/06/2025", "2028-05-31"])


def _tree_rss_mib(root: int) -> float:
    total = 0.0
    pids = [root]
    while pids:
        pid = pids.pop()
        try:
            total += rss_mib(pid)
            pids += [int(p) for p in subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()]
        except OSError:
            continue
    return total


def bench_import(work: Path, rows: int) -> Path:
    home = work / "import-home"
    env = {**os.environ, "PERMIT_HOME": str(home), "PERMIT_PASSPHRASE": "benchmark passphrase", "PERMIT_OFFICER": "bench"}
    subprocess.run([PERMIT, "demo", "--dir", str(home)], env=env, check=True, capture_output=True)
    # Paper certificates from before the once-only rule: the demo's food-safety type rests on a
    # business registration, and the measure is of an import without one.
    for command in (["registry", "set-requires", "food-safety"], ["registry", "publish"]):
        subprocess.run([PERMIT, *command], env=env, check=True, capture_output=True)
    source = work / "paper-permits.csv"
    _csv(source, rows)
    key = ed25519.Ed25519PrivateKey.generate()
    messages = [b"x" * 380 + i.to_bytes(4, "big") for i in range(min(rows, 200_000))]

    def raw_signing() -> float:
        started = time.perf_counter()
        for message in messages:
            key.sign(message)
        return len(messages) / (time.perf_counter() - started)

    # The floor is measured just before the import and just after it, and the two averaged: on a
    # shared machine the speed of a core drifts over the minutes an import takes.
    before = raw_signing()
    process = subprocess.Popen([PERMIT, "import", str(source), "--agency", "hcm-syt", "--type", "food-safety", "--json"],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = 0.0
    done = threading.Event()

    def watch() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _tree_rss_mib(process.pid))
            time.sleep(0.2)

    watcher = threading.Thread(target=watch, daemon=True)
    started = time.perf_counter()
    watcher.start()
    out, err = process.communicate()
    elapsed = time.perf_counter() - started
    done.set()
    assert process.returncode == 0, err[-2000:]
    assert json.loads(out)["imported"] == rows, out  # every row a permit: a measure of refusals would be no measure
    after = raw_signing()
    floor = (before + after) / 2
    rate = rows / elapsed
    record(f"permit import of a {rows:,}-row CSV (validate, sign, ledger row and event), one agency",
           f"{rate:,.0f} rows/s ({elapsed:,.0f} s), peak memory {peak:,.0f} MiB",
           f"{floor:,.0f} signatures/s (before {before:,.0f}, after {after:,.0f})",
           f"{rate / floor:.1%}", "≥ 40 % of raw single-core signing; ≤ 300 MB",
           rate / floor >= 0.40 and peak * 1.048576 <= 300)
    assert "ETA" in err and "rows/s" in err  # the progress bar was shown
    return home


# --- 5. status list for a million permits --------------------------------------------------------------


def bench_status_list(home_path: Path, revoked_share: float) -> None:
    from permits.ledger import Ledger
    from permits.publishing import publish_status_list

    home = Home(home_path)
    now = int(time.time())
    registry = home.trusted_registry(now).registry
    signer = home.agency_signer(registry, "hcm-syt", lambda _: b"benchmark passphrase", now)
    with Ledger.open(home.ledger_path("hcm-syt"), "hcm-syt") as ledger:
        total = ledger.db.conn.execute("SELECT COUNT(*) FROM versions").fetchone()[0]
        with ledger.transaction():
            ledger.db.conn.execute(
                "UPDATE versions SET status = 1 WHERE status_index IN"
                " (SELECT status_index FROM versions ORDER BY random() LIMIT ?)",
                (int(total * revoked_share),))
    times = Series("publish", "s", lower_is_better=True)
    for _ in range(3):
        started = time.perf_counter()
        status_list = publish_status_list(home, registry, "hcm-syt", signer, now + len(times.values) + 1)
        times.add(time.perf_counter() - started)
    size = len(status_list.token)
    # The ZLIB data inside: the signed Token Status List carries it base64url-encoded twice
    # (lst in the claims, the claims in the JWS), 16/9 of it.
    zlib_bytes = len(b64url_decode(json.loads(b64url_decode(status_list.token.split(".")[1]))["status_list"]["lst"]))
    record(f"publishing the status list of {total:,} permits, {revoked_share:.0%} revoked ({status_list.size:,} entries)",
           f"{size:,} bytes signed (a Token Status List JWT; {zlib_bytes:,} bytes of ZLIB in it), built in {fmt(times, 2)}",
           "—", "—", "≤ 20 KB signed, built in under a second", size <= 20_000 and times.median < 1.0)


# --- 6. QR versions of the demo permits -------------------------------------------------------------------


# Issue 16's case: an alcohol retail licence resting on a business registration and a food-safety
# certificate, with the Vietnamese text such permits carry, issued as officers do (the bases given as
# QR code images), its QR code at the demo's base URL and at a long one an agency might really have.
DEMO_BASE_URL = "http://127.0.0.1:8000"
LONG_BASE_URL = "https://xacminh-giayphep.dichvucong.hochiminhcity.gov.vn"
TWO_BASES = (
    ("registration", ["--agency", "hcm-skhdt", "--type", "business-registration", "--holder-id", "0317654321", "--number", "0317654321",
                      "--holder-name", "Công ty TNHH Thương mại Dịch vụ Ẩm thực Hương Việt Sài Gòn",
                      "--holder-address", "152/7 Nguyễn Đình Chiểu, Phường Xuân Hòa, Thành phố Hồ Chí Minh",
                      "--activity", "Nhà hàng và các dịch vụ ăn uống phục vụ lưu động",
                      "--activity", "Bán lẻ đồ uống có cồn trong các cửa hàng chuyên doanh"]),
    ("food-safety", ["--agency", "hcm-syt", "--type", "food-safety", "--basis", "registration.png", "--number", "1578/2026/GCN-ATTP",
                     "--activity", "Kinh doanh dịch vụ ăn uống (nhà hàng)",
                     "--condition", "Thực hiện đúng quy định về an toàn thực phẩm."]),
    ("alcohol-retail", ["--agency", "hcm-sct", "--type", "alcohol-retail", "--basis", "registration.png", "--basis", "food-safety.png",
                        "--number", "0732/2026/GP-SCT", "--activity", "Bán lẻ rượu có độ cồn từ 5,5 độ trở lên",
                        "--activity", "Bán lẻ bia, rượu dưới 5,5 độ tiêu dùng tại chỗ",
                        "--condition", "Không bán rượu, bia cho người dưới 18 tuổi."]),
)


def issue_on_two_bases(home: Path, env: dict[str, str]) -> str:
    """Issue TWO_BASES in the demo home, each basis handed over as its QR code image; the
    licence's token."""
    until = (datetime.date.today() + datetime.timedelta(days=1000)).isoformat()  # within every type's maximum
    token = ""
    for name, args in TWO_BASES:
        issued = subprocess.run([PERMIT, "issue", *args, "--valid-until", until, "--json"], env=env, cwd=home, check=True,
                                capture_output=True, text=True)
        permit = json.loads(issued.stdout)
        assert len(permit["basis"]) == args.count("--basis"), permit
        subprocess.run([PERMIT, "qr", permit["id"], "--out", f"{name}.png"], env=env, cwd=home, check=True, capture_output=True)
        token = permit["token"]
    return str(token)


def bench_qr(work: Path) -> None:
    from permits import qr
    from permits.ledger import Ledger

    home = work / "qr-demo"
    env = {**os.environ, "PERMIT_PASSPHRASE": "benchmark passphrase", "PERMIT_HOME": str(home)}
    subprocess.run([PERMIT, "demo", "--dir", str(home)], env=env, check=True, capture_output=True)
    versions = {}
    for db in sorted((home / "ledgers").glob("*.db")):
        with Ledger.open(db, db.stem) as ledger:
            for record_ in ledger.find():
                for base in ("http://127.0.0.1:8000", "https://xacminh.hochiminhcity.gov.vn"):
                    versions[(record_.permit.id, base)] = qr.qr_version(qr.permit_url(base, record_.token))
    worst = max(versions.values())
    record("QR codes of the demo permits (error correction M)",
           f"versions {min(versions.values())} to {worst} ({len(versions) // 2} permits, short and long base URL)",
           "—", "—", "version ≤ 18 (≤ 15 the aim)", worst <= 18)

    token = issue_on_two_bases(home, env)
    on_bases = {base: qr.qr_version(qr.permit_url(base, token)) for base in (DEMO_BASE_URL, LONG_BASE_URL)}
    record("QR code of a permit on two bases (an alcohol retail licence on a business registration and a food-safety "
           "certificate, realistic Vietnamese text; error correction M)",
           f"version {on_bases[DEMO_BASE_URL]} at {DEMO_BASE_URL}, {on_bases[LONG_BASE_URL]} at {LONG_BASE_URL} "
           f"({len(b64url_decode(token.split('.')[1]))} bytes of payload)",
           "—", "—", "version ≤ 15", max(on_bases.values()) <= 15)


# --- 7. the fleet: nginx in front of nodes, pulls from an origin, a revocation's way --------------------


def bench_fleet_http(work: Path, small: Path, small_tokens: Path, seconds: int, repetitions: int) -> None:
    # Two nodes of ours and two of the floor (bench/bare_app.py), each behind its own nginx
    # rendered from deploy/nginx.conf.template, all running at once and measured in turn.
    from bench.fleet import nginx_front

    ours, floor = Series("ours", "req/s"), Series("floor", "req/s")
    ours_p99, floor_p99 = Series("ours p99", "ms", lower_is_better=True), Series("floor p99", "ms", lower_is_better=True)
    connections = 16
    for repetition in range(repetitions):
        with server("ours", small, 2, 2, "gthread", pin=False) as (ours_1, _), \
                server("ours", small, 2, 2, "gthread", pin=False) as (ours_2, _), \
                server("bare", small, 2, 2, "gthread", pin=False) as (floor_1, _), \
                server("bare", small, 2, 2, "gthread", pin=False) as (floor_2, _), \
                nginx_front(work / f"nginx-ours-{repetition}", [ours_1, ours_2], small) as (ours_url, _), \
                nginx_front(work / f"nginx-floor-{repetition}", [floor_1, floor_2], small) as (floor_url, _):
            pairs = [(ours_url, ours, ours_p99), (floor_url, floor, floor_p99)]
            measure_in_turn(pairs, repetition, small_tokens, seconds, connections, False)
    rate, latency = ratios(ours, floor), ratios(ours_p99, floor_p99)
    record(f"POST /api/v1/verify through nginx (deploy/nginx.conf.template) to two nodes of 2 gthread workers × 2 threads, "
           f"wrk 1 thread, {connections} connections, all on the same cores; floor: the bare Flask endpoint behind the same "
           "nginx and gunicorn settings", fmt(ours), fmt(floor), fmt_ratio(rate), "≥ 90 % of the floor's requests/s",
           rate.median >= 0.90)
    record("… its p99 latency", fmt(ours_p99, 1), fmt(floor_p99, 1),
           f"{latency.median:.2f}× (min {latency.low:.2f}, max {latency.high:.2f})", "≤ 1.25 × the floor's p99",
           latency.median <= 1.25)


def bench_pull_cost(work: Path, agencies: int, interval: int, window: int) -> None:
    # A node pulling the registry and every agency's list from an origin every `interval` s
    # (conditional: unchanged documents cost a 304), against an idle node holding the same
    # documents and pulling nothing, both measured over the same window.
    from bench.fleet import group_cpu_seconds, nginx_front, node
    from bench.servers import free_port

    origin = work / "origin-home"
    placeholder_port = free_port()  # the origin's port must be in the registry: nginx takes it below
    build(origin, int(time.time()), agencies=agencies, keys_per_agency=1, list_size=131_072, revoked_share=0.01, tokens=10,
          status_base=f"http://127.0.0.1:{placeholder_port}/status")
    pulling_home, idle_home = work / "pulling-node", work / "idle-node"
    pulling_home.mkdir()
    shutil.copy(origin / "anchor.json", pulling_home / "anchor.json")
    shutil.copytree(origin, idle_home)
    with nginx_front(work / "nginx-origin", [], origin, origin_port=placeholder_port) as (_, origin_url), \
            node(pulling_home, work / "pulling-node.log", "--registry-url", f"{origin_url}/registry.json", "--status-pull",
                 "--refresh-interval", str(interval)) as (_, pulling), \
            node(idle_home, work / "idle-node.log") as (_, idle):
        time.sleep(2 * interval)  # past the first full pulls, into the steady state
        log = work / "nginx-origin" / "logs" / "origin-access.log"
        lines_before = len(log.read_text().splitlines())
        before = group_cpu_seconds(pulling), group_cpu_seconds(idle)
        time.sleep(window)
        after = group_cpu_seconds(pulling), group_cpu_seconds(idle)
        requests = log.read_text().splitlines()[lines_before:]
    cost = ((after[0] - before[0]) - (after[1] - before[1])) / window * 3600
    statuses = {code: sum(f'" {code} ' in line for line in requests) for code in (200, 304)}
    record(f"a node's pulls of {agencies:,} agencies' lists and the registry every {interval} s from the origin (nginx), "
           f"2 workers; measured over {window} s against an idle node holding the same documents",
           f"{cost:,.0f} CPU s per hour ({cost / 36:.2f} % of one core); {len(requests) / window * interval:,.0f} requests "
           f"per interval ({statuses[304]:,} × 304, {statuses[200]:,} × 200 in the window)",
           f"idle node: {(after[1] - before[1]) / window * 3600:,.0f} CPU s per hour", "—", "—", None)


def bench_propagation(work: Path, interval: int, repetitions: int) -> None:
    # The local fleet of deploy/fleet.py: an agency revokes and publishes to the origin (no push);
    # each node is asked directly until it answers revoked.
    from deploy.fleet import Fleet
    from permits.demo import DEMO_PASSPHRASE

    fleet = Fleet.create(work / "fleet", nodes=3, interval=interval)
    fleet.up()
    env = {**os.environ, "PERMIT_HOME": str(fleet.city), "PERMIT_PASSPHRASE": DEMO_PASSPHRASE}

    def permit(*args: str) -> str:
        return subprocess.run([PERMIT, *args], env=env, check=True, capture_output=True, text=True).stdout

    def status(url: str, token: str) -> str:
        asked = urllib.request.Request(f"{url}/api/v1/verify", json.dumps({"token": token}).encode(),
                                 {"Content-Type": "application/json"})
        with urllib.request.urlopen(asked, timeout=5) as answer:
            return str(json.loads(answer.read())["status"])

    last = Series("publish to the last node answering revoked", "s", lower_is_better=True)
    # Each publish at a random moment of the nodes' pull cycles (one right after the last node
    # learnt the previous revocation would always meet them at the same phase).
    phase = random.Random(14)
    try:
        for _ in range(repetitions):
            time.sleep(phase.uniform(0, interval))
            issued = json.loads(permit("issue", "--agency", "hcm-syt", "--type", "food-safety", "--holder-id", "0312345678",
                                        "--holder-name", "Công ty TNHH Thực phẩm Sạch Sài Gòn", "--valid-until", "2028-12-31",
                                        "--json"))
            permit("revoke", issued["id"], "--reason", "benchmark")
            permit("status", "publish", "--agency", "hcm-syt", "--origin", str(fleet.origin))
            published = time.monotonic()
            waiting = set(range(3))
            while waiting:
                waiting = {n for n in waiting if status(fleet.node_url(n), issued["token"]) != "revoked"}
                assert time.monotonic() - published < 3 * interval, "a node never learnt the revocation"
                time.sleep(0.02)
            last.add(time.monotonic() - published)
    finally:
        fleet.down()
    record(f"a revocation published to the origin (no push), until the last of 3 nodes pulling every {interval} s answers "
           f"revoked ({repetitions} revocations, each published at a random moment of the nodes' cycles)", fmt(last, 1), "—", "—", f"≤ the pull interval ({interval} s)",
           last.high <= interval)


# --- the run --------------------------------------------------------------------------------------------------


def write_results(started: datetime.datetime, seconds: float, quick: bool) -> None:
    lines = [
        "# Benchmark results",
        "",
        f"Run {started:%Y-%m-%d %H:%M} UTC, {seconds / 60:.1f} minutes{' (QUICK: reduced sizes, not the committed figures)' if quick else ''}.",
        f"Machine: {machine()}.",
        "",
        "Every figure is the median of repetitions (min and max in brackets) measured side by side with its floor",
        "in the same run; the ratio is computed per repetition. `make bench` reproduces this file.",
        "",
        "| what | figure | floor (same run) | ratio | goal | met |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    lines += [f"| {g['what']} | {g['figure']} | {g['floor']} | {g['ratio']} | {g['goal']} | {g['met']} |" for g in GOALS]
    (BENCH / ("RESULTS.quick.md" if quick else "RESULTS.md")).write_text("\n".join(lines) + "\n")


STEPS = ("verify", "http", "soak", "flood", "import", "qr", "fleet")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", action="append", choices=STEPS, help="run only this step (repeatable); writes no results file")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--worker-class", default="gthread")
    parser.add_argument("--pin", action="store_true", help="server on core 0, wrk on core 1 (steadier, harsher)")
    args = parser.parse_args()
    quick = args.quick
    steps = set(args.only or STEPS)
    started = datetime.datetime.now(datetime.UTC)
    clock = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="permit-bench-"))
    step: Callable[[str], None] = lambda name: print(f"[{time.perf_counter() - clock:6.0f} s] {name}", flush=True)  # noqa: E731
    try:
        now = int(time.time())
        if steps & {"verify", "http", "soak", "flood", "fleet"}:
            step("building the small registry and tokens")
            small = build(work / "small", now, agencies=4, keys_per_agency=1, list_size=131_072, revoked_share=0.01,
                          tokens=2_000 if quick else 20_000)
            small_tokens = work / "small-tokens.txt"
            small_tokens.write_text("\n".join(small.valid))
            mixed = work / "mixed-tokens.txt"
            mixed.write_text("\n".join(small.valid[:5000] + small.revoked * 25 + small.forged * 25))

        if "verify" in steps:
            step("1. verification in-process")
            bench_verify(small.home, small.valid, 3 if quick else 7)

        if "http" in steps:
            large_home = large_tokens = None
            if not quick:
                step("building the large registry: 1,000 agencies × 3 keys, lists of 2^21 entries (1M permits, 10,000 revoked)")
                large = build(work / "large", now, agencies=1000, keys_per_agency=3, list_size=2**21,
                              revoked_share=10_000 / 2**21, tokens=20_000)
                large_home = large.home
                large_tokens = work / "large-tokens.txt"
                large_tokens.write_text("\n".join(large.valid))
            step("2. and 3. the HTTP endpoint")
            bench_http(small.home, small_tokens, large_home, large_tokens, 3 if quick else 6, 1 if quick else 5,
                       args.workers, args.threads, args.worker_class, args.pin)

        if "soak" in steps:
            step("soak")
            bench_soak(small.home, mixed, 5 if quick else 60)

        if "flood" in steps:
            step("push flood")
            bench_push_flood(small.home, small_tokens, 5 if quick else 30)

        if "import" in steps:
            step("4. import")
            import_home = bench_import(work, 20_000 if quick else 1_000_000)

            step("5. status list")
            bench_status_list(import_home, 0.01)

        if "qr" in steps:
            step("6. QR")
            bench_qr(work)

        if "fleet" in steps:
            step("7. the fleet: through nginx to two nodes")
            bench_fleet_http(work, small.home, small_tokens, 3 if quick else 6, 1 if quick else 5)
            step("7. the fleet: a node's pulls from the origin")
            bench_pull_cost(work, 100 if quick else 1000, 10, 20 if quick else 120)
            step("7. the fleet: a revocation's way to every node")
            bench_propagation(work, 2 if quick else 10, 2 if quick else 7)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.only:
        step("done (a partial run: no results file written)")
    else:
        write_results(started, time.perf_counter() - clock, quick)
        step(f"done: {BENCH / ('RESULTS.quick.md' if quick else 'RESULTS.md')}")
    print(f"peak memory of the harness: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
