"""The /img options grammar, canonical forms and the reference signer: pure functions, no I/O."""

import base64
import hashlib
import hmac

import pytest

from functions.delivery import check_size, choose_format, signing
from functions.delivery import options as grammar
from functions.errors import BadRequest


@pytest.mark.parametrize("spellings", [
    ("w:640", "w:640,f:auto", "f:auto,w:640,fit:inside", "dpr:2,w:320", "w:320,dpr:2.00"),
    ("w:300,h:200,fit:cover,f:webp", "f:webp,fit:cover,h:200,w:300,q:80", "dpr:1.5,w:200,h:133.5,fit:cover,f:webp"),
])
def test_given_equal_requests_when_canonicalised_then_they_share_one_form(spellings):
    forms = set()
    for text in spellings:
        try:
            forms.add(grammar.parse(text).canonical())
        except BadRequest as refused:
            forms.add(f"refused {refused.field}")  # h:133.5 is not a whole number of pixels
    assert len(forms - {"refused h"}) == 1


def test_given_canonical_options_when_parsed_again_then_they_stay_the_same():
    for text in ("w:640,h:480,fit:cover,f:avif,q:50,exp:1767225600", "f:png", "h:10,f:jpeg"):
        assert grammar.parse(text).canonical() == text
        assert grammar.parse(grammar.parse(text).canonical()) == grammar.parse(text)


def test_given_a_resolved_format_when_named_for_storage_then_defaults_are_filled_and_expiry_left_out():
    options = grammar.parse("w:640,exp:99999999999")
    assert options.rendition("avif") == "w:640,fit:inside,f:avif,q:60"
    assert options.rendition("webp") == "w:640,fit:inside,f:webp,q:80"
    assert options.rendition("png") == "w:640,fit:inside,f:png"
    smart = grammar.parse("g:attention,f:webp,h:90,fit:cover,w:160")
    assert smart.canonical() == "w:160,h:90,fit:cover,g:attention,f:webp"
    assert smart.rendition("webp") == "w:160,h:90,fit:cover,g:attention,f:webp,q:80"
    assert grammar.parse("w:160,h:90,fit:cover,g:center").canonical() == "w:160,h:90,fit:cover,f:auto"


@pytest.mark.parametrize("text, field", [
    ("", "options"), ("w", "w"), ("w:0", "w"), ("w:08", "w"), ("w:8193", "w"), ("w:99999", "w"),
    ("w:1e3", "w"), ("q:abc", "q"), ("q:100,q:100", "q"), ("dpr:0.5", "dpr"), ("dpr:3.01", "dpr"),
    ("dpr:2,w:5000", "dpr"), ("fit:Cover", "fit"), ("f:jpg", "f"), ("g:attention,w:64", "g"),
    ("g:east,fit:cover,w:8,h:8", "g"), ("g:entropy,fit:contain,w:8,h:8", "g"), ("exp:-1", "exp"),
    ("../../etc/passwd", "options"), ("w:1" + ",f:auto" * 40, "options"), ("W:10", "options"),
])
def test_given_bad_options_when_parsed_then_refused_naming_the_option(text, field):
    with pytest.raises(BadRequest) as refused:
        grammar.parse(text)
    assert refused.value.field == field


def test_given_the_reference_signer_when_recomputed_by_hand_then_it_matches():
    key, options, image_id = "dk_example", "w:640,f:auto", "0b7e7dc2-6a35-4f6b-9d0b-2a1d8f0b9e11"
    expected = base64.urlsafe_b64encode(hmac.new(key.encode(), f"{options}/{image_id}".encode(),
                                                 hashlib.sha256).digest()).decode().rstrip("=")
    assert signing.sign(key, options, image_id) == expected
    assert len(expected) == signing.SIGNATURE_LENGTH and "=" not in expected
    assert signing.path(key, options, image_id) == f"/img/{expected}/{options}/{image_id}"


def test_given_altered_signatures_when_verified_then_refused():
    key, image_id = "dk_example", "0b7e7dc2-6a35-4f6b-9d0b-2a1d8f0b9e11"
    good = signing.sign(key, "w:64", image_id)
    assert signing.verify(key, good, "w:64", image_id)
    assert not signing.verify(key, good[:-1], "w:64", image_id)
    assert not signing.verify(key, good + "A", "w:64", image_id)
    assert not signing.verify(key, good, "w:65", image_id)
    assert not signing.verify("dk_other", good, "w:64", image_id)
    assert not signing.verify(key, "é" * 43, "w:64", image_id)


