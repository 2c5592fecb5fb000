"""Text from outside shown as text: the one markdown escaper every page uses (rules §7)."""

from __future__ import annotations

import re

# What markdown, GitHub's extensions and Streamlit's directives read as markup (rules §7): links and
# images need brackets, emphasis `*`/`_`/`~`, code a backtick, math `$`, HTML and autolinks `<`, e-mail and
# bare-URL autolinks `@`, `scheme:` and `www.`; `:red[…]`, `:material/icon:` and emoji shortcodes a colon
# before a word. A colon before a space, a `-` or `.` inside a word and an intraword `_` stay as they are,
# so ordinary text ("OpenAI: 42 rows", "gpt-4.1", "key_acme") reads the same in the page's source.
_MARKUP = re.compile(r"[\\`*\[\]<>#|~$!@]|:(?=\S)|(?<=www)\.|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])", re.IGNORECASE)
_BLOCK_START = re.compile(r"^(\s*)([-+=]|\d+(?=[.)]))")  # a list item, a setext underline, "1." or "1)"
_BREAKS = re.compile(r"[\r\n\t\v\f\u2028\u2029]+")


def escape_markdown(text: object) -> str:
    """Text from outside (customer names, tiers, features, metadata, URL parameters, provider errors) as
    literal text inside st.markdown, st.write, captions, alerts, `help=` and metric labels (rules §7).

    Links, images, emphasis, headings, lists, HTML, autolinks and Streamlit's directives all come out as
    the characters typed; line breaks become spaces, so no line can start a block of its own.
    """
    escaped = _MARKUP.sub(lambda found: "\\" + found.group(0), _BREAKS.sub(" ", str(text)))
    return _BLOCK_START.sub(_escape_block_start, escaped, count=1)


def _escape_block_start(found: re.Match[str]) -> str:
    spaces, mark = found.group(1), found.group(2)
    if mark[0].isdigit():  # "1." → "1\.": the escape goes before the dot
        return spaces + mark + "\\"
    return spaces + "\\" + mark
