"""One module per CLI command; each exports ``add_parser(subparsers)``."""
