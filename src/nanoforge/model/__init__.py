"""The model: a GPT-2-style decoder-only transformer, whole in gpt.py."""
