"""Figures: embeddings, attention, training curves."""
