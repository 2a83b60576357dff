"""What readers see: remote HTML made safe, and members' plain text rendered."""

from __future__ import annotations

import time

import pytest

from federation.content import (
    MAX_HTML_CHARS,
    MAX_HTML_TAGS,
    MentionTarget,
    find_hashtags,
    find_mentions,
    html_to_text,
    render_plain_text,
    sanitize_html,
)

BOB = MentionTarget("https://shoal.example/users/bob", "bob@shoal.example")
ALICE = MentionTarget("https://mastodon.example/users/alice", "alice@mastodon.example")
MENTIONS = {"bob": BOB, "alice@mastodon.example": ALICE}


def _tag_url(tag: str) -> str:
    return f"https://shoal.example/tags/{tag}"


def _render(text: str) -> str:
    return render_plain_text(text, mentions=MENTIONS, hashtag_url=_tag_url).html


# --- sanitize_html ---------------------------------------------------------------


@pytest.mark.parametrize(
    "hostile",
    [
        "<script>alert(1)</script>",
        "<style>body{display:none}</style>",
        '<img src="x" onerror="alert(1)">',
        '<iframe src="https://evil.example"></iframe>',
        "<svg><script>alert(1)</script></svg>",
        "<math><mi>alert(1)</mi></math>",
    ],
)
def test_scripts_styles_and_embeds_leave_nothing_behind(hostile: str) -> None:
    cleaned = sanitize_html(f"<p>before{hostile}after</p>")
    assert "alert" not in cleaned and "display" not in cleaned
    assert "<script" not in cleaned and "<img" not in cleaned and "<iframe" not in cleaned
    assert "before" in cleaned and "after" in cleaned


def test_event_handlers_and_script_urls_are_removed() -> None:
    cleaned = sanitize_html(
        '<p onclick="steal()"><a href="javascript:alert(1)" onmouseover="x()">a</a>'
        '<a href="data:text/html,<script>x</script>">b</a>'
        '<a href="vbscript:msgbox">c</a></p>'
    )
    assert "onclick" not in cleaned and "onmouseover" not in cleaned
    assert "javascript:" not in cleaned and "data:" not in cleaned and "vbscript" not in cleaned
    assert ">a</a>" in cleaned


def test_links_get_safe_rel_and_target_and_keep_allowed_schemes() -> None:
    cleaned = sanitize_html(
        '<a href="https://a.example" rel="opener" target="_self">web</a>'
        '<a href="mailto:coop@a.example">mail</a><a href="/relative">rel</a>'
    )
    assert cleaned.count('rel="nofollow noopener noreferrer"') == 3
    assert cleaned.count('target="_blank"') == 3
    assert 'href="https://a.example"' in cleaned and 'href="mailto:coop@a.example"' in cleaned
    assert 'opener"' not in cleaned and "_self" not in cleaned
    assert "/relative" not in cleaned  # no base to resolve it against


def test_only_mastodon_classes_survive() -> None:
    cleaned = sanitize_html(
        '<p class="lead"><span class="h-card invisible evil-overlay">x</span>'
        '<a href="https://a.example" class="u-url mention hashtag fullscreen">y</a>'
        '<span class="ellipsis">z</span><span class="p-name">n</span></p>'
    )
    assert 'class="h-card invisible"' in cleaned
    assert 'class="u-url mention hashtag"' in cleaned
    assert 'class="ellipsis"' in cleaned and 'class="p-name"' in cleaned
    assert "lead" not in cleaned and "evil" not in cleaned and "fullscreen" not in cleaned


def test_formatting_lists_and_quotes_are_kept() -> None:
    html = (
        "<p><strong>b</strong> <em>i</em> <del>d</del> <code>c</code></p>"
        '<ol start="3" reversed><li value="5">x</li></ol><blockquote><p>q</p></blockquote>'
        "<pre>pre</pre><h2>t</h2><p>a<br>b<sup>1</sup></p>"
    )
    assert sanitize_html(html) == html.replace("reversed>", 'reversed="">')


