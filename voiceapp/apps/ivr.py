"""IVR: a menu tree from session data, walked one digit at a time.

Variables::

    {"prompt": "For opening hours press 1. For sales press 2.",
     "options": {
         "1": {"say": "We are open 9 to 5.", "then": "menu"},   # "menu" (default) or "hangup"
         "2": {"bridge": {"number": "+14155550100", "send_digits": "ww101"}},
         "3": {"menu": {"prompt": "...", "options": {...}}}},  # a submenu
     "retries": 2}                                              # re-prompts, 0-5 (default 2)

Each menu is a ``<Gather numDigits="1">`` whose ``action`` is a ``choose`` step
token; when nothing is pressed the document falls through to a ``<Redirect>`` to a
``menu`` step that asks again.  An unknown digit says so and redirects back.  After
``retries`` re-prompts without a valid choice the caller hears goodbye.  Step data
carries only the path of digits from the root and the retry count; the tree itself
stays in the session.  Templates: ``ivr_menu.xml``, ``ivr_say.xml``,
``ivr_invalid.xml``, and the bridge app's templates for bridge options.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from voiceapp.apps.base import App, Context, Example, check_int, check_keys, check_text
from voiceapp.apps.bridge import after_document, check_bridge, dial_document, whisper_document
from voiceapp.errors import ValidationError

#: deepest submenu nesting accepted
MAX_DEPTH = 5
_DIGIT = re.compile(r"[0-9*#]")


def _check_menu(menu: Any, *, at: str, depth: int) -> dict[str, Any]:
    check_keys(menu, required=("prompt", "options"), optional=(), at=at)
    if depth > MAX_DEPTH:
        raise ValidationError(
            f"{at}: menus nest at most {MAX_DEPTH} deep", code="too-deep", field=at
        )
    options = menu["options"]
    if not isinstance(options, Mapping) or not options:
        raise ValidationError(
            f"{at}.options must be a non-empty object of digit -> option",
            code="invalid-type",
            field=f"{at}.options",
        )
    checked: dict[str, Any] = {}
    for digit, option in options.items():
        where = f"{at}.options.{digit}"
        if not isinstance(digit, str) or _DIGIT.fullmatch(digit) is None:
            raise ValidationError(
                f"{where}: an option key is one digit 0-9, * or #",
                code="invalid-digit",
                field=where,
            )
        checked[digit] = _check_option(option, at=where, depth=depth)
    return {"prompt": check_text(menu["prompt"], field=f"{at}.prompt"), "options": checked}


def _check_option(option: Any, *, at: str, depth: int) -> dict[str, Any]:
    if not isinstance(option, Mapping):
        raise ValidationError(f"{at} must be an object", code="invalid-type", field=at)
    kinds = [k for k in ("say", "bridge", "menu") if k in option]
    if len(kinds) != 1:
        raise ValidationError(
            f"{at} needs exactly one of say, bridge or menu", code="missing", field=at
        )
    kind = kinds[0]
    if kind == "say":
        check_keys(option, required=("say",), optional=("then",), at=at)
        then = option.get("then", "menu")
        if then not in ("menu", "hangup"):
            raise ValidationError(
                f"{at}.then must be menu or hangup", code="invalid-choice", field=f"{at}.then"
            )
        return {"say": check_text(option["say"], field=f"{at}.say"), "then": then}
    check_keys(option, required=(kind,), optional=(), at=at)
    if kind == "bridge":
        return {"bridge": check_bridge(option["bridge"], at=f"{at}.bridge")}
    return {"menu": _check_menu(option["menu"], at=f"{at}.menu", depth=depth + 1)}


class IvrApp(App):
    name = "ivr"
    summary = "Menu tree from session data: <Gather numDigits=1>, retries, <Redirect> back."
    templates = ("ivr_menu.xml", "ivr_say.xml", "ivr_invalid.xml")

    def validate(self, variables: Mapping[str, Any]) -> dict[str, Any]:
        check_keys(variables, required=("prompt", "options"), optional=("retries",), at="variables")
        retries = check_int(
            variables.get("retries"), field="variables.retries", low=0, high=5, default=2
        )
        menu = _check_menu(
            {"prompt": variables["prompt"], "options": variables["options"]},
            at="variables",
            depth=1,
        )
        return {**menu, "retries": retries}

    # -- the tree -----------------------------------------------------------------------

    @staticmethod
    def _menu_at(ctx: Context, path: str) -> Mapping[str, Any]:
        menu: Mapping[str, Any] = ctx.variables
        for digit in path:
            option = menu["options"].get(digit)
            if option is None or "menu" not in option:
                raise ValidationError("the step names no menu", code="unknown-step", field="path")
            menu = option["menu"]
        return menu

    @staticmethod
    def _data(data: Mapping[str, Any]) -> tuple[str, int]:
        path, tries = data.get("path", ""), data.get("tries", 0)
        if not isinstance(path, str) or isinstance(tries, bool) or not isinstance(tries, int):
            raise ValidationError("bad step data", code="unknown-step", field="path")
        return path, tries

    def _again(self, ctx: Context, path: str, tries: int) -> str | None:
        """The URL that asks menu ``path`` again, or None when the retries are used up."""
        if tries + 1 > int(ctx.variables["retries"]):
            return None
        return ctx.step_url("menu", {"path": path, "tries": tries + 1})

    def _menu(self, ctx: Context, path: str, tries: int) -> bytes:
        menu = self._menu_at(ctx, path)
        return ctx.document(
            "ivr_menu.xml",
            prompt=menu["prompt"],
            action=ctx.step_url("choose", {"path": path, "tries": tries}),
            again_url=self._again(ctx, path, tries),
            tries=tries,
        )

    # -- the app ------------------------------------------------------------------------

    def start(self, ctx: Context) -> bytes:
        return self._menu(ctx, "", 0)

    def step(self, ctx: Context, step: str, data: Mapping[str, Any]) -> bytes:
        if step == "dialed":
            return after_document(ctx)
        if step == "whisper":
            return whisper_document(ctx, data)
        path, tries = self._data(data)
        if step == "menu":
            return self._menu(ctx, path, tries)
        if step != "choose":
            return super().step(ctx, step, data)
        digit = ctx.params.get("Digits", "")
        option = self._menu_at(ctx, path)["options"].get(digit) if len(digit) == 1 else None
        if option is None:
            return ctx.document(
                "ivr_invalid.xml",
                digits=digit,
                no_input=digit == "",
                next_url=self._again(ctx, path, tries),
            )
        if "menu" in option:
            return self._menu(ctx, path + digit, 0)
        if "bridge" in option:
            return dial_document(ctx, option["bridge"], {"path": path + digit})
        next_url = None
        if option["then"] == "menu":
            next_url = ctx.step_url("menu", {"path": path, "tries": 0})
        return ctx.document("ivr_say.xml", text=option["say"], next_url=next_url)

    def examples(self) -> Iterable[Example]:
        yield Example(
            {
                "prompt": "For opening hours press 1. For sales press 2. For more press 3.",
                "options": {
                    "1": {"say": "We are open 9 to 5 & on <Saturdays>."},
                    "2": {
                        "bridge": {
                            "number": "+14155550100",
                            "send_digits": "ww101",
                            "whisper": "IVR caller",
                        }
                    },
                    "3": {
                        "menu": {
                            "prompt": "Press 9 to end.",
                            "options": {"9": {"say": "Goodbye.", "then": "hangup"}},
                        }
                    },
                },
                "retries": 1,
            },
            steps=(
                ("menu", {"path": "", "tries": 1}, {}),
                ("choose", {"path": "", "tries": 0}, {"Digits": "1"}),
                ("choose", {"path": "", "tries": 0}, {"Digits": "2"}),
                ("choose", {"path": "", "tries": 0}, {"Digits": "3"}),
                ("choose", {"path": "", "tries": 0}, {"Digits": "7"}),
                ("choose", {"path": "", "tries": 1}, {"Digits": ""}),
                ("choose", {"path": "3", "tries": 0}, {"Digits": "9"}),
                ("dialed", {"path": "2"}, {"DialCallStatus": "no-answer"}),
            ),
        )
