import sys

from recycler.cli import main

sys.exit(main())
