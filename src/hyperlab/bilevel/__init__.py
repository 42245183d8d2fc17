"""Gradient-based bilevel optimization on the toy problem of the assignment."""
