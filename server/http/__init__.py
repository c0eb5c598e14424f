"""The HTTP face of Podium: pages, the JSON API, health checks and QR codes."""
