"""Media servers Podium talks to server-side (Janus, for the SFU mode)."""
