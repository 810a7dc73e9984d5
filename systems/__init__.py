"""Physical systems (installed as ``physlearn.systems``): one module per family."""

from .resistor import ResistorNetwork, ResistorState

__all__ = ["ResistorNetwork", "ResistorState"]
