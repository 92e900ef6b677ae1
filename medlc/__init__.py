"""medlc: long-context open-book medical exam, mixture fine-tuning and uniform scoring."""

__version__ = "0.1.0"
