"""Knowledge: knowledge bases, document import and parsing, chunking, the vector and full-text indexes,
hybrid retrieval and recall tests.
"""
