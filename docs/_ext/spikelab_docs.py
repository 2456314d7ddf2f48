"""Sphinx directives that generate reference tables from the code itself.

``.. spikelab-config-reference::`` lists every knob of every sub-config (flat name, default,
meaning) from the attrs field metadata; ``.. spikelab-status-table::`` lists every classified
exception with its family, status and evidence fields. Neither can drift from the code.
"""

from __future__ import annotations

import attrs
from docutils import nodes
from docutils.parsers.rst import Directive
from docutils.statemachine import StringList


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = [".. list-table::", "   :header-rows: 1", ""]
    for row in [header, *rows]:
        lines.append(f"   * - {row[0]}")
        lines.extend(f"     - {cell}" for cell in row[1:])
    return lines


def _literal(value: object) -> str:
    text = repr(value)
    return f"``{text}``" if text else "``''``"


class ConfigReference(Directive):
    has_content = False

    def run(self) -> list[nodes.Node]:
        from spikelab.spike_sorting.config import FLAT_ALIASES, SortingPipelineConfig

        lines: list[str] = []
        config = SortingPipelineConfig()
        for group in attrs.fields(SortingPipelineConfig):
            sub = getattr(config, group.name)
            cls = type(sub)
            lines += [f".. rubric:: ``{group.name}`` — :class:`~spikelab.spike_sorting.config.{cls.__name__}`", ""]
            rows = []
            for field in attrs.fields(cls):
                aliases = [a for a, target in FLAT_ALIASES.items() if target == (group.name, field.name)]
                name = f"``{field.name}``" + (f" (also ``{'``, ``'.join(aliases)}``)" if aliases else "")
                rows.append([name, _literal(getattr(sub, field.name)), field.metadata.get("doc", "")])
            lines += _table(["knob", "default", "meaning"], rows) + [""]
        return _parse(self, lines)


class StatusTable(Directive):
    has_content = False

    def run(self) -> list[nodes.Node]:
        from spikelab.spike_sorting import _exceptions as ex

        classes = [
            obj for obj in vars(ex).values()
            if isinstance(obj, type) and issubclass(obj, ex.SpikeSortingClassifiedError)
        ]
        rows = []
        for cls in sorted(classes, key=lambda c: (c("x").family, c.__name__)):
            specific = [
                f for f in cls.all_evidence_fields() if f not in ("sorter", "stage", "log_path", "matched_line")
            ]
            rows.append([
                f":class:`~spikelab.spike_sorting._exceptions.{cls.__name__}`",
                cls("x").family,
                f"``{cls.status}``",
                ", ".join(f"``{f}``" for f in specific) or "—",
                (cls.__doc__ or "").strip().splitlines()[0],
            ])
        return _parse(self, _table(["exception", "family", "status", "evidence", "meaning"], rows))


def _parse(directive: Directive, lines: list[str]) -> list[nodes.Node]:
    container = nodes.section()
    container.document = directive.state.document
    directive.state.nested_parse(StringList(lines, source="spikelab_docs"), directive.content_offset, container)
    return list(container.children)


def setup(app):
    app.add_directive("spikelab-config-reference", ConfigReference)
    app.add_directive("spikelab-status-table", StatusTable)
    return {"parallel_read_safe": True, "version": "1"}
