import sys

from recycler.local.cli import main

sys.exit(main())
