"""voiceapp: a self-hostable toolkit for TwiML-style voice applications."""
