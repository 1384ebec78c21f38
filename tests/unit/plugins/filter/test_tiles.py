"""The tiles role's filters: part names and input checks."""

import pytest
from ansible_collections.geostack.cluster.plugins.filter.tiles import tiles_part_name, tiles_parts_errors

SHA = "a" * 64


def test_part_names_come_from_the_url_path_or_the_s3_key():
    assert tiles_part_name({"url": "https://example.com/data/tiles.z01?sig=x"}) == "tiles.z01"
    assert tiles_part_name({"s3_bucket": "b", "s3_object": "dumps/2026/tiles.zip"}) == "tiles.zip"


def test_a_sound_split_archive_has_no_errors():
    parts = [{"url": f"https://h/t.z0{i}", "sha256": SHA} for i in (1, 2)] + [{"s3_bucket": "b", "s3_object": "t.zip", "sha256": SHA.upper()}]
    assert tiles_parts_errors(parts) == []
    assert tiles_parts_errors([]) == []


@pytest.mark.parametrize(
    ("parts", "message"),
    [
        ("tiles.zip", "must be a list"),
        (["tiles.zip"], "tiles_archive_parts[0] must be a dict"),
        ([{"sha256": SHA}], "needs either url or s3_bucket + s3_object"),
        ([{"url": "https://h/t.zip", "s3_bucket": "b", "s3_object": "t.zip", "sha256": SHA}], "either url or"),
        ([{"s3_bucket": "b", "sha256": SHA}], "needs both s3_bucket and s3_object"),
        ([{"url": "scp://h/t.zip", "sha256": SHA}], "tiles_archive_parts[0].url"),
        ([{"url": "https://h/t.zip", "sha256": "abc"}], "tiles_archive_parts[0].sha256"),
        ([{"url": "https://h/t.zip", "sha256": SHA}, {"url": "https://g/t.zip", "sha256": SHA}], "same file twice: t.zip"),
        ([{"url": "https://h/t.z01", "sha256": SHA}, {"url": "https://h/t.z02", "sha256": SHA}], "needs its .zip part"),
        ([{"url": "https://h/", "sha256": SHA}], "has no file name"),
    ],
)
def test_each_mistake_is_named(parts, message):
    assert any(message in e for e in tiles_parts_errors(parts)), tiles_parts_errors(parts)
