"""`python -m sglang.launch_server ...` for tests: runs tests/standins/sglang_server.py."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from sglang_server import main

if __name__ == "__main__":
    sys.exit(main())
