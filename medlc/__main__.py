import sys

from medlc.cli import main

sys.exit(main())
