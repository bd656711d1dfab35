"""One router per resource: search, history, gallery files and thumbnails, stats, the page."""
