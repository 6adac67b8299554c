"""Datasets and dataset preparation."""
