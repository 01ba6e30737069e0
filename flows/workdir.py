"""The working directory of a deployed run: the netliq checkout, wherever the worker was started.

prefect.yaml's pull step. A process worker starts each flow run in a directory of its own (a
temporary one), and the deployment's entrypoint (`flows/pipeline.py:daily`) and the default data
dir (`./data`) are relative to the checkout, so the run must change into the checkout first.
`{{ $PWD }}` did that only by luck: Prefect resolves it when `prefect deploy` runs, from the PWD
variable of its environment (which a shell keeps, and a program starting `prefect deploy` in
another directory may not), and at run time from the worker's when it was not set at deploy.

Here the checkout is found from the code the run is executing: the worker's Python has netliq
installed from a checkout (`uv sync` installs it editable), so the directory that holds this
package is that checkout, on every machine, at whatever path. `NETLIQ_HOME`, set in the worker's
environment, names another one. Either must look like a netliq checkout (pyproject.toml,
prefect.yaml and flows/pipeline.py), or the run stops here with a message that says what to set.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

HOME_ENV = "NETLIQ_HOME"
MARKERS = ("pyproject.toml", "prefect.yaml", "flows/pipeline.py")


class NotACheckout(RuntimeError):
    """The directory a deployed run would change into is not a netliq checkout."""


def installed_checkout() -> Path:
    """The directory holding the installed `flows` package: the checkout of an editable install."""
    return Path(__file__).resolve().parents[1]


def checkout_directory(env: Mapping[str, str] = os.environ) -> Path:
    """NETLIQ_HOME if set, else the installed checkout; NotACheckout when it is not one."""
    named = env.get(HOME_ENV, "").strip()
    where = Path(named).expanduser().resolve() if named else installed_checkout()
    missing = [marker for marker in MARKERS if not (where / marker).is_file()]
    if missing:
        origin = f"{HOME_ENV}={named}" if named else f"the directory netliq is installed from ({where})"
        raise NotACheckout(
            f"a deployed netliq run needs the netliq checkout as its working directory, but {origin} "
            f"has no {', '.join(missing)}: set {HOME_ENV} in the worker's environment to the checkout "
            f"(the folder with prefect.yaml), or start the worker with that checkout's environment "
            f"(`uv run --project /path/to/netliq prefect worker start --pool default`)"
        )
    return where


def enter_checkout() -> dict[str, str]:
    """The pull step: change into the checkout; returns it as the step's output `directory`."""
    where = checkout_directory()
    os.chdir(where)
    return {"directory": str(where)}
