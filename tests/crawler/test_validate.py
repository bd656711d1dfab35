"""What counts as an image worth keeping, and Retry-After parsing."""

from __future__ import annotations

import io
from email.utils import format_datetime
from datetime import datetime, timedelta, timezone

import pytest
from PIL import Image

from vistamatch.crawler import ImageRules, validate_image
from vistamatch.crawler.fetch import parse_retry_after
from vistamatch.crawler.reasons import Rejected
from vistamatch.crawler.validate import content_type_is_image

RULES = ImageRules(min_bytes=200, max_bytes=500_000, min_side=40)


def encode(img: Image.Image, fmt: str, **options) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **options)
    return buf.getvalue()


def reason_for(data: bytes, rules: ImageRules = RULES) -> str:
    with pytest.raises(Rejected) as info:
        validate_image(data, rules)
    return info.value.reason


@pytest.mark.parametrize("fmt, ext", [("JPEG", ".jpg"), ("PNG", ".png"), ("WEBP", ".webp"), ("GIF", ".gif"),
                                      ("BMP", ".bmp"), ("TIFF", ".tiff")])
def test_real_format_decides_the_extension(photos, fmt, ext):
    data = encode(photos["chelsea"].resize((120, 80)), fmt)
    image = validate_image(data, RULES)
    assert (image.extension, image.width, image.height) == (ext, 120, 80)
    assert image.data == data  # kept byte for byte


def test_rejections_by_reason(photos):
    jpeg = encode(photos["coffee"].resize((300, 200)), "JPEG", quality=90)
    assert reason_for(b"<html>" + b"x" * 1000 + b"</html>") == "not_image"
    assert reason_for(jpeg[: len(jpeg) // 2]) == "corrupt"
    assert reason_for(jpeg[:100]) == "too_small"  # under min_bytes
    assert reason_for(encode(photos["coffee"].resize((30, 200)), "PNG")) == "too_small"  # narrow
    assert reason_for(jpeg, ImageRules(min_bytes=200, max_bytes=1000, min_side=40)) == "too_big"
    assert reason_for(jpeg, ImageRules(min_bytes=200, max_pixels=300 * 199)) == "too_big"


def test_max_side_shrinks_and_keeps_the_original_hash(photos):
    data = encode(photos["astronaut"].resize((400, 300)), "PNG")
    plain = validate_image(data, RULES)
    small = validate_image(data, ImageRules(min_bytes=200, min_side=40, max_side=100))
    assert (small.width, small.height, small.extension) == (100, 75, ".png")
    assert small.sha256 == plain.sha256  # duplicates are judged on what was downloaded
    with Image.open(io.BytesIO(small.data)) as img:
        assert img.size == (100, 75)


def test_content_types():
    assert content_type_is_image("image/jpeg; charset=binary")
    assert content_type_is_image("application/octet-stream")
    assert content_type_is_image(None)
    assert not content_type_is_image("text/html; charset=utf-8")
    assert not content_type_is_image("application/json")


def test_retry_after_seconds_and_dates():
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    later = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=30), usegmt=True)
    assert 25 <= parse_retry_after(later) <= 31
    past = format_datetime(datetime.now(timezone.utc) - timedelta(hours=1), usegmt=True)
    assert parse_retry_after(past) == 0.0
