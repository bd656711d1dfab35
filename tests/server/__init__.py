"""Server tests (a package, so the helpers import by relative name)."""
