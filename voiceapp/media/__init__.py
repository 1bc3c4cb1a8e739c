"""Call media: RTP, G.711, RFC 4733 and in-band DTMF, speech, WAV, bridging.

:class:`voiceapp.media.session.MediaSession` is one call leg's media on the dialer's
event loop; the SIP backend (``voiceapp.dialer.sip_backend``) opens one per leg.
See docs/media.md.
"""
