"""The portal's pages read as documents (selectolax's lexbor parser).

A check that something is *not* on a page looks for the element itself (a button, a link, a
form, a table row), not for one spelling of its markup, which would pass as soon as the
markup changed. Text is as a reader sees it: entities decoded, whitespace collapsed.
"""

from __future__ import annotations

from dataclasses import dataclass

from selectolax.lexbor import LexborHTMLParser, LexborNode

MAIN_NAV = 'nav[aria-label="Main"]'


def testid(name: str) -> str:
    """The selector of the element the templates mark ``data-testid="{name}"``."""
    return f'[data-testid="{name}"]'


def document(html: str) -> LexborHTMLParser:
    return LexborHTMLParser(html)


def visible(node: LexborNode) -> str:
    """A node's text, whitespace collapsed."""
    return " ".join((node.text(deep=True, separator="") or "").split())


def select(html: str, selector: str) -> list[LexborNode]:
    """Every element matching the CSS ``selector``, in document order."""
    return list(document(html).css(selector))


def exists(html: str, selector: str) -> bool:
    return document(html).css_first(selector) is not None


def texts(html: str, selector: str) -> list[str]:
    """The text of every element matching ``selector``."""
    return [visible(node) for node in select(html, selector)]


def text(html: str, selector: str = "main") -> str:
    """The text of the first element matching ``selector`` (the page's ``<main>`` by
    default); empty when there is none."""
    node = document(html).css_first(selector)
    return "" if node is None else visible(node)


def attributes(html: str, selector: str, name: str) -> list[str]:
    """The attribute ``name`` of every element matching ``selector`` that has it."""
    found = (node.attributes.get(name) for node in select(html, selector))
    return [value for value in found if value is not None]


def _within(html: str, within: str, selector: str) -> list[LexborNode]:
    nodes: list[LexborNode] = []
    for container in select(html, within):
        nodes.extend(container.css(selector))
    return nodes


def _label(node: LexborNode) -> str:
    """A button's accessible name: its ``aria-label``, else its text (an input's value)."""
    label = node.attributes.get("aria-label")
    if label is None:
        label = node.attributes.get("value") if node.tag == "input" else visible(node)
    return " ".join((label or "").split())


def buttons(html: str, within: str = "body") -> list[str]:
    """What every button inside ``within`` is called, as a screen reader says it: its
    ``aria-label``, else a ``<button>``'s text or an ``<input type="submit">``'s value."""
    return [_label(node) for node in _within(html, within, "button, input[type=submit]")]


@dataclass(frozen=True)
class Link:
    text: str
    href: str


def links(html: str, within: str = "body") -> list[Link]:
    """Every link (``<a href>``) inside ``within``."""
    return [
        Link(visible(node), node.attributes.get("href") or "")
        for node in _within(html, within, "a[href]")
    ]


def hrefs(html: str, within: str = "body") -> list[str]:
    """Where every link inside ``within`` goes."""
    return [link.href for link in links(html, within)]


def nav(html: str) -> list[str]:
    """Where the main navigation's links go (empty when the page has no navigation)."""
    return hrefs(html, MAIN_NAV)


@dataclass(frozen=True)
class Form:
    action: str
    method: str
    fields: tuple[str, ...]
    """The names of its controls (inputs, selects, text areas), in order."""
    buttons: tuple[str, ...]


def forms(html: str, action: str | None = None) -> list[Form]:
    """Every form on the page, or only those whose action is ``action``."""
    found = []
    for node in select(html, "form"):
        form = Form(
            action=node.attributes.get("action") or "",
            method=(node.attributes.get("method") or "get").lower(),
            fields=tuple(
                name
                for control in node.css("input, select, textarea")
                if (name := control.attributes.get("name"))
            ),
            buttons=tuple(_label(b) for b in node.css("button, input[type=submit]")),
        )
        if action is None or form.action == action:
            found.append(form)
    return found


def fields(html: str) -> list[str]:
    """The names of every form's controls on the page."""
    return [name for form in forms(html) for name in form.fields]


def actions(html: str) -> list[str]:
    """Where every form on the page goes."""
    return [form.action for form in forms(html)]


def rows(html: str, table: str) -> list[list[str]]:
    """The text of each cell of each body row of the table ``table`` (a CSS selector)."""
    return [
        [visible(cell) for cell in row.css("td, th")] for row in _within(html, table, "tbody tr")
    ]


def column(html: str, table: str, index: int = 0) -> list[str]:
    """The text of one cell (the first by default) of each body row of the table ``table``."""
    return [cells[index] for cells in rows(html, table) if len(cells) > index]
