"""The Socket.IO face of Podium: thin handlers that validate, call the domain, persist, emit."""
