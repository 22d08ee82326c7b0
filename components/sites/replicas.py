"""The entry point `python -m components.sites.replicas`, which every DOKS site's `replicas` Command runs
(`components.sites.doks.component.REPLICAS_COMMAND`): existing sites' state records this module path, so it
stays, and runs the code that moved to `components.sites.doks.replicas`."""

import sys

from components.sites.doks.replicas import main

if __name__ == "__main__":
    sys.exit(main())
