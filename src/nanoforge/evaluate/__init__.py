"""Measuring a trained model: loss, decoding quality, adversarial cases."""
