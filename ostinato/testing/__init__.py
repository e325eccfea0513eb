"""Builders of synthetic audio and data with known answers, shipped so users' tests can use them too."""
