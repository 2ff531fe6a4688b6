"""One module per area; each exposes the page functions medai_app registers."""