def test_given_one_nonce_when_derived_under_two_server_keys_then_the_keys_differ():
    first = signing.derive_key("server-key-one" * 3, "user", "nonce")
    assert first == signing.derive_key("server-key-one" * 3, "user", "nonce")
    assert first != signing.derive_key("server-key-two" * 3, "user", "nonce")
    assert first != signing.derive_key("server-key-one" * 3, "user", "other-nonce")


@pytest.mark.parametrize("accept, source, chosen", [
    ("image/avif,image/webp,*/*", "jpeg", "avif"),
    ("image/webp,*/*", "jpeg", "webp"),
    ("image/avif;q=0,image/webp", "png", "webp"),
    ("*/*", "jpeg", "jpeg"),
    ("image/*", "png", "png"),
])
def test_given_accept_when_auto_then_avif_then_webp_then_jpeg_or_png(accept, source, chosen):
    assert choose_format("auto", accept, source) == chosen


def test_given_an_output_over_the_budget_when_checked_then_refused_before_any_read():
    check_size(grammar.parse("w:1000"), (4000, 3000), 1_000_000)  # 1000 x 750
    with pytest.raises(BadRequest) as refused:
        check_size(grammar.parse("w:2000"), (4000, 3000), 1_000_000)
    assert refused.value.code == "output_too_large"
    # "inside" never enlarges: a huge width on a small image stays the image's size.
    check_size(grammar.parse("w:8000"), (400, 300), 1_000_000)


def test_given_recent_renditions_when_full_or_rendered_again_then_old_and_stale_entries_are_not_answered():
    from functions.delivery import RecentRenditions

    recent = RecentRenditions(max_bytes=16 * 100)
    recent.put("a", '"1"', b"x" * 100)
    assert recent.get("a", '"1"') == b"x" * 100
    assert recent.get("a", '"2"') is None  # rendered again since: another etag
    recent.put("big", '"1"', b"x" * 101)  # over a sixteenth of the budget: not kept
    assert recent.get("big", '"1"') is None
    for index in range(16):
        recent.put(f"k{index}", '"1"', b"y" * 100)
    assert recent.get("a", '"1"') is None  # the least recently used went first
    assert recent.get("k15", '"1"') == b"y" * 100


@pytest.mark.parametrize("accept, source, chosen", [(None, "jpeg", "jpeg"), ("", "jpeg", "jpeg"), ("  ", "png", "png")])
def test_given_no_accept_header_when_auto_then_anything_is_acceptable(accept, source, chosen):
    # RFC 9110 12.5.1: a request without Accept accepts any media type.
    assert choose_format("auto", accept, source) == chosen
    assert choose_format("webp", accept, source) == "webp"


def test_given_a_content_version_when_parsed_then_it_is_signed_and_canonical_but_not_rendered():
    options = grammar.parse("exp:1767225600,v:0a1b2c3d4e5f,w:640")
    assert options.canonical() == "w:640,f:auto,v:0a1b2c3d4e5f,exp:1767225600"
    assert options.rendition("webp") == grammar.parse("w:640").rendition("webp")
    for bad in ("v:", "v:XYZ", "v:0A1B", "v:" + "a" * 17, "v:12,v:12"):
        with pytest.raises(BadRequest) as refused:
            grammar.parse(bad)
        assert refused.value.field == "v"


def test_given_cache_rules_when_answered_then_shared_caches_are_bounded_and_exp_caps_both():
    from functions.delivery import cache_control

    now = 1_700_000_000.0
    plain, current, stale = grammar.parse("w:64"), grammar.parse("w:64,v:abc"), grammar.parse("w:64,v:def")
    assert cache_control(plain, "abc", 86400, now) == "public, max-age=86400, s-maxage=86400"
    assert cache_control(current, "abc", 600, now) == "public, max-age=31536000, s-maxage=600, immutable"
    assert cache_control(stale, "abc", 600, now) == "public, max-age=600, s-maxage=600"  # content replaced since
    expiring = grammar.parse(f"w:64,v:abc,exp:{int(now) + 90}")
    assert cache_control(expiring, "abc", 86400, now) == "public, max-age=90, s-maxage=90"
    assert cache_control(grammar.parse(f"w:64,exp:{int(now) + 90}"), None, 30, now) == \
        "public, max-age=30, s-maxage=30"
