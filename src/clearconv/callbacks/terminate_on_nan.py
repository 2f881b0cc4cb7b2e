"""TerminateOnNaN: stop training at the first batch whose loss is NaN or infinite."""

from __future__ import annotations

import numpy as np

from .callback import Callback, Logs, print_message


class TerminateOnNaN(Callback):
    """Stop training when a batch's loss is NaN or infinite.

    Prints ``Batch {batch}: Invalid loss, terminating training`` and sets
    ``model.stop_training``; with ``raise_error=True`` raises RuntimeError instead.
    """

    def __init__(self, raise_error: bool = False) -> None:
        super().__init__()
        self.raise_error = raise_error

    def on_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is None or np.all(np.isfinite(loss)):
            return
        if self.raise_error:
            raise RuntimeError(f"NaN or Inf loss encountered at batch {batch}. Loss value: {loss}. "
                               "Terminating training immediately.")
        print_message(f"Batch {batch}: Invalid loss, terminating training")
        self.model.stop_training = True
