"""sipp as the tests' SIP callee: the launcher the demo uses too (voiceapp.cli.sipp)."""

from __future__ import annotations

from voiceapp.cli.sipp import Sipp, audio_pcap, dtmf_pcap, free_udp_port, start_sipp

__all__ = ["Sipp", "audio_pcap", "dtmf_pcap", "free_udp_port", "start_sipp"]
