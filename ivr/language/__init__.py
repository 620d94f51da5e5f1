"""What the line says and understands: the trained understanding of what
callers mean, its labelled phrasings, and what operations teach it."""
