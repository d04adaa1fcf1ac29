"""Pure rules of the four organs (SPEC F-ORG-R/B/E/O, seed 000 "Four Organs"), one module per organ."""
