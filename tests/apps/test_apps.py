"""The voice apps as plain functions: variables in, validated documents out, both languages."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from voiceapp.apps import Context, TemplateError, Templates, check_templates, get_app, registry
from voiceapp.apps.pin import MAX_ATTEMPTS
from voiceapp.document import Node, parse
from voiceapp.errors import DigitsError, PhoneError, ValidationError
from voiceapp.stores.base import Session

LANGUAGES = ("en", "zh-TW")
TO = "+14155550123"


class Steps:
    """A step_url that records what the app asked for and returns a fake URL."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any], int | None]] = []

    def __call__(self, step: str, data: Mapping[str, Any], *, ttl: int | None = None) -> str:
        self.calls.append((step, dict(data), ttl))
        return f"https://voice.test/voice/step/{step}-{len(self.calls)}?x=1&y=2"

    def data_of(self, url: str) -> tuple[str, dict[str, Any]]:
        index = int(url.split("/")[-1].split("?")[0].rsplit("-", 1)[1]) - 1
        step, data, _ = self.calls[index]
        return step, data


@pytest.fixture(scope="module")
def templates() -> Templates:
    return Templates()


def run(
    templates: Templates,
    app: str,
    variables: Mapping[str, Any],
    language: str,
    step: tuple[str, Mapping[str, Any], Mapping[str, str]] | None = None,
) -> tuple[Node, Steps]:
    steps = Steps()
    the_app = get_app(app)
    session = Session("s1", app, TO, the_app.validate(variables), language, 0.0, 600.0)
    if step is None:
        body = the_app.start(Context(session, templates, steps, 0.0))
    else:
        name, data, params = step
        body = the_app.step(Context(session, templates, steps, 0.0, params), name, data)
    assert b"<Response" in body
    return parse(body), steps


def verbs(doc: Node) -> list[str]:
    return [node.tag for node in doc.elements]


def says(doc: Node) -> list[str]:
    return [node.text for node in doc.iter() if node.tag == "Say"]


# -- registry and templates ---------------------------------------------------------------


def test_registry_lists_the_apps() -> None:
    assert set(registry()) >= {"pin", "pin-verify", "bridge", "ivr"}
    with pytest.raises(ValidationError) as info:
        get_app("fax")
    assert info.value.field == "app"
    assert info.value.code == "unknown-app"


def test_every_builtin_template_renders_and_validates(templates: Templates) -> None:
    assert check_templates(templates) == ["en", "zh-TW"]


def test_a_broken_override_names_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "en").mkdir()
    bad = tmp_path / "en" / "pin.xml"
    bad.write_text(
        '<Response>\n  <Say>Your pin is {{ digits }}</Say>\n  <Pause length="x"/>\n</Response>\n'
    )
    with pytest.raises(TemplateError) as info:
        check_templates(Templates([tmp_path]))
    assert info.value.file == str(bad)
    assert info.value.line == 3
    assert f"{bad}:3" in str(info.value)


def test_a_jinja_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "zh-TW").mkdir()
    bad = tmp_path / "zh-TW" / "ivr_say.xml"
    bad.write_text("<Response>\n  <Say>{{ text }}</Say>\n{% if next_url %}\n</Response>\n")
    with pytest.raises(TemplateError) as info:
        check_templates(Templates([tmp_path]))
    assert info.value.file == str(bad)
    assert info.value.line is not None and info.value.line >= 3
    assert info.value.code == "template-syntax"


def test_an_undefined_variable_names_the_template_line(tmp_path: Path) -> None:
    (tmp_path / "en").mkdir()
    bad = tmp_path / "en" / "bridge_whisper.xml"
    bad.write_text("<Response>\n\n  <Say>{{ whisper_text }}</Say>\n</Response>\n")
    with pytest.raises(TemplateError) as info:
        check_templates(Templates([tmp_path]))
    assert info.value.file == str(bad)
    assert info.value.line == 3
    assert info.value.code == "template-render"


