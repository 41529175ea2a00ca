"""The CLI reference: every ``symoe`` command with its usage, help, arguments and options.

Built from the typer app through its click command tree, so the page shows what ``--help`` shows: each
parameter's name(s), type, default and help text. The tree is read by duck typing (``commands``,
``params``, ``param_type_name``), since typer may bring its own copy of click.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer

from orchestrator.docs_gen.config_reference import type_text

_HIDDEN_DEFAULTS = {"", "()", "[]", "None"}
_ROOT = str(Path(__file__).resolve().parents[2])


def _is_group(cmd: Any) -> bool:
    return isinstance(getattr(cmd, "commands", None), dict)


def _is_option(param: Any) -> bool:
    return getattr(param, "param_type_name", "") == "option"


def _commands(cmd: Any, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], Any]]:
    yield path, cmd
    if _is_group(cmd):
        for name in sorted(cmd.commands):
            sub = cmd.commands[name]
            if not sub.hidden:
                yield from _commands(sub, (*path, name))


def _cell(text: str) -> str:
    """``text`` safe in a table cell: pipes and brackets escaped (``[default: x]`` is no link), one line."""
    escaped = text.replace("|", "\\|").replace("[", "\\[").replace("]", "\\]")
    return " ".join(escaped.split())


def _plain(text: str) -> str:
    """Help text without rich markup tags (``[bold]``, ``[/]``) and typer's line-break markers."""
    out = text.replace("\b", "")
    for tag in ("[bold]", "[/bold]", "[/]", "[dim]", "[/dim]", "[i]", "[/i]"):
        out = out.replace(tag, "")
    return out


def _param_type(param: Any) -> str:
    """A flag, the metavar the help shows, else the annotation's type (with its range)."""
    if _is_option(param) and param.is_flag:
        return "flag"
    if getattr(param, "metavar", None):
        return str(param.metavar)
    choices = getattr(getattr(param, "type", None), "choices", None)
    if choices:
        return " | ".join(str(getattr(c, "value", c)) for c in choices)
    descriptor = getattr(param, "type_descriptor", None)
    if descriptor is not None:
        text = type_text(descriptor.annotation).removesuffix(" | None")
    else:
        text = str(param.type.name).lower()
    low, high = getattr(param, "min", None), getattr(param, "max", None)
    if low is not None or high is not None:
        text += f" in [{'' if low is None else low}, {'' if high is None else high}]"
    return text


def _default(param: Any) -> str:
    if param.required:
        return "required"
    if _is_option(param) and param.is_flag:
        if param.secondary_opts:
            return f"`{param.opts[0] if param.default else param.secondary_opts[0]}`"
        return "off" if not param.default else "on"
    default = param.default
    if callable(default):
        return ""
    if isinstance(default, list | tuple):
        default = " ".join(str(d) for d in default)
    default = getattr(default, "value", default)
    text = str(default) if default is not None else ""
    text = text.removeprefix(_ROOT + "/")  # packaged configs: shown relative to the checkout
    return "" if text in _HIDDEN_DEFAULTS else f"`{text}`"


def _names(param: Any) -> str:
    if _is_option(param):
        return ", ".join(f"`{o}`" for o in (*param.opts, *param.secondary_opts))
    return f"`{(param.metavar or param.name or '').upper()}`"


def command_section(path: tuple[str, ...], cmd: Any, ctx: Any) -> str:
    """One command's heading, usage line, help and parameter table."""
    title = " ".join(path)
    lines = [f"## `{title}`", ""]
    usage = " ".join(cmd.collect_usage_pieces(ctx))
    lines += ["```text", f"{title} {usage}".rstrip(), "```", ""]
    if cmd.help:
        lines += [_plain(cmd.help).strip(), ""]
    params = [p for p in cmd.params if not getattr(p, "hidden", False) and p.name != "help"]
    if params:
        lines += ["| name | type | default | help |", "|---|---|---|---|"]
        for p in params:
            help_text = _plain(getattr(p, "help", None) or "")
            envvar = getattr(p, "envvar", None)
            if envvar:
                help_text += f" (env: `{envvar}`)"
            lines.append(
                f"| {_names(p)} | {_cell(_param_type(p))} | {_cell(_default(p))} | {_cell(help_text)} |"
            )
        lines.append("")
    if _is_group(cmd):
        subs = [n for n in sorted(cmd.commands) if not cmd.commands[n].hidden]
        lines += ["Commands: " + ", ".join(f"`{title} {n}`" for n in subs), ""]
    return "\n".join(lines)


def cli_page(app: typer.Typer | None = None, prog: str = "symoe") -> str:
    """The CLI reference page (Markdown) of ``app`` (the ``symoe`` app when None)."""
    if app is None:
        from orchestrator.cli import app as symoe_app

        app = symoe_app
    root = typer.main.get_command(app)
    context_cls = root.context_class
    out = [
        "# CLI reference",
        "",
        f"Generated from the `{prog}` typer app by `orchestrator.docs_gen` when the site is built; "
        f"`{prog} COMMAND --help` prints the same. Every command that loads models prints `logs: PATH` "
        "first; `--verbose` also shows third-party logs on screen.",
        "",
    ]
    for path, cmd in _commands(root, (prog,)):
        ctx = context_cls(cmd, info_name=" ".join(path))
        out.append(command_section(path, cmd, ctx))
    return "\n".join(out)
