"""``python -m auxqual`` runs the ``auxqual`` command."""

import sys

from auxqual.cli import main

sys.exit(main())
