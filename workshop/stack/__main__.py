import sys

from workshop.stack.cli import main

sys.exit(main())
