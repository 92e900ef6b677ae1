"""`python -m finetune CONFIG.yaml` and `accelerate launch -m finetune CONFIG.yaml`."""

import sys

from finetune.cli import finetune_main

if __name__ == "__main__":
    sys.exit(finetune_main())
