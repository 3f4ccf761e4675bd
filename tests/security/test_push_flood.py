"""The push flood (issue 12, point 2): anyone may PUT a registry or a status list, so four
clients pushing hostile 16 MiB documents in a loop must not keep an agency's genuine revocation
out, nor stop the verifier answering. A real `permit serve` (gunicorn, 2 workers × 2 threads,
as by default), the agency in its own home, the verifier in another."""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.request
from collections import Counter
from pathlib import Path

from attack_http import live_city
from conftest import start_server, verifier_home

from bench.flood import CLOSED, Flood, Latencies, hostile_documents, measure_verify
from verifier.http_client import endpoint, put

QUIET_SECONDS = 10
FLOOD_SECONDS = 30
IN_FULL_SWING = 100  # hostile pushes answered before the agency pushes
PUSH_TIMEOUT = 5  # the agency's client gives up after this
POLL_INTERVAL = 2  # permit serve's default: how often a worker reads the home again
REFUSALS = {413, 422, 429}  # too large; refused on its form or its signatures; busy, come back


def _verdict(url: str, token: str) -> str:
    request = urllib.request.Request(f"{url}/api/v1/verify", data=json.dumps({"token": token}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return str(json.loads(response.read())["status"])


def _answered_pushes(access_log: Path) -> Counter[int]:
    return Counter(int(status) for status in re.findall(r'"PUT /api/v1/\S+ HTTP/1\.1" (\d{3}) ', access_log.read_text()))


def _ms(latencies: Latencies, share: float) -> str:
    return f"{latencies.p(share) * 1000:.1f} ms"


def test_flood_of_hostile_16_mib_pushes_neither_delays_a_revocation_nor_stops_verification(
    city_template: Path, tmp_path: Path
) -> None:
    city = live_city(city_template, tmp_path)
    now = int(time.time())
    record = city.issue(at=now, number="FLOOD-1")
    city.publish_status("hcm-syt", at=now)
    access_log = tmp_path / "access.log"
    url, process = start_server(verifier_home(city.home.path, tmp_path / "verifier"), access_log)
    documents = hostile_documents(city.home.anchor(), "hcm-syt", city.signers["hcm-syt"].public_key(), now)
    flood = Flood(url, documents, clients=4)
    try:
        assert _verdict(url, record.token) == "valid"
        started = time.monotonic()
        quiet = measure_verify(url, record.token, lambda: time.monotonic() - started > QUIET_SECONDS)

        flood.start()
        flood_started = time.monotonic()
        during: list[Latencies] = []
        sampler = threading.Thread(target=lambda: during.append(
            measure_verify(url, record.token, lambda: time.monotonic() - flood_started > FLOOD_SECONDS)))
        sampler.start()

        # In the thick of the flood, the agency suspends the permit and pushes its new list, as
        # `permit status push` does, with a client that gives up after PUSH_TIMEOUT.
        while flood.pushed() < IN_FULL_SWING and time.monotonic() - flood_started < FLOOD_SECONDS / 2:
            time.sleep(0.1)
        city.change(record, "suspended")
        pushed = city.publish_status("hcm-syt", at=int(time.time()))
        push_started, pushed_before = time.monotonic(), flood.pushed()
        push_at = push_started - flood_started
        answer = put(endpoint(url, "status/hcm-syt"), pushed.token.encode("ascii") + b"\n",
                     "application/statuslist+jwt", timeout=PUSH_TIMEOUT)
        push_seconds = time.monotonic() - push_started
        # Every worker answers with the new list soon after: the one that took the push at once,
        # the other once it next reads the home (every POLL_INTERVAL seconds). A run of answers
        # that are all "suspended" can come from the first worker alone, so wait out two rounds.
        time.sleep(max(0.0, push_started + 2 * POLL_INTERVAL + 1 - time.monotonic()))
        seen_suspended = {_verdict(url, record.token) for _ in range(20)}

        sampler.join()
        (loaded,) = during
    finally:
        flood.stop()
        process.terminate()
        process.wait(timeout=30)

    answered = _answered_pushes(access_log)
    print(f"\nverify, quiet: {len(quiet.seconds)} requests, p50 {_ms(quiet, 0.5)}, p99 {_ms(quiet, 0.99)}")
    print(f"verify, during the flood: {len(loaded.seconds)} requests, p50 {_ms(loaded, 0.5)}, p99 {_ms(loaded, 0.99)}, "
          f"max {max(loaded.seconds) * 1000:.0f} ms")
    print(f"the genuine status push, {push_at:.1f} s into the flood ({pushed_before} hostile pushes before it): "
          f"accepted in {push_seconds:.2f} s")
    print(f"pushes answered (access log): {dict(sorted(answered.items()))}")
    for (name, outcome), count in sorted(flood.outcomes.items(), key=str):
        print(f"  flood client saw: {name}: {outcome} × {count}")

    assert answer["accepted"] is True and answer["agency"] == "hcm-syt"
    assert push_seconds < PUSH_TIMEOUT and pushed_before >= IN_FULL_SWING
    assert seen_suspended == {"suspended"}
    # Verification kept answering, every request, and not much slower.
    assert quiet.statuses == Counter({200: len(quiet.seconds)})
    assert loaded.statuses == Counter({200: len(loaded.seconds)})
    assert loaded.p(0.99) < 1.0, f"p99 during the flood {_ms(loaded, 0.99)}"
    # Every hostile push was refused as such: never accepted, never a 5xx, never left hanging.
    assert set(flood.statuses) <= REFUSALS | {CLOSED}, flood.statuses
    assert set(answered) == REFUSALS | {200}, answered  # the one 200: the agency's push
    assert answered[200] == 1
    checked = {name for (name, outcome) in flood.outcomes if outcome == 422}
    assert checked == {d.name for d in documents if "16 MiB" not in d.name}, checked
