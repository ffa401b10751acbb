"""Text that a spreadsheet would run as a formula, made inert (CSV / formula injection).

Device records carry free text (``Person``, ``DeviceID``, extra fields): a device that sends
``"Person": "=HYPERLINK(\"https://evil\", \"open\")"`` would otherwise put a live formula into
the admin's spreadsheet when they open an export. OWASP's advice
(https://owasp.org/www-community/attacks/CSV_Injection): a cell whose text starts with
``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a leading ``'``, which Excel,
LibreOffice and Google Sheets show as text and do not evaluate; quoting of ``,`` and ``"`` is
the CSV writer's job (pandas). Only text cells change: numbers (``-3.5`` in a number column)
and times stay what they are.
"""

from __future__ import annotations

import pandas as pd

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def inert_text(value: object) -> object:
    """``value`` with a leading ``'`` when it is text a spreadsheet would read as a formula;
    anything else unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def inert_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells (and column names) are ``inert_text``; number,
    time and boolean columns are not touched."""
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == object or pd.api.types.is_string_dtype(out[column].dtype):
            out[column] = out[column].map(inert_text)
    return out.rename(columns=lambda c: inert_text(c) if isinstance(c, str) else c)
