"""Benchmark of the document core against its peers, in one process.

1. build + validate + serialize three documents (the PIN ``<Say>``, an IVR
   ``<Gather>`` menu with a fallback ``<Say>`` and ``<Redirect>``, a bridge
   ``<Dial><Number sendDigits="wwww101">``) with voiceapp's builder, twilio-python's
   ``VoiceResponse`` (which does not validate) and raw ``lxml.etree``;
2. parse + lint of the same three documents against a bare hardened
   ``lxml.etree.fromstring``.

Runs are interleaved (every contender once per round), each run times a batch of
operations in the process's CPU time (``time.process_time``: the shared machine's load
moves it less than the wall clock), and the figures are medians over rounds.
Targets: voiceapp >= 6x twilio-python with validation on; parse + lint >= 0.6x the
bare parse.

3. for information, the same with values that differ in every document (a number,
   URLs, a caller ID, digits), so that no memo of checked values can help.

    .venv/bin/python bench/bench_document.py [--rounds 15] [--batch 2000] [--fresh-batch 300]
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from lxml import etree
from twilio.twiml.voice_response import VoiceResponse

from voiceapp import Response, check
from voiceapp.document.parser import new_parser

PIN = "Your pin is 8 9 7 0"
MENU = "For sales, press 1. For support, press 2."


# ---------------------------------------------------------------- voiceapp


def va_pin() -> bytes:
    r = Response()
    r.say(PIN, voice="alice", loop=2).hangup()
    return r.to_xml()


def va_ivr() -> bytes:
    r = Response()
    with r.gather(num_digits=1, action="/ivr/choice", timeout=6) as g:
        g.say(MENU, voice="alice")
    r.say("We did not receive your choice.", voice="alice")
    r.redirect("/ivr/menu", method="POST")
    return r.to_xml()


def va_bridge() -> bytes:
    r = Response()
    r.dial(caller_id="+15005550006", timeout=30).number("+18005797676", send_digits="wwww101")
    return r.to_xml()


# ---------------------------------------------------------------- twilio-python


def tw_pin() -> bytes:
    r = VoiceResponse()
    r.say(PIN, voice="alice", loop=2)
    r.hangup()
    return r.to_xml().encode()


def tw_ivr() -> bytes:
    r = VoiceResponse()
    g = r.gather(num_digits=1, action="/ivr/choice", timeout=6)
    g.say(MENU, voice="alice")
    r.say("We did not receive your choice.", voice="alice")
    r.redirect("/ivr/menu", method="POST")
    return r.to_xml().encode()


def tw_bridge() -> bytes:
    r = VoiceResponse()
    d = r.dial(caller_id="+15005550006", timeout=30)
    d.number("+18005797676", send_digits="wwww101")
    return r.to_xml().encode()


# ---------------------------------------------------------------- raw lxml


def _lx(root: etree._Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def lx_pin() -> bytes:
    r = etree.Element("Response")
    s = etree.SubElement(r, "Say", voice="alice", loop="2")
    s.text = PIN
    etree.SubElement(r, "Hangup")
    return _lx(r)


def lx_ivr() -> bytes:
    r = etree.Element("Response")
    g = etree.SubElement(r, "Gather", numDigits="1", action="/ivr/choice", timeout="6")
    etree.SubElement(g, "Say", voice="alice").text = MENU
    etree.SubElement(r, "Say", voice="alice").text = "We did not receive your choice."
    etree.SubElement(r, "Redirect", method="POST").text = "/ivr/menu"
    return _lx(r)


def lx_bridge() -> bytes:
    r = etree.Element("Response")
    d = etree.SubElement(r, "Dial", callerId="+15005550006", timeout="30")
    etree.SubElement(d, "Number", sendDigits="wwww101").text = "+18005797676"
    return _lx(r)


BUILD: dict[str, dict[str, Callable[[], bytes]]] = {
    "voiceapp": {"pin": va_pin, "ivr": va_ivr, "bridge": va_bridge},
    "twilio-python": {"pin": tw_pin, "ivr": tw_ivr, "bridge": tw_bridge},
    "raw lxml": {"pin": lx_pin, "ivr": lx_ivr, "bridge": lx_bridge},
}
DOCS = {name: fn() for name, fn in BUILD["voiceapp"].items()}
BARE_PARSER = new_parser()


def va_parse_lint(data: bytes) -> object:
    doc, problems = check(data)
    assert doc is not None and not problems
    return doc


def bare_parse(data: bytes) -> object:
    return etree.fromstring(data, BARE_PARSER)


PARSE: dict[str, Callable[[bytes], object]] = {
    "voiceapp parse+lint": va_parse_lint,
    "bare hardened lxml": bare_parse,
}


# ---------------------------------------------------------------- fresh values
# The same three documents with values that differ in every call (a number, a URL, a
# caller ID, digits), so no memo of checked values can help: an informational figure
# next to the targets, which are measured on the documents above.


def va_fresh(doc: str, n: int) -> bytes:
    r = Response()
    if doc == "pin":
        r.say(f"Your pin is {n:08d}", voice="alice", loop=2).hangup()
    elif doc == "ivr":
        with r.gather(num_digits=1, action=f"/ivr/choice?s={n}", timeout=6) as g:
            g.say(MENU, voice="alice")
        r.say("We did not receive your choice.", voice="alice")
        r.redirect(f"/ivr/menu?s={n}", method="POST")
    else:
        r.dial(caller_id=f"+1{n:010d}", timeout=30).number(f"+2{n:010d}", send_digits=f"ww{n}")
    return r.to_xml()


def tw_fresh(doc: str, n: int) -> bytes:
    r = VoiceResponse()
    if doc == "pin":
        r.say(f"Your pin is {n:08d}", voice="alice", loop=2)
        r.hangup()
    elif doc == "ivr":
        g = r.gather(num_digits=1, action=f"/ivr/choice?s={n}", timeout=6)
        g.say(MENU, voice="alice")
        r.say("We did not receive your choice.", voice="alice")
        r.redirect(f"/ivr/menu?s={n}", method="POST")
    else:
        d = r.dial(caller_id=f"+1{n:010d}", timeout=30)
        d.number(f"+2{n:010d}", send_digits=f"ww{n}")
    return r.to_xml().encode()


FRESH_BUILD: dict[str, Callable[[str, int], bytes]] = {
    "voiceapp": va_fresh,
    "twilio-python": tw_fresh,
}


def _time_each(fn: Callable[[Any], object], inputs: list[Any]) -> float:
    start = time.process_time()
    for item in inputs:
        fn(item)
    return (time.process_time() - start) / len(inputs) * 1e6


def fresh(rounds: int, batch: int) -> None:
    """Build and parse with values never seen before, interleaved, medians."""
    serial = itertools.count(1_000_000)
    # documents to parse, each parsed once (made before timing)
    docs = {d: [va_fresh(d, next(serial)) for _ in range(rounds * batch)] for d in DOCS}
    build: dict[tuple[str, str], list[float]] = {(c, d): [] for c in FRESH_BUILD for d in DOCS}
    parse: dict[tuple[str, str], list[float]] = {(c, d): [] for c in PARSE for d in DOCS}
    for r in range(rounds):
        for doc in DOCS:
            for contender, fn in FRESH_BUILD.items():
                numbers = [next(serial) for _ in range(batch)]
                build[contender, doc].append(_time_each(partial(fn, doc), numbers))
            chunk = docs[doc][r * batch : (r + 1) * batch]
            for contender, parse_fn in PARSE.items():
                parse[contender, doc].append(_time_each(parse_fn, chunk))
    med = {k: statistics.median(v) for k, v in build.items()}
    pmed = {k: statistics.median(v) for k, v in parse.items()}
    va = sum(med["voiceapp", d] for d in DOCS)
    tw = sum(med["twilio-python", d] for d in DOCS)
    va_p = sum(pmed["voiceapp parse+lint", d] for d in DOCS)
    bare = sum(pmed["bare hardened lxml", d] for d in DOCS)
    print("with fresh values in every document (no memo helps), median CPU us per 3 documents")
    print(
        f"build + validate + serialize: voiceapp {va:.2f}, twilio-python {tw:.2f}: {tw / va:.2f}x"
    )
    print(f"parse + lint: voiceapp {va_p:.2f}, bare hardened lxml {bare:.2f}: {bare / va_p:.2f}x")


def _time(fn: Callable[[], object], batch: int) -> float:
    start = time.process_time()
    for _ in range(batch):
        fn()
    return (time.process_time() - start) / batch * 1e6  # microseconds per operation


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--batch", type=int, default=2000)
    ap.add_argument("--fresh-batch", type=int, default=300, help="0 leaves the fresh part out")
    args = ap.parse_args()

    # sanity: every contender writes an equivalent document (attribute order aside)
    for doc in DOCS:
        canon = {etree.tostring(etree.fromstring(BUILD[c][doc]()), method="c14n") for c in BUILD}
        assert len(canon) == 1, f"{doc}: contenders disagree: {canon}"

    build: dict[tuple[str, str], list[float]] = {(c, d): [] for c in BUILD for d in DOCS}
    parse: dict[tuple[str, str], list[float]] = {(c, d): [] for c in PARSE for d in DOCS}
    for _ in range(args.rounds):
        for doc in DOCS:
            for contender, fns in BUILD.items():
                build[contender, doc].append(_time(fns[doc], args.batch))
            data = DOCS[doc]
            for contender, parse_fn in PARSE.items():
                parse[contender, doc].append(_time(partial(parse_fn, data), args.batch))

    med = {k: statistics.median(v) for k, v in build.items()}
    print(f"build + validate + serialize, median CPU us/doc over {args.rounds} interleaved rounds")
    print(f"{'document':<8}" + "".join(f"{c:>16}" for c in BUILD) + "   vs twilio   vs lxml")
    for doc in DOCS:
        row = "".join(f"{med[c, doc]:>16.2f}" for c in BUILD)
        va, tw, lx = med["voiceapp", doc], med["twilio-python", doc], med["raw lxml", doc]
        print(f"{doc:<8}{row}   {tw / va:>8.2f}x {lx / va:>8.2f}x")
    total = {c: sum(med[c, d] for d in DOCS) for c in BUILD}
    print(
        f"{'all':<8}"
        + "".join(f"{total[c]:>16.2f}" for c in BUILD)
        + f"   {total['twilio-python'] / total['voiceapp']:>8.2f}x"
        + f" {total['raw lxml'] / total['voiceapp']:>8.2f}x"
    )
    print("(ratios: peer time / voiceapp time; > 1 means voiceapp is faster; target >= 6x twilio)")
    print()
    pmed = {k: statistics.median(v) for k, v in parse.items()}
    print("parse + lint vs bare hardened lxml.etree.fromstring, median CPU us/doc")
    print(f"{'document':<8}" + "".join(f"{c:>22}" for c in PARSE) + "   speed ratio")
    for doc in DOCS:
        va, bare = pmed["voiceapp parse+lint", doc], pmed["bare hardened lxml", doc]
        print(f"{doc:<8}{va:>22.2f}{bare:>22.2f}   {bare / va:>8.2f}x")
    va_all = sum(pmed["voiceapp parse+lint", d] for d in DOCS)
    bare_all = sum(pmed["bare hardened lxml", d] for d in DOCS)
    print(f"{'all':<8}{va_all:>22.2f}{bare_all:>22.2f}   {bare_all / va_all:>8.2f}x")
    print("(speed ratio: bare time / voiceapp time; target >= 0.6x)")
    if args.fresh_batch:
        print()
        fresh(args.rounds, args.fresh_batch)


if __name__ == "__main__":
    main()
