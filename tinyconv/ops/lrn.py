"""lrn ops (being written)."""
__all__ = []
