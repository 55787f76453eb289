"""hfstats: re-measurable analytics on the Hugging Face Hub's model metadata."""

__version__ = "0.1.0"
