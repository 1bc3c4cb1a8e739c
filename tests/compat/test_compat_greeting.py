"""The greeting app behind the vendor agents: declared variables, validation, documents."""

from __future__ import annotations

from typing import Any

import pytest

from voiceapp.apps import Context, Templates, get_app
from voiceapp.errors import ValidationError
from voiceapp.stores.base import Session


def render(variables: dict[str, Any], language: str = "en") -> str:
    app = get_app("greeting")
    session = Session("s", "greeting", "+14155550199", app.validate(variables), language, 0, 600)
    ctx = Context(session, Templates(), lambda step, data, ttl=None: "https://x.invalid/s", 0.0)
    return app.start(ctx).decode()


def test_the_document_says_the_variables() -> None:
    text = render({"customerName": "John Doe", "orderId": "12345", "vip": False, "n": 2})
    assert text == (
        '<?xml version="1.0" encoding="UTF-8"?>\n<Response>\n'
        '  <Say language="en-US">Hello John Doe.</Say>\n'
        '  <Say language="en-US">We are calling about your order 12345.</Say>\n'
        '  <Say language="en-US">n: 2.</Say>\n'
        '  <Say language="en-US">vip: no.</Say>\n'
        "  <Hangup/>\n</Response>\n"
    )


def test_markup_in_a_variable_is_text() -> None:
    text = render({"customerName": "<Hangup/> & co"})
    assert "Hello &lt;Hangup/&gt; &amp; co." in text


def test_zh_tw() -> None:
    text = render({"customerName": "王小明", "orderId": "A1"}, "zh-TW")
    assert '<Say language="zh-TW">王小明\uff0c您好。</Say>' in text
    assert "訂單 A1" in text


@pytest.mark.parametrize(
    ("variables", "field", "code"),
    [
        ([], "variables", "invalid-type"),
        ({"customerName": 3}, "variables.customerName", "invalid-type"),
        ({"orderId": "x" * 65}, "variables.orderId", "too-long"),
        ({"note": {"a": 1}}, "variables.note", "invalid-type"),
        ({"note": ["a"]}, "variables.note", "invalid-type"),
        ({"note": None}, "variables.note", "invalid-type"),
        ({"note": float("inf")}, "variables.note", "invalid-type"),
        ({"note": "x" * 1001}, "variables.note", "too-long"),
        ({"bad key": "v"}, "variables.bad key", "invalid-name"),
        ({"_x": "v"}, "variables._x", "invalid-name"),
        ({f"k{i}": "v" for i in range(65)}, "variables", "too-many"),
    ],
)
def test_refused_variables_name_their_field(variables: Any, field: str, code: str) -> None:
    with pytest.raises(ValidationError) as caught:
        get_app("greeting").validate(variables)
    assert (caught.value.field, caught.value.code) == (field, code)
