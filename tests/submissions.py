"""Tiny submissions the grader's tests grade: source text of an adapters module."""

# Correct, and the only adapter: its problem passes, every other is "not attempted".
CORRECT_SOFTMAX = """
import torch

def run_softmax(in_features, dim):
    shifted = in_features - in_features.amax(dim, keepdim=True)
    return shifted.exp() / shifted.exp().sum(dim, keepdim=True)
"""
