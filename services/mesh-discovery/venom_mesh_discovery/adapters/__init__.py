"""I/O of the mesh: UDP sockets, DNS, the peers file and the key."""
