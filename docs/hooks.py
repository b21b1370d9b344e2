"""mkdocs hook: replaces `<!-- retain:config-reference -->` and `<!-- retain:cli-reference -->` in a page
with tables generated from the code (retain.reference), so the reference pages cannot drift."""

from __future__ import annotations

import sys
from pathlib import Path

# Document this checkout's code, whatever retain is installed in the environment.
SRC = str(Path(__file__).resolve().parents[1] / "src")


def on_page_markdown(markdown: str, **kwargs: object) -> str:
    if sys.path[0] != SRC:
        sys.path.insert(0, SRC)
    from retain.reference import cli_reference, config_reference

    if "<!-- retain:config-reference -->" in markdown:
        markdown = markdown.replace("<!-- retain:config-reference -->", config_reference())
    if "<!-- retain:cli-reference -->" in markdown:
        markdown = markdown.replace("<!-- retain:cli-reference -->", cli_reference())
    return markdown
