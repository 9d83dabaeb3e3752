"""recycler: replace the oldest instance of each opted-in Auto Scaling group, every day, safely."""

__version__ = "0.1.0"
