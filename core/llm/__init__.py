"""Models in the loop (#16), the parts without I/O: chat requests from items, retry timing, judge answers."""
