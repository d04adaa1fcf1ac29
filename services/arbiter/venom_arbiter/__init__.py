"""The arbiter: the pulse, the organs' fan-out, the decision, the genomic PID and the genome."""
