"""classcert: conformance harness for smart-classroom equipment."""

__version__ = "0.1.0"
