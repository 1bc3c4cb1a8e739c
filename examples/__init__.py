"""Example documents and configs (``demo.toml``); installed as ``voiceapp.examples``."""
