"""Data: where text comes from (builtin corpora, crawlers), how it is cleaned and stored."""
