"""Mesh discovery: authenticated UDP announcements, a peer table, broadcast and NanoBots (F-MESH-1, -2, -4)."""
