"""Experiments over many training runs: ablation summaries and scaling-law fits."""
