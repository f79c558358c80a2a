"""URL forms: what a URL in a request may look like, and the canonical form the fetcher reads."""

import pytest

from functions.errors import InvalidInput
from functions.fetcher import FetchRefused
from functions.fetcher.url_forms import MAX_INPUT_URL_LENGTH, normalise, origin, validate_url


@pytest.mark.parametrize(("value", "code"), [
    ("ftp://files.example/a.jpg", "url_forbidden"),
    ("file:///etc/passwd", "url_forbidden"),
    ("javascript:alert(1)", "url_forbidden"),
    ("not a url", "url_invalid"),
    ("hooks.example/x", "url_forbidden"),
    ("http://", "url_invalid"),
    ("https://user:secret@photos.example/a.jpg", "url_forbidden"),
    ("https://photos.example/" + "a" * MAX_INPUT_URL_LENGTH, "url_invalid"),
    ("https://photos.example:99999/a.jpg", "url_invalid"),
    ("https://photos.example\\@10.0.0.1/", "url_invalid"),
    ("https://photos.example/a\u00a0b.jpg", "url_invalid"),
])
def test_given_a_url_that_is_not_an_http_url_when_validated_then_invalid_input_naming_the_field(value, code):
    with pytest.raises(InvalidInput) as refused:
        validate_url(value, "callback_url")

    assert (refused.value.code, refused.value.field) == (code, "callback_url")
    assert "secret" not in refused.value.message


@pytest.mark.parametrize("value", [None, "", "   ", 42])
def test_given_no_url_when_validated_then_invalid_input(value):
    with pytest.raises(InvalidInput) as refused:
        validate_url(value, "url")

    assert refused.value.field == "url"


def test_given_a_url_with_spaces_around_when_validated_then_it_is_returned_stripped_and_otherwise_as_given():
    assert validate_url("  HTTPS://Photos.Example/A.jpg?x=1  ", "url") == "HTTPS://Photos.Example/A.jpg?x=1"


def test_given_an_odd_but_readable_url_when_normalised_then_scheme_host_port_and_quoting_are_canonical():
    parsed = normalise("HTTPS://Photos.EXAMPLE:443/a b/\u00e9.jpg?q=\u00e9#frag")

    assert parsed.geturl() == "https://photos.example/a%20b/%C3%A9.jpg?q=%C3%A9"
    assert origin(parsed) == "https://photos.example"


@pytest.mark.parametrize(("value", "code"), [
    ("gopher://photos.example/", "url_forbidden"),
    ("http://user@photos.example/", "url_forbidden"),
    ("http://photos.example:0/", "url_invalid"),
    ("http://[fe80::1%25eth0]/", "url_invalid"),
    ("http://-bad-.example/", "url_invalid"),
])
def test_given_a_url_the_fetcher_cannot_read_when_normalised_then_refused_with_a_code(value, code):
    with pytest.raises(FetchRefused) as refused:
        normalise(value)

    assert refused.value.code == code
