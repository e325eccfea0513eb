"""The grammar of Roman-numeral figures: the one pattern every module parses figures with.

A figure is an optional accidental (``b``, ``#``, or music21's ``-``), a numeral (upper case major, lower case
minor; ``It``/``Ger``/``Fr`` augmented sixths and ``N`` the Neapolitan), an optional quality sign (``o`` or
``°`` diminished, ``ø`` half-diminished, ``+`` augmented) and the figured bass and alterations after it
(``7``, ``65``, ``/V`` ...): ``bVII``, ``viiø7``, ``V65/V``, ``Ger65``.
"""

from __future__ import annotations

import re

#: Scale-degree numerals, degree 1 first.
NUMERALS: tuple[str, ...] = ("I", "II", "III", "IV", "V", "VI", "VII")

FIGURE_RE = re.compile(
    r"^(?P<acc>[b#-]*)(?P<num>It|Ger|Fr|N|VII|VI|V|IV|III|II|I|vii|vi|v|iv|iii|ii|i)(?P<qual>[o°ø+]?)(?P<fig>.*)$"
)
