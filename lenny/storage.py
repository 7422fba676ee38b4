"""Static files storage: the manifest once collected, the plain files before that."""

from __future__ import annotations

from whitenoise.storage import CompressedManifestStaticFilesStorage


class CollectedOrFoundStaticFilesStorage(CompressedManifestStaticFilesStorage):
    """Whitenoise's compressed manifest storage that also works before `collectstatic`.

    Without a manifest the manifest storage fails every `{% static %}` tag, so every page is a
    500 until someone runs `collectstatic`. With no manifest at all this storage answers the plain
    name instead, and whitenoise (WHITENOISE_USE_FINDERS) serves the file from the app and
    project static folders. Once a manifest exists it is strict as usual: a file missing from it
    is an error, not a silent fallback.
    """

    def stored_name(self, name: str) -> str:
        if not self.hashed_files:
            return name
        return super().stored_name(name)
