"""Gallery crawler of the original project, kept for its users: same flags, now `vistamatch crawl`.

Example: python download_gallery_success_target_fixed.py --csv data.csv --col image_url --target 12000 --save_dir gallery_images
"""

import sys

from vistamatch.cli.crawl import main

if __name__ == "__main__":
    sys.exit(main())
