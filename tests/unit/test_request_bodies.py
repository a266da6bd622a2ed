"""The one body rule every route applies (partnerhub.body): JSON object, UTF-8, application/json."""

from __future__ import annotations

import base64

import pytest

from partnerhub.api import _reason
from partnerhub.body import media_type, raw_bytes, read_body
from partnerhub.errors import MalformedRequest, UnsupportedMediaType


class TestReadBody:
    def test_a_json_object_is_read(self) -> None:
        assert read_body("application/json", b'{"quantity": 2}', required=True) == {"quantity": 2}

    @pytest.mark.parametrize("content_type", ["application/json; charset=utf-8", "Application/JSON;Charset=UTF8"])
    def test_a_utf8_charset_in_any_spelling_is_fine(self, content_type: str) -> None:
        assert read_body(content_type, '{"name": "Zoë"}'.encode(), required=True) == {"name": "Zoë"}

    @pytest.mark.parametrize(
        "content_type", [None, "", "text/plain", "application/x-www-form-urlencoded", "application/json-patch+json"]
    )
    def test_a_body_not_sent_as_json_is_415(self, content_type: str | None) -> None:
        with pytest.raises(UnsupportedMediaType):
            read_body(content_type, b'{"quantity": 2}', required=True)

    def test_another_charset_is_415(self) -> None:
        with pytest.raises(UnsupportedMediaType, match="latin-1"):
            read_body("application/json; charset=latin-1", b"{}", required=True)

    @pytest.mark.parametrize(
        ("data", "code"),
        [
            (b"\xff\xfe{}", "malformed_request"),
            (b'{"a": ', "malformed_request"),
            (b'{"a": NaN}', "malformed_request"),
            (b'{"a": Infinity}', "malformed_request"),
            (b"[1]", "body_not_an_object"),
            (b"3", "body_not_an_object"),
            (b"null", "body_not_an_object"),
        ],
    )
    def test_a_body_that_is_not_a_json_object_is_400(self, data: bytes, code: str) -> None:
        with pytest.raises(MalformedRequest) as error:
            read_body("application/json", data, required=True)
        assert error.value.status == 400
        assert error.value.code == code

    def test_no_body_is_400_only_where_one_is_needed(self) -> None:
        with pytest.raises(MalformedRequest) as error:
            read_body("application/json", b"  \n", required=True)
        assert error.value.code == "body_required"
        assert read_body(None, b"", required=False) is None


class TestRawBytes:
    def test_base64_bodies_are_decoded_and_text_bodies_encoded(self) -> None:
        assert raw_bytes(base64.b64encode(b"\xf8{").decode(), is_base64=True) == b"\xf8{"
        assert raw_bytes("Zoë", is_base64=False) == "Zoë".encode()
        assert raw_bytes(None, is_base64=False) == b""

    def test_a_broken_base64_body_is_400(self) -> None:
        with pytest.raises(MalformedRequest):
            raw_bytes("not*base64", is_base64=True)


def test_media_type_splits_the_header() -> None:
    assert media_type('application/json; charset="UTF-8"') == ("application/json", {"charset": "utf-8"})
    assert media_type(None) == ("", {})


@pytest.mark.parametrize(
    ("loc", "reason"),
    [
        (
            ("body", "tags", 1),
            "use letters, digits, spaces and _ . - only (up to 40), not starting or ending with a space",
        ),
        (("body", "client"), "no control characters (tabs, line breaks)"),
        (
            ("path", "license_key"),
            "must look like <product slug>_<24 to 64 letters and digits>, e.g. jetpack-scan_AbC123...",
        ),
        (("body", "nickname"), "has characters or a shape this field does not allow"),
    ],
)
def test_a_pattern_mismatch_is_said_by_what_the_field_needs(loc: tuple[str | int, ...], reason: str) -> None:
    # A list item's location ends in its index: the reason is the list field's.
    problem = {"type": "string_pattern_mismatch", "loc": loc, "msg": "String should match pattern '^x$'"}
    assert _reason(problem) == reason
