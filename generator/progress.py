"""Progress bars that honour the standard switches: `--no-progress`, TQDM_DISABLE and
HF_HUB_DISABLE_PROGRESS_BARS (or huggingface_hub's `disable_progress_bars()`), for ours and for the bars of
huggingface_hub and transformers (model downloads, "Loading weights")."""

from __future__ import annotations

import os

from huggingface_hub.utils import tqdm as _hub_tqdm


def disabled_by_environment() -> bool:
    """TQDM_DISABLE set: tqdm reads it only as a default, which an explicit `disable=` overrides."""
    return os.environ.get("TQDM_DISABLE", "").strip().lower() not in ("", "0", "false", "no", "off")


class tqdm(_hub_tqdm):
    """huggingface_hub's tqdm (off when its bars are disabled), also off with TQDM_DISABLE."""

    def __init__(self, *args, **kwargs):
        if disabled_by_environment():
            kwargs["disable"] = True
        super().__init__(*args, **kwargs)


def silence_libraries() -> None:
    """--no-progress: no bar from huggingface_hub or transformers either. transformers reads huggingface_hub's
    switch when it is imported, so it is told only if it is imported already (importing it here would cost
    a second or two at every start)."""
    import sys

    from huggingface_hub.utils import disable_progress_bars

    disable_progress_bars()
    if "transformers.utils.logging" in sys.modules:
        sys.modules["transformers.utils.logging"].disable_progress_bar()


class StepBar:
    """A bar that names each step while it runs (the gallery alone takes seconds), so the wait after the
    shards is not mistaken for a hang."""

    def __init__(self, enabled: bool, steps: list[str], desc: str = "finishing"):
        self.steps, self.desc, self.started = iter(steps), desc, False
        self.bar = tqdm(total=len(steps), desc=desc, unit="step", disable=not enabled, dynamic_ncols=True)

    def next(self) -> None:
        if self.started:
            self.bar.update(1)
        self.started = True
        self.bar.set_description(f"{self.desc}: {next(self.steps)}")

    def close(self) -> None:
        self.bar.update(1)
        self.bar.set_description(f"{self.desc}: done")
        self.bar.close()
