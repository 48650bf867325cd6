"""One command per paper table or figure."""
