"""Storage: a small async driver protocol (filesystem, in-memory) and the blob descriptor cache."""