def test_an_override_folder_rewords_one_file_and_keeps_the_rest(tmp_path: Path) -> None:
    (tmp_path / "en").mkdir()
    (tmp_path / "en" / "pin.xml").write_text(
        "<Response>\n  <Say>Code: {{ digits }}</Say>\n  <Hangup/>\n</Response>\n"
    )
    templates = Templates([tmp_path])
    assert check_templates(templates) == ["en", "zh-TW"]
    doc, _ = run(templates, "pin", {"pin": "1234"}, "en")
    assert says(doc) == ["Code: 1 2 3 4"]
    doc, _ = run(templates, "pin-verify", {"pin": "1234"}, "en")  # built-in file still used
    assert verbs(doc) == ["Gather", "Redirect"]


# -- pin ------------------------------------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
def test_pin_says_the_digits_repeat_times_then_hangs_up(
    templates: Templates, language: str
) -> None:
    doc, steps = run(templates, "pin", {"pin": "8970", "repeat": 3}, language)
    assert verbs(doc)[-1] == "Hangup"
    spoken = says(doc)
    assert len(spoken) == 3
    for text in spoken:
        assert "8 9 7 0" in text
    if language == "en":
        assert spoken[0].startswith("Your pin is 8 9 7 0")
    else:
        assert spoken[0].startswith("您的密碼是 8 9 7 0")
        assert all(n.get("language") == "zh-TW" for n in doc.iter() if n.tag == "Say")
    assert steps.calls == []


@pytest.mark.parametrize(
    ("variables", "field", "code"),
    [
        ({}, "variables.pin", "missing"),
        ({"pin": "123"}, "variables.pin", "invalid-pin"),
        ({"pin": "12345678901"}, "variables.pin", "invalid-pin"),
        ({"pin": 8970}, "variables.pin", "invalid-pin"),
        ({"pin": "89a0"}, "variables.pin", "invalid-pin"),
        ({"pin": "8970", "repeat": 0}, "variables.repeat", "invalid-range"),
        ({"pin": "8970", "repeat": True}, "variables.repeat", "invalid-range"),
        ({"pin": "8970", "colour": "red"}, "variables.colour", "unknown-field"),
    ],
)
def test_pin_refuses_bad_variables(variables: dict[str, Any], field: str, code: str) -> None:
    with pytest.raises(ValidationError) as info:
        get_app("pin").validate(variables)
    assert (info.value.field, info.value.code, info.value.status) == (field, code, 422)


def test_pin_keeps_leading_zeros_and_defaults_repeat() -> None:
    assert get_app("pin").validate({"pin": "0042"}) == {"pin": "0042", "repeat": 2}


# -- pin-verify -------------------------------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
def test_pin_verify_prompts_with_a_gather_and_a_step_action(
    templates: Templates, language: str
) -> None:
    doc, steps = run(templates, "pin-verify", {"pin": "897012"}, language)
    assert verbs(doc) == ["Gather", "Redirect"]
    gather = doc.elements[0]
    assert gather.get("numDigits") == 6
    assert gather.get("action") == doc.elements[1].value  # silence consumes the same step
    assert steps.data_of(gather.get("action")) == ("check", {"attempt": 1})
    assert "6" in says(doc)[0]


@pytest.mark.parametrize("language", LANGUAGES)
def test_pin_verify_answers_success_failure_and_lock_out(
    templates: Templates, language: str
) -> None:
    pin = {"pin": "8970"}
    doc, _ = run(
        templates, "pin-verify", pin, language, ("check", {"attempt": 2}, {"Digits": "8970"})
    )
    assert verbs(doc) == ["Say", "Hangup"]
    success = says(doc)[0]

    doc, steps = run(
        templates, "pin-verify", pin, language, ("check", {"attempt": 2}, {"Digits": "1"})
    )
    assert verbs(doc) == ["Gather", "Redirect"]
    assert steps.data_of(doc.elements[0].get("action")) == ("check", {"attempt": 3})
    wrong = says(doc)[0]
    assert str(MAX_ATTEMPTS - 2) in wrong  # attempts left

    doc, steps = run(
        templates,
        "pin-verify",
        pin,
        language,
        ("check", {"attempt": MAX_ATTEMPTS}, {"Digits": "1"}),
    )
    assert verbs(doc) == ["Say", "Hangup"]
    assert steps.calls == []  # nothing to continue with
    locked = says(doc)[0]
    assert len({success, wrong, locked}) == 3


