"""nanoforge: a GPT from raw web text to a trained, evaluated and explained model."""

__version__ = "0.1.0"
