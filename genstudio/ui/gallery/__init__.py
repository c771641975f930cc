"""Gallery browser: a lazily paged, virtualised thumbnail grid with a detail pane."""
