"""The agent's I/O: the psutil sampler, the profile scanner and the replay CSV reader."""
