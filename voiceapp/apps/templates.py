"""Voice templates: Jinja2 files ``<language>/<name>.xml`` rendered into checked documents.

One plain :class:`jinja2.Environment` (no Flask) loads from a list of folders, the
first that has a file wins: a deployment's ``TEMPLATE_FOLDER`` first, then the
built-in ``templates/voice`` (installed as ``voiceapp.templates``).  So a deployment
can reword one file of one language, or add a language, without copying the rest.

Autoescaping is on for ``.xml``: a variable can never inject markup.  Undefined
variables are errors.  Statement lines keep their newline (no ``trim_blocks``), so
a line of a rendered document is the same line of its template, except after a
``{% for %}`` that repeats lines.

:meth:`Templates.document` renders, then parses and validates with the document
core, and returns the rendered bytes: every document that leaves voiceapp is
exactly the text that was checked.
Any failure is a :class:`TemplateError` naming the template file and line.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from importlib.resources import files
from pathlib import Path
from types import TracebackType
from typing import Any

import jinja2

from voiceapp.document import parse
from voiceapp.errors import ConfigError, DocumentError, TemplateError

#: The built-in templates: the package ``voiceapp.templates`` (the top-level
#: ``templates/`` folder of the source tree, mapped into the package by pyproject.toml),
#: found through importlib.resources, so an editable install and a wheel both work.
BUILTIN_FOLDER = Path(str(files("voiceapp.templates") / "voice"))


def _template_line(tb: TracebackType | None, filename: str) -> int | None:
    """The last traceback line that ran inside template ``filename`` (Jinja rewrites them)."""
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


class Templates:
    """The voice templates of a deployment, by language."""

    def __init__(self, folders: Sequence[str | os.PathLike[str]] = ()) -> None:
        paths = [Path(f) for f in folders if f] + [BUILTIN_FOLDER]
        for path in paths[:-1]:
            if not path.is_dir():
                raise ConfigError(
                    f"template folder {path} does not exist",
                    code="config-template-folder",
                    field="TEMPLATE_FOLDER",
                )
        self.folders = tuple(paths)
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader([str(p) for p in paths]),
            autoescape=jinja2.select_autoescape(
                enabled_extensions=("xml",), default_for_string=True
            ),
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=True,
            auto_reload=False,
        )
        self._loaded: dict[str, tuple[jinja2.Template, dict[str, Any]]] = {}

    @property
    def languages(self) -> tuple[str, ...]:
        """Every language folder of every template folder, sorted."""
        found: set[str] = set()
        for folder in self.folders:
            if folder.is_dir():
                found.update(p.name for p in folder.iterdir() if p.is_dir())
        return tuple(sorted(found))

    def filename(self, language: str, name: str) -> str:
        """The file ``language/name`` comes from (for messages)."""
        for folder in self.folders:
            candidate = folder / language / name
            if candidate.is_file():
                return str(candidate)
        return f"{language}/{name}"

    def check_syntax(self) -> None:
        """Compile every ``.xml`` template of every folder; the first error is raised."""
        for name in self.env.list_templates(extensions=["xml"]):
            self._load(name)

    def _load(self, path: str) -> tuple[jinja2.Template, dict[str, Any]]:
        """Template ``path`` and its globals, compiled once (``auto_reload`` is off)."""
        loaded = self._loaded.get(path)
        if loaded is not None:
            return loaded
        try:
            template = self.env.get_template(path)
        except jinja2.TemplateNotFound:
            raise TemplateError(
                f"no template {path} in {', '.join(str(f) for f in self.folders)}",
                file=path,
                code="template-missing",
            ) from None
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(
                exc.message or "syntax error",
                file=exc.filename or path,
                line=exc.lineno,
                code="template-syntax",
            ) from None
        loaded = self._loaded[path] = (template, dict(template.globals))
        return loaded

    def text(self, language: str, name: str, context: Mapping[str, Any]) -> str:
        """Template ``language/name`` rendered with ``context``, as text."""
        path = f"{language}/{name}"
        template, globals_ = self._load(path)
        try:
            # What Template.render does, with the globals merged into a dict made once
            # per template instead of per call (Jinja's ChainMap copy is a third of a
            # small render).
            ctx = template.new_context({**globals_, **context}, shared=True)
            try:
                return "".join(template.root_render_func(ctx))
            except Exception:
                self.env.handle_exception()  # re-raised with template file and lines
        except jinja2.TemplateError as exc:
            filename = template.filename or path
            raise TemplateError(
                f"rendering failed: {exc}",
                file=filename,
                line=_template_line(sys.exc_info()[2], filename),
                code="template-render",
            ) from None

    def document(self, language: str, name: str, context: Mapping[str, Any]) -> bytes:
        """Render ``language/name`` and validate it; the document bytes.

        The bytes served are exactly the bytes validated (no re-serialization: it
        would cost a tenth of a request and change nothing a dialer reads).
        """
        data = self.text(language, name, context).encode("utf-8")
        try:
            parse(data)  # parses and validates against the schema
        except DocumentError as exc:
            where = exc.path + (f"@{exc.attribute}" if exc.attribute else "")
            message = f"{where}: {exc.message}" if where else exc.message
            raise TemplateError(
                f"the rendered document is not valid ({exc.code}): {message}",
                file=self.filename(language, name),
                line=exc.line,
                code="template-invalid",
                cause=exc,
            ) from None
        return data
