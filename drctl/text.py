"""The 80-column text layout every command shares (preview, stacks, verify): prose wrapped at spaces and names
printed whole, so what users type into configs and commands can be copied from a CI log."""

from __future__ import annotations

from rich.text import Text


def prose(text: str, width: int = 80, indent: int = 0, style: str = "", hang: int | None = None) -> list[Text]:
    """`text` wrapped at spaces into lines of at most `width` columns, indented by `indent` (continuation lines
    by `hang`, default `indent`). A word (a name, an ARN, a command) is never split: one that does not fit after
    the indent gets a line of its own without it, and one longer than the line overflows that line. Print with
    `crop=False`."""
    lines: list[str] = []
    for word in text.split():
        pad = indent if not lines else (indent if hang is None else hang)
        if lines and len(lines[-1]) + 1 + len(word) <= width and lines[-1].strip():
            lines[-1] += " " + word
        elif pad + len(word) <= width:
            lines.append(" " * pad + word)
        else:
            lines.append(word)
    return [Text(line, style=style, no_wrap=True, overflow="ignore") for line in lines]


def name_then_value(label: str, value: str, width: int = 80, indent: int = 2, style: str = "") -> list[Text]:
    """`label value` on one line when it fits, else the label, then the value on its own line (never split)."""
    one = " " * indent + f"{label} {value}"
    if len(one) <= width:
        return [Text(one, style=style, no_wrap=True, overflow="ignore")]
    value_line = " " * (indent + 2) + value if indent + 2 + len(value) <= width else value
    return [
        Text(" " * indent + label, style=style, no_wrap=True, overflow="ignore"),
        Text(value_line, no_wrap=True, overflow="ignore"),
    ]
