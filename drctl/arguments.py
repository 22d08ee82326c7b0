"""Argument types shared by drctl's subcommands: a number within bounds, or a one-line usage error naming it."""

from __future__ import annotations

import argparse
from collections.abc import Callable


def float_between(low: float, high: float, message: str, *, above_low: bool = False) -> Callable[[str], float]:
    """An argparse `type`: a float in [low, high] (or (low, high] with `above_low`); otherwise `message`, formatted
    with the given text as `text`, is the error argparse prints."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        inside = (low < value if above_low else low <= value) and value <= high
        if not inside:
            raise argparse.ArgumentTypeError(message.format(text=text))
        return value

    return parse
