"""The values a number may take, as the defaults table writes them (``(0, 1]``, ``[8, 8192]``, ``>= 1``, ``> 0``), read
and checked. Like ``trainable.defaults``, this module imports nothing of pointtune."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Valid:
    """The values a number may take, as the table writes them: ``(0, 1]``, ``[8, 8192]``, ``>= 1``, ``> 0``."""

    text: str
    lo: float = -math.inf
    hi: float = math.inf
    lo_open: bool = False
    hi_open: bool = False

    @classmethod
    def parse(cls, text: str) -> Valid:
        if m := re.fullmatch(r"(>=|>)\s*(\S+)", text):
            return cls(text, lo=float(m[2]), lo_open=m[1] == ">")
        m = re.fullmatch(r"([\[(])(\S+), (\S+)([\])])", text)
        assert m, f"a valid range is written (LO, HI], [LO, HI], >= LO or > LO, not {text!r}"
        return cls(text, float(m[2]), float(m[3]), m[1] == "(", m[4] == ")")

    def holds(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        above = value > self.lo if self.lo_open else value >= self.lo
        below = value < self.hi if self.hi_open else value <= self.hi
        return above and below

    @property
    def words(self) -> str:
        """``in (0, 1]``, ``>= 1``: how a message says it."""
        return self.text if self.text[0] in "<>" else f"in {self.text}"
