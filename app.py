"""The web app for `uvicorn app:app --reload` from the repository root (kept from the original project).

Settings come from the original environment variables (GALLERY_DIR, WEIGHTS_PATH, ...; see
docs/api.md). The model and index load in the background once the server is up, so the page
answers at once; `vistamatch serve --gallery DIR` does the same with command-line options.
"""

from vistamatch.server import Settings, create_app

app = create_app(Settings.from_env())
