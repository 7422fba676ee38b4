"""Template source rules that a rendered page would otherwise break silently."""

from pathlib import Path

import pytest

pytestmark = pytest.mark.embedded

ROOT = Path(__file__).resolve().parents[1]


def test_no_comment_tag_spans_lines():
    """Django strips ``{# … #}`` only within one line: spread over two, it is shown to every
    user as text (it was, above the stock checker's Card input). ``{% comment %}`` spans lines."""
    spread = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in sorted(ROOT.glob("*/templates/**/*.html"))
        + sorted(ROOT.glob("templates/**/*.html"))
        if ".venv" not in path.parts
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if "{#" in line and "#}" not in line[line.index("{#") :]
    ]
    assert spread == []
