"""Podium's rules: pure functions and values, no I/O (no aiohttp, socketio or redis here)."""