def test_pin_verify_silence_counts_as_an_attempt(templates: Templates) -> None:
    doc, steps = run(templates, "pin-verify", {"pin": "8970"}, "en", ("check", {"attempt": 1}, {}))
    assert steps.data_of(doc.elements[0].get("action")) == ("check", {"attempt": 2})
    assert "did not receive" in says(doc)[0]


# -- bridge ---------------------------------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
def test_bridge_dials_a_number_with_send_digits_caller_id_and_whisper(
    templates: Templates, language: str
) -> None:
    variables = {
        "number": "+14155550100",
        "send_digits": "ww101",
        "caller_id": "+14155550199",
        "timeout": 20,
        "whisper": "Lead from <web> & co",
    }
    doc, steps = run(templates, "bridge", variables, language)
    assert verbs(doc) == ["Say", "Dial"]
    dial = doc.elements[1]
    assert dial.get("callerId") == "+14155550199"
    assert dial.get("timeout") == 20
    assert steps.data_of(dial.get("action"))[0] == "dialed"
    (number,) = dial.elements
    assert number.tag == "Number"
    assert number.value == "+14155550100"
    assert number.get("sendDigits") == "ww101"
    step, data = steps.data_of(number.get("url"))
    assert step == "whisper"
    whisper, _ = run(templates, "bridge", variables, language, (step, data, {}))
    assert says(whisper) == ["Lead from <web> & co"]  # escaped in XML, intact as text


@pytest.mark.parametrize("language", LANGUAGES)
def test_bridge_to_a_queue_and_the_no_answer_fallback(templates: Templates, language: str) -> None:
    doc, _ = run(templates, "bridge", {"queue": "support"}, language)
    (queue,) = doc.elements[1].elements
    assert (queue.tag, queue.text) == ("Queue", "support")
    for status, spoken in [("completed", False), ("no-answer", True), ("busy", True), ("", True)]:
        after, _ = run(
            templates,
            "bridge",
            {"queue": "support"},
            language,
            ("dialed", {}, {"DialCallStatus": status}),
        )
        assert verbs(after)[-1] == "Hangup"
        assert bool(says(after)) is spoken


def test_bridge_checks_send_digits_with_the_dtmf_parser() -> None:
    with pytest.raises(DigitsError) as info:
        get_app("bridge").validate({"number": "+14155550100", "send_digits": "ww1x1"})
    assert info.value.field == "variables.send_digits"
    assert info.value.index == 3


@pytest.mark.parametrize(
    ("variables", "error", "field"),
    [
        ({}, ValidationError, "variables.number"),
        ({"number": "+14155550100", "queue": "q"}, ValidationError, "variables.number"),
        ({"number": "12"}, PhoneError, "variables.number"),
        ({"number": "+14155550100", "caller_id": "abc"}, PhoneError, "variables.caller_id"),
        ({"queue": "<bad>"}, ValidationError, "variables.queue"),
        ({"queue": "q", "send_digits": "1"}, ValidationError, "variables.send_digits"),
        ({"queue": "q", "timeout": 1}, ValidationError, "variables.timeout"),
    ],
)
def test_bridge_refuses_bad_variables(
    variables: dict[str, Any], error: type[Exception], field: str
) -> None:
    with pytest.raises(error) as info:
        get_app("bridge").validate(variables)
    assert getattr(info.value, "field", None) == field


# -- ivr ------------------------------------------------------------------------------------

MENU: dict[str, Any] = {
    "prompt": "For hours press 1. For sales press 2. For more press 3.",
    "options": {
        "1": {"say": "We are open 9 to 5."},
        "2": {"bridge": {"number": "+14155550100", "send_digits": "ww101"}},
        "3": {
            "menu": {
                "prompt": "Press 9 to hang up.",
                "options": {"9": {"say": "Bye.", "then": "hangup"}},
            }
        },
    },
    "retries": 1,
}


