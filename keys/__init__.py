"""Keys and trust: agency key pairs, the Signer protocol, strict JWS, the trust registry.

The bottom layer: it imports nothing else of the project. permits/ builds on it, verifier/
on both, and cli.py on all three.
"""
