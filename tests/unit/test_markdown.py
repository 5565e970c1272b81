"""Message Markdown: code blocks and links render; raw HTML, script and unsafe links never do."""

from components.markdown import render_markdown


def test_code_blocks_tables_and_emphasis_render():
    html = render_markdown(
        "**bold** and `x`\n\n```python\nif a < b:\n    pass\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |"
    )
    assert "<strong>bold</strong>" in html and "<code>x</code>" in html
    assert '<pre><code class="language-python">if a &lt; b:' in html
    assert "<table>" in html and "<td>1</td>" in html


def test_raw_html_and_script_are_text():
    html = render_markdown("<script>alert(1)</script> <img src=x onerror=alert(1)> <b>b</b>")
    assert "<script" not in html and "<img" not in html and "<b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html


def test_only_http_https_mailto_links():
    html = render_markdown(
        "[a](javascript:alert(1)) [b](https://example.org) [c](mailto:x@y.org) [d](data:text/html,x)"
    )
    assert "javascript:" not in html.split("[a]")[0] and 'href="javascript' not in html
    assert 'href="data:' not in html
    assert '<a href="https://example.org" target="_blank" rel="noopener noreferrer nofollow">b</a>' in html
    assert 'href="mailto:x@y.org"' in html


def test_markdown_images_do_not_load():
    html = render_markdown("![cat](http://evil.example/track.png)")
    assert "<img" not in html and "[image: cat]" in html
