"""Build gallery_features.npy + gallery_mapping.npy (+ gallery_manifest.json) from gallery_images/.

Kept for users of the original project: same command, same default paths and environment variables
(GALLERY_DIR, WEIGHTS_PATH, GALLERY_FEATURES_PATH, GALLERY_MAPPING_PATH). Now incremental and
resumable; any `vistamatch index` option works too, e.g. `python build_gallery_features.py --help`.
"""

import sys

from vistamatch.cli import main

if __name__ == "__main__":
    sys.exit(main(["index", *sys.argv[1:]]))
