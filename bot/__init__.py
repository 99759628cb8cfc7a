"""qabot: cited answers to questions about a document, offline and on a CPU."""

__version__ = "0.1.0"
