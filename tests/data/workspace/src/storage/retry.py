import random
import time


def retry_with_backoff(operation, attempts=5, base_delay=0.1):
    """Call operation until it succeeds, sleeping exponentially longer after each failure."""
    for attempt in range(attempts):
        try:
            return operation()
        except ConnectionError:
            if attempt == attempts - 1:
                raise
            time.sleep(base_delay * (2**attempt) + random.random() * base_delay)
    return None
