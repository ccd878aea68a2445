"""wharf's benchmark against distribution (issue 5). Run ``python bench/run.py``; see bench/README.md."""
