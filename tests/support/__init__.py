"""Helpers the tests run or import; never shipped with the project."""
