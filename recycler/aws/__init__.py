"""boto3 adapters, one per AWS concern, over one client module (`clients.py`); `compose.py` builds them."""
