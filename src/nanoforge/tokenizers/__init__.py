"""Tokenizers written from scratch: byte-level BPE and characters, one interface."""
