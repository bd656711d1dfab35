"""URL list -> concurrent downloads -> validated images in a gallery folder, until exactly N are there."""

from .fetch import Fetcher, FetchSettings
from .reader import SourceRow, open_url_source
from .run import CrawlConfig, CrawlReport, crawl, format_summary
from .validate import ImageRules, ValidImage, validate_image
from .writer import MANIFEST_NAME, GalleryWriter, read_manifest

__all__ = [
    "MANIFEST_NAME",
    "CrawlConfig",
    "CrawlReport",
    "FetchSettings",
    "Fetcher",
    "GalleryWriter",
    "ImageRules",
    "SourceRow",
    "ValidImage",
    "crawl",
    "format_summary",
    "open_url_source",
    "read_manifest",
    "validate_image",
]
