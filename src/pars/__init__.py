"""PARS: arrest records shared with outside agencies under written agreements.

Every record that leaves for an outside party passes one gate, which decides by the
agency's agreement and writes an entry to an RFC 6962 Merkle log before any data
leaves.
"""

__version__ = "0.1.0"