def test_unknown_tags_keep_their_text() -> None:
    assert sanitize_html('<div><marquee>hi</marquee> <font color="red">there</font></div>') == (
        "hi there"
    )


def test_huge_and_deep_input_is_bounded() -> None:
    start = time.perf_counter()
    cleaned = sanitize_html("<p>" + "a" * (MAX_HTML_CHARS * 4) + "</p>")
    deep = sanitize_html("<div>" * 100_000 + "deep")
    assert time.perf_counter() - start < 2  # unbounded, the nesting alone takes ~20 s
    assert cleaned.startswith("<p>") and cleaned.endswith("</p>")
    assert len(cleaned) <= MAX_HTML_CHARS + len("<p></p>")
    assert deep == ""  # everything before the cut was markup we do not keep


def test_long_articles_keep_their_beginning_when_cut() -> None:
    paragraphs = "".join(f"<p>paragraph {n}</p>" for n in range(MAX_HTML_TAGS))
    cleaned = sanitize_html(paragraphs)
    assert cleaned.startswith("<p>paragraph 0</p>")
    assert f"paragraph {MAX_HTML_TAGS // 2 - 1}<" in cleaned
    assert f"paragraph {MAX_HTML_TAGS // 2}<" not in cleaned


# --- html_to_text ----------------------------------------------------------------


def test_html_to_text_keeps_paragraphs_and_line_breaks() -> None:
    html = (
        "<p>Hello &amp; <b>welcome</b>,\n   friends</p><p>line one<br>line two<br/>three</p>"
        "<script>steal()</script><style>p{}</style><p>&lt;not a tag&gt; &#127822;</p>"
    )
    assert html_to_text(html) == (
        "Hello & welcome, friends\n\nline one\nline two\nthree\n\n<not a tag> \U0001f34e"
    )


def test_html_to_text_of_a_mastodon_link_shows_the_whole_url() -> None:
    rendered = _render("see https://example.com/a/very/long/path/that/goes/on/and/on")
    assert html_to_text(rendered) == "see https://example.com/a/very/long/path/that/goes/on/and/on"


def test_html_to_text_is_bounded() -> None:
    start = time.perf_counter()
    html_to_text("<pre>" + " " * 600_000 + "x</pre>")
    html_to_text("<b>" * 100_000)
    assert time.perf_counter() - start < 5


# --- find_mentions / find_hashtags ----------------------------------------------


def test_find_mentions_local_and_remote_but_not_emails_or_urls() -> None:
    text = (
        "Hi @bob and @Alice@Mastodon.Example, also @bob again. "
        "Write to coop@shoal.example or see https://mastodon.example/@carol and "
        "https://a.example/?u=@dan. Dev: @erin@localhost:8001."
    )
    assert find_mentions(text) == [
        ("bob", None),
        ("Alice", "Mastodon.Example"),
        ("erin", "localhost:8001"),
    ]


def test_find_hashtags_unicode_not_digits_not_url_fragments() -> None:
    text = (
        "#FoodCoop #foodcoop #Café #日本語 #123 #2024goals C#sharp "
        "https://a.example/page#section &#38; end#tag (#paren)"
    )
    assert find_hashtags(text) == ["FoodCoop", "Café", "日本語", "2024goals", "paren"]


# --- render_plain_text -----------------------------------------------------------


def test_text_is_escaped_not_interpreted() -> None:
    html = _render('<b>bold</b> & "quotes" <script>alert(1)</script>')
    assert html == (
        '<p>&lt;b&gt;bold&lt;/b&gt; &amp; "quotes" &lt;script&gt;alert(1)&lt;/script&gt;</p>'
    )


def test_paragraphs_and_line_breaks() -> None:
    assert _render("one\ntwo\r\n\r\n\n  three\n") == "<p>one<br>two</p><p>three</p>"
    assert _render("   \n\n ") == ""


