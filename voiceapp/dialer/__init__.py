"""The dialer: call state machine, clocks, network backends, the document
interpreter and status-callback delivery.  See docs/dialer.md."""
