"""Dataset converters and the synthetic multi-view generator (programs, not library code)."""