def test_mentions_render_like_mastodon_and_unresolved_stay_text() -> None:
    rendered = render_plain_text(
        "@bob meet @alice@mastodon.example and @ghost@nowhere.example",
        mentions=MENTIONS,
        hashtag_url=_tag_url,
    )
    assert rendered.html == (
        '<p><span class="h-card" translate="no"><a href="https://shoal.example/users/bob" '
        'class="u-url mention">@<span>bob</span></a></span> meet '
        '<span class="h-card" translate="no"><a href="https://mastodon.example/users/alice" '
        'class="u-url mention">@<span>alice</span></a></span> and @ghost@nowhere.example</p>'
    )
    assert rendered.mentions == (BOB, ALICE)


def test_mentions_are_matched_case_insensitively_and_deduplicated() -> None:
    rendered = render_plain_text("@Bob @BOB @bob", mentions=MENTIONS, hashtag_url=_tag_url)
    assert rendered.mentions == (BOB,)
    assert rendered.html.count('class="u-url mention"') == 3
    assert "@<span>Bob</span>" in rendered.html


def test_hashtags_render_and_are_collected_lower_cased() -> None:
    rendered = render_plain_text(
        "Bread #Sourdough #sourdough #Rye", mentions={}, hashtag_url=_tag_url
    )
    assert rendered.html == (
        '<p>Bread <a href="https://shoal.example/tags/sourdough" class="mention hashtag" '
        'rel="tag">#<span>Sourdough</span></a> '
        '<a href="https://shoal.example/tags/sourdough" class="mention hashtag" '
        'rel="tag">#<span>sourdough</span></a> '
        '<a href="https://shoal.example/tags/rye" class="mention hashtag" '
        'rel="tag">#<span>Rye</span></a></p>'
    )
    assert rendered.hashtags == ("sourdough", "rye")


def test_links_are_autolinked_without_trailing_punctuation() -> None:
    rendered = render_plain_text(
        "See https://a.example/x?y=1&z=2#frag. Or (https://en.example/wiki/Bread_(food)), "
        "or http://b.example!",
        mentions=MENTIONS,
        hashtag_url=_tag_url,
    )
    assert rendered.links == (
        "https://a.example/x?y=1&z=2#frag",
        "https://en.example/wiki/Bread_(food)",
        "http://b.example",
    )
    assert 'href="https://a.example/x?y=1&amp;z=2#frag"' in rendered.html
    assert '<span class="invisible">https://</span>' in rendered.html
    assert "</a>. Or (" in rendered.html and "</a>), or" in rendered.html
    assert "hashtag" not in rendered.html  # "#frag" is part of the URL
    assert 'rel="nofollow noopener noreferrer"' in rendered.html


def test_long_links_are_shortened_for_display_only() -> None:
    url = "https://www.example.com/" + "x" * 60
    rendered = _render(url)
    assert f'href="{url}"' in rendered
    assert '<span class="invisible">https://www.</span>' in rendered
    assert '<span class="ellipsis">example.com/' in rendered


def test_email_is_not_a_mention_and_url_mentions_are_links() -> None:
    rendered = render_plain_text(
        "mail bob@shoal.example or https://mastodon.example/@bob",
        mentions=MENTIONS,
        hashtag_url=_tag_url,
    )
    assert rendered.mentions == ()
    assert "h-card" not in rendered.html
    assert rendered.links == ("https://mastodon.example/@bob",)


def test_rendered_html_survives_sanitizing() -> None:
    rendered = _render("@bob #bread https://a.example/some/long/path/for/the/ellipsis/check")
    cleaned = sanitize_html(rendered)
    for kept in ('class="h-card"', 'class="u-url mention"', 'class="mention hashtag"'):
        assert kept in cleaned
    assert 'class="ellipsis"' in cleaned and 'class="invisible"' in cleaned
