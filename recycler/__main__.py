import sys

from recycler.cli.main import main

sys.exit(main())