@pytest.mark.parametrize("language", LANGUAGES)
def test_ivr_menu_is_a_one_digit_gather_with_a_redirect_back(
    templates: Templates, language: str
) -> None:
    doc, steps = run(templates, "ivr", MENU, language)
    assert verbs(doc) == ["Gather", "Say", "Redirect"]
    gather = doc.elements[0]
    assert gather.get("numDigits") == 1
    assert says(doc)[0] == MENU["prompt"]
    assert steps.data_of(gather.get("action")) == ("choose", {"path": "", "tries": 0})
    assert steps.data_of(doc.elements[2].value) == ("menu", {"path": "", "tries": 1})
    # retries used up: goodbye instead of another redirect
    doc, _ = run(templates, "ivr", MENU, language, ("menu", {"path": "", "tries": 1}, {}))
    assert verbs(doc) == ["Gather", "Say", "Hangup"]


@pytest.mark.parametrize("language", LANGUAGES)
def test_ivr_options_say_bridge_and_submenu(templates: Templates, language: str) -> None:
    def choose(digit: str, path: str = "", tries: int = 0) -> tuple[Node, Steps]:
        data = {"path": path, "tries": tries}
        return run(templates, "ivr", MENU, language, ("choose", data, {"Digits": digit}))

    doc, steps = choose("1")
    assert says(doc) == ["We are open 9 to 5."]
    assert steps.data_of(doc.elements[1].value) == ("menu", {"path": "", "tries": 0})

    doc, steps = choose("2")
    assert verbs(doc) == ["Say", "Dial"]
    assert doc.elements[1].elements[0].get("sendDigits") == "ww101"
    assert steps.data_of(doc.elements[1].get("action")) == ("dialed", {"path": "2"})

    doc, steps = choose("3")
    assert says(doc)[0] == "Press 9 to hang up."
    assert steps.data_of(doc.elements[0].get("action")) == ("choose", {"path": "3", "tries": 0})

    doc, _ = choose("9", path="3")
    assert verbs(doc) == ["Say", "Hangup"]


@pytest.mark.parametrize("language", LANGUAGES)
def test_ivr_invalid_input_retries_then_gives_up(templates: Templates, language: str) -> None:
    data = {"path": "", "tries": 0}
    doc, steps = run(templates, "ivr", MENU, language, ("choose", data, {"Digits": "7"}))
    assert verbs(doc) == ["Say", "Redirect"]
    assert "7" in says(doc)[0]
    assert steps.data_of(doc.elements[1].value) == ("menu", {"path": "", "tries": 1})
    data = {"path": "", "tries": 1}
    doc, _ = run(templates, "ivr", MENU, language, ("choose", data, {"Digits": "7"}))
    assert verbs(doc)[-1] == "Hangup"


@pytest.mark.parametrize(
    ("variables", "field"),
    [
        ({"prompt": "p"}, "variables.options"),
        ({"prompt": "p", "options": {}}, "variables.options"),
        ({"prompt": "p", "options": {"12": {"say": "x"}}}, "variables.options.12"),
        ({"prompt": "p", "options": {"1": {"say": "x", "menu": {}}}}, "variables.options.1"),
        (
            {"prompt": "p", "options": {"1": {"say": "x", "then": "dance"}}},
            "variables.options.1.then",
        ),
        (
            {"prompt": "p", "options": {"1": {"bridge": {"number": "+1415555010"}}}},
            "variables.options.1.bridge.number",
        ),
        (
            {"prompt": "p", "options": {"1": {"menu": {"prompt": "q", "options": {"2": {}}}}}},
            "variables.options.1.menu.options.2",
        ),
        ({"prompt": "", "options": {"1": {"say": "x"}}}, "variables.prompt"),
    ],
)
def test_ivr_refuses_bad_trees_with_the_path_of_the_problem(
    variables: dict[str, Any], field: str
) -> None:
    with pytest.raises((ValidationError, PhoneError)) as info:
        get_app("ivr").validate(variables)
    assert getattr(info.value, "field", None) == field


def test_the_apps_layer_does_not_import_flask() -> None:
    import subprocess
    import sys

    code = (
        "import sys, voiceapp.apps\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('flask', 'werkzeug')"
        " or m.startswith(('voiceapp.web', 'voiceapp.cli', 'voiceapp.dialer'))]\n"
        "print(bad); sys.exit(1 if bad else 0)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
