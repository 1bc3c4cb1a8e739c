"""``voiceapp dialer`` as real processes on a real Redis: several workers never dial
a call twice, and a dialer killed with SIGKILL mid-call loses nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from support.sites import Site, serve_site

from voiceapp.calls.records import CallSpec
from voiceapp.stores.calls import open_call_store
from voiceapp.stores.calls.base import CallStore

SECRET = "process-test-token-key"
FETCH_SECRET = "process-test-fetch-key"
CALLBACK_SECRET = "process-test-callback-key"
CALLER = "+19499300360"
SHORT_XML = b"<Response><Say>Hi</Say></Response>"
LONG_XML = b'<Response><Say>Your pin is 8 9 7 0</Say><Pause length="60"/></Response>'
ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.timeout(180)


class DialerProcess:
    """A ``voiceapp dialer`` subprocess whose stdout lines are collected."""

    def __init__(self, config: Path, *args: str) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env.pop("VOICEAPP_CONFIG", None)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "voiceapp", "dialer", "--config", str(config), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env=env,
        )
        self.lines: list[str] = []
        self.errors: list[str] = []
        self._readers = [
            threading.Thread(target=self._read, args=(self.proc.stdout, self.lines), daemon=True),
            threading.Thread(target=self._read, args=(self.proc.stderr, self.errors), daemon=True),
        ]
        for reader in self._readers:
            reader.start()
        if not wait_for(
            lambda: any(line.startswith("voiceapp dialer ready") for line in self.lines)
        ):
            self.kill()
            raise AssertionError(f"the dialer did not start: {self.lines} {self.errors}")

    @staticmethod
    def _read(stream: object, into: list[str]) -> None:
        assert stream is not None
        for line in stream:  # type: ignore[attr-defined]
            into.append(line.rstrip("\n"))

    def finished_sids(self) -> set[str]:
        return {line.split()[0] for line in self.lines if line.startswith("CA")}

    def terminate(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=20)
        finally:
            self.kill()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=20)
        for reader in self._readers:
            reader.join(5)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


def wait_for(predicate: Callable[[], bool], timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def write_config(tmp_path: Path, store_url: str, site: Site, **settings: object) -> Path:
    lines = [
        "testing = true",
        f'url_allowlist = ["{site.base.removeprefix("http://")}"]',  # the site's loopback port
        f'store_url = "{store_url}"',
        f'secret_keys = ["{SECRET}"]',
        f'signature_secrets = ["{FETCH_SECRET}"]',
        f'callback_secrets = ["{CALLBACK_SECRET}"]',
        "dialer_poll = 0.05",
    ]
    lines += [f"{key} = {value}" for key, value in settings.items()]
    lines += [
        "[network]",
        "ring_seconds = 0.2",
        "[network.default]",
        "rings = 1",
        "[callback_retry]",
        "attempts = 100",
        "first_delay = 0.3",
        "factor = 1.0",
        "max_delay = 0.3",
    ]
    path = tmp_path / f"dialer-{uuid.uuid4().hex[:6]}.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def store_url(redis_server: str) -> str:
    return f"{redis_server.rsplit('/', 1)[0]}/7?prefix=dialer-{uuid.uuid4().hex[:8]}:"


@pytest.fixture
def store(store_url: str) -> Iterator[CallStore]:
    calls = open_call_store(store_url)
    yield calls
    calls.close()


@pytest.fixture
def site() -> Iterator[Site]:
    with serve_site(
        FETCH_SECRET, CALLBACK_SECRET, documents={"short": SHORT_XML, "long": LONG_XML}
    ) as running:
        yield running


def number(index: int) -> str:
    return f"+8869123{index:05d}"


def enqueue(store: CallStore, site: Site, sid: str, to: str, doc: str) -> None:
    store.create(
        CallSpec(
            sid=sid,
            from_=CALLER,
            to=to,
            url=site.url(f"/doc/{doc}"),
            status_callback=site.url("/cb"),
            status_callback_events=("answered", "completed"),
        )
    )


def test_two_dialer_processes_dial_each_of_200_calls_once(
    tmp_path: Path, store_url: str, store: CallStore, site: Site
) -> None:
    sids = [f"CAmany{index:03d}" for index in range(200)]
    for index, sid in enumerate(sids):
        enqueue(store, site, sid, number(index), "short")
    config = write_config(tmp_path, store_url, site, dialer_concurrency=25)
    first = DialerProcess(config, "--workers", "2")  # two workers (threads) in this one
    second = DialerProcess(config)
    try:
        assert wait_for(
            lambda: all(store.require(sid).status == "completed" for sid in sids), 90
        ), [store.require(sid).status for sid in sids]
        assert site.wait(lambda: len(site.accepted) == 400)
    finally:
        codes = (first.terminate(), second.terminate())
    assert codes == (0, 0), (first.errors, second.errors)
    # each call was fetched exactly once, by one process, with a good signature
    assert site.fetches == dict.fromkeys(sids, 1)
    assert site.bad_signatures == []
    ran_first, ran_second = first.finished_sids(), second.finished_sids()
    assert ran_first and ran_second  # both worked
    assert ran_first.isdisjoint(ran_second)
    assert ran_first | ran_second == set(sids)
    for sid in sids:
        record = store.require(sid)
        assert record.takes == 1
        assert [c.status for c in record.legs[0].history] == [
            "queued",
            "initiated",
            "ringing",
            "in-progress",
            "completed",
        ]
        assert [(e.name, e.state) for e in record.events] == [
            ("answered", "delivered"),
            ("completed", "delivered"),
        ]
    # every event delivered once (the receiver never failed)
    assert all(len(accepted) == 1 for accepted in site.accepted.values())


def test_a_dialer_killed_mid_call_loses_nothing(
    tmp_path: Path, store_url: str, store: CallStore, site: Site
) -> None:
    site.fail_first = 10_000  # the receiver is down: every event stays pending
    enqueue(store, site, "CAdone", number(1), "short")  # ends before the kill
    for index in range(2, 5):
        enqueue(store, site, f"CAtalk{index}", number(index), "long")  # talking at the kill
    config = write_config(tmp_path, store_url, site, dialer_lease=2, dialer_concurrency=4)
    victim = DialerProcess(config)
    talking = [f"CAtalk{index}" for index in range(2, 5)]
    try:
        assert wait_for(
            lambda: (
                store.require("CAdone").status == "completed"
                and all(store.require(sid).status == "in-progress" for sid in talking)
            )
        )
        # tries were made (and failed) before the kill; a leg's events go out in order,
        # so CAdone's completed event waits behind its answered one, never tried
        assert site.wait(
            lambda: (
                site.tries["CAdone:answered"] >= 2
                and all(site.tries[f"{sid}:answered"] >= 1 for sid in talking)
            )
        )
    finally:
        victim.proc.send_signal(signal.SIGKILL)
        victim.kill()
    killed_at = time.time()
    enqueue(store, site, "CAlater", number(9), "short")  # queued while no dialer runs
    pending = {e.event_id for e in store.undelivered()}
    assert {"CAdone:answered", "CAdone:completed", *(f"{sid}:answered" for sid in talking)} == (
        pending
    )
    assert not store.require("CAdone").events[1].attempts
    with site.lock:
        site.fail_first = 0  # the receiver is back
        tries_before = dict(site.tries)

    heir = DialerProcess(config)
    try:
        assert wait_for(lambda: store.require("CAlater").status == "completed", 60)
        assert wait_for(lambda: not store.undelivered() and not store.expired_leases(), 60)
    finally:
        assert heir.terminate() == 0, heir.errors
    # the calls that were talking were settled as completed, and never dialed again
    for sid in talking:
        record = store.require(sid)
        assert record.status == "completed" and record.recovered
        # the duration known when the dialer died (answer to its last heartbeat or
        # write), not up to the settling after the lease ran out
        answered_at = record.timestamps["in-progress"]
        assert record.duration is not None
        assert 0 <= record.duration <= killed_at - answered_at + 0.5
        assert record.ended_at is not None and record.ended_at >= killed_at
        assert [c.status for c in record.legs[0].history][-2:] == ["in-progress", "completed"]
        assert site.fetches[sid] == 1
    # the call that was still queued was dialed (once) by the heir
    assert site.fetches["CAlater"] == 1 and site.fetches["CAdone"] == 1
    # every event of every call is delivered, once, keeping the attempts made before the kill
    for sid in ["CAdone", "CAlater", *talking]:
        record = store.require(sid)
        assert [e.name for e in record.events] == ["answered", "completed"]
        for event in record.events:
            assert event.state == "delivered", event
            assert len(site.accepted[event.event_id]) == 1, event.event_id
            numbers = [a.number for a in event.attempts]
            assert numbers == list(range(1, len(numbers) + 1))
            # a try made in the last instant before the kill may miss its record (its
            # write was still queued): at most one per event
            assert site.tries[event.event_id] - 1 <= len(numbers) <= site.tries[event.event_id]
            assert site.tries[event.event_id] > tries_before.get(event.event_id, 0)
    settled = site.accepted["CAtalk2:completed"][0]
    # the callback carries the known duration (0 when the kill came within a second of
    # the answer), the one the record shows
    assert settled["CallStatus"] == "completed"
    assert int(settled["CallDuration"]) == store.require("CAtalk2").duration


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ('testing = true\nsecret_keys = ["k"]\n', "needs STORE_URL"),
        (
            'testing = true\nstore_url = "sqlite:///x.db"\n'
            '[network.numbers."+886912345678"]\nrings = "two"\n',
            'network.numbers."+886912345678".rings',
        ),
        (
            'testing = true\nstore_url = "sqlite:///x.db"\n[callback_retry]\nattempts = 0\n',
            "callback_retry.attempts",
        ),
        ('testing = true\nstore_url = "sqlite:///x.db"\ndialer_lease = 0\n', "DIALER_LEASE"),
    ],
)
def test_a_bad_config_stops_the_dialer_at_start(tmp_path: Path, config: str, expected: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(config, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOICEAPP_")}
    result = subprocess.run(
        [sys.executable, "-m", "voiceapp", "dialer", "--config", str(path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=60,
    )
    assert result.returncode != 0
    assert expected in result.stderr, result.stderr
    assert not (tmp_path / "x.db").exists()  # nothing was opened
