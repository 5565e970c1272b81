"""Safe Markdown → HTML for message text: markdown-it with raw HTML off, then the nh3 sanitizer."""

from __future__ import annotations

from functools import lru_cache

import nh3
from markdown_it import MarkdownIt

# Raw HTML in the data is shown as text (html=False); nh3 then removes anything a renderer bug let through.
_MD = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable(
    ["table", "strikethrough"]
)
_TAGS = {
    "p", "br", "hr", "em", "strong", "del", "s", "code", "pre", "blockquote", "ul", "ol", "li",
    "h1", "h2", "h3", "h4", "h5", "h6", "table", "thead", "tbody", "tr", "th", "td", "a", "span",
}  # fmt: skip
# No <img>: a Markdown image in a message would load from anywhere; its alt text stays visible.
_ATTRIBUTES = {"a": {"href", "title"}, "code": {"class"}, "th": {"style"}, "td": {"style"}, "ol": {"start"}}
_SCHEMES = {"http", "https", "mailto"}


def _image_as_text(md: MarkdownIt) -> None:
    def image(self, tokens, idx, options, env):  # type: ignore[no-untyped-def]
        token = tokens[idx]
        alt = self.renderInline(token.children or [], options, env)
        src = token.attrGet("src") or ""
        return f"[image: {alt}] ({md.utils.escapeHtml(src)})" if src else f"[image: {alt}]"

    md.add_render_rule("image", image)


_image_as_text(_MD)


@lru_cache(maxsize=8192)
def render_markdown(text: str) -> str:
    """Sanitized HTML for Markdown `text`: code blocks, tables, links (http/https/mailto only), no raw HTML."""
    html = _MD.render(text or "")
    return nh3.clean(
        html,
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes=_SCHEMES,
        link_rel="noopener noreferrer nofollow",
        set_tag_attribute_values={"a": {"target": "_blank"}},
        filter_style_properties={"text-align"},
    )
