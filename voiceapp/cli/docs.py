"""``voiceapp docs``: regenerate ``docs/reference.md`` from the schema.

``voiceapp docs --check`` exits 1 when the file on disk differs from what the schema
gives (the tests run the same comparison).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from voiceapp.cli.output import JsonCommand, echo_json
from voiceapp.schema import ELEMENTS, Element

DEFAULT_PATH = Path(__file__).resolve().parents[2] / "docs" / "reference.md"

_KIND = {"root": "root", "verb": "verb", "noun": "noun", "ssml": "SSML (inside `<Say>`)"}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _parents(element: Element) -> list[str]:
    return [f"`<{p.name}>`" for p in ELEMENTS.values() if element.key in p.children]


def render() -> str:
    """The reference as Markdown; a pure function of the schema."""
    out = [
        "# Voice document reference",
        "",
        "Generated from `voiceapp/schema.py` by `voiceapp docs`; do not edit by hand",
        "(`voiceapp docs --check` fails when this file is stale).",
        "",
        "Builder names are derived from the XML names: the element `<say-as>` is",
        "`say_as()`, the attribute `sendDigits` is `send_digits=`, `xml:lang` is",
        "`xml_lang=`. Lists are space-separated. Defaults are what an absent attribute",
        "means (`node.get(name)` returns them).",
        "",
        "| element | kind | text | children | description |",
        "|---|---|---|---|---|",
    ]
    for e in ELEMENTS.values():
        children = ", ".join(f"`<{ELEMENTS[c].name}>`" for c in e.children) or "-"
        text = "-" if e.text is None else ("required" if e.text_required else "optional")
        anchor = e.key.lower().replace("-", "")
        out.append(
            f"| [`<{e.name}>`](#{anchor}) | {e.kind} | {text} | {children} | {_cell(e.doc)} |"
        )
    for e in ELEMENTS.values():
        out += ["", f'<a id="{e.key.lower().replace("-", "")}"></a>', ""]
        title = f"## `<{e.name}>`" + (f" (in {', '.join(_parents(e))})" if e.key != e.name else "")
        out += [title, "", f"{e.doc[0].upper()}{e.doc[1:]}.", ""]
        out.append(f"- kind: {_KIND[e.kind]}; builder method: `{e.python_name}()`")
        if e.kind != "root":
            out.append(f"- allowed in: {', '.join(_parents(e))}")
        if e.text is None:
            out.append("- text: none")
        else:
            need = "required" if e.text_required else "optional"
            mixed = ", mixed with child elements" if e.mixed else ""
            out.append(f"- text ({need}{mixed}): {_cell(e.text.describe())}")
        if e.children:
            out.append("- children: " + ", ".join(f"`<{ELEMENTS[c].name}>`" for c in e.children))
        for rule in e.rules:
            what = "warning" if rule.severity == "warning" else "rule"
            out.append(f"- {what} (`{rule.code}`): {_cell(rule.describe())}")
        for note in e.notes:
            out.append(f"- accepted: {_cell(note)}")
        if e.attrs:
            out += [
                "",
                "| attribute | Python | value | default | description |",
                "|---|---|---|---|---|",
            ]
            for a in e.attrs:
                default = (
                    "**required**"
                    if a.required
                    else ("-" if a.default is None else f"`{a.default}`")
                )
                out.append(
                    f"| `{a.name}` | `{a.python_name}` | {_cell(a.type.describe())} | {default} "
                    f"| {_cell(a.doc)} |"
                )
    out.append("")
    return "\n".join(out)


@click.command(cls=JsonCommand)
@click.option("--check", is_flag=True, help="Exit 1 when the file is stale; write nothing.")
@click.option(
    "--json", "as_json", is_flag=True, help='Print {"path", "state"} (errors too) as JSON.'
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=DEFAULT_PATH,
    show_default=True,
    help="The reference file.",
)
def docs(check: bool, as_json: bool, output: Path) -> None:
    """Regenerate the element and attribute reference from the schema."""
    text = render()
    if check:
        try:
            current = output.read_text(encoding="utf-8")
        except OSError:
            current = None
        if current != text:
            if as_json:
                message = f"{output} is stale; run `voiceapp docs`"
                echo_json({"error": {"code": "stale", "message": message, "field": "--output"}})
            else:
                click.echo(f"{output} is stale; run `voiceapp docs`", err=True)
            sys.exit(1)
        if as_json:
            echo_json({"path": str(output), "state": "up-to-date"})
        else:
            click.echo(f"{output} is up to date")
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    if as_json:
        echo_json({"path": str(output), "state": "written"})
    else:
        click.echo(f"wrote {output}")
