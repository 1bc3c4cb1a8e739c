"""The built-in voice templates (``voice/<language>/*.xml``), installed as voiceapp.templates."""
