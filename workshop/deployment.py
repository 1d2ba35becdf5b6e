"""Write models/deployment.json (read by app/versions.py): the champion, the challengers, the routing mode.

Writes are atomic (a temporary file, then os.replace): a worker re-reading the file sees the old
deployment or the new one, never half of one. `promote` also refreshes the champion copy in models/
itself, where lessons 01-06 and the tests load "the model".
"""
import json
import os
import shutil
from pathlib import Path

from app.drift import PROFILE
from app.model import ARTIFACT, CARD
from app.versions import DEPLOYMENT, read_deployment


def write_deployment(models_dir: Path, champion: str, challengers: dict[str, float] | None = None,
                     mode: str = "split") -> dict:
    spec = {"champion": champion, "challengers": dict(challengers or {}), "mode": mode}
    models_dir = Path(models_dir)
    for version in [champion, *spec["challengers"]]:
        if not (models_dir / version / CARD).exists():
            raise FileNotFoundError(f"no model folder {models_dir / version}: train it first")
    staging = models_dir / f".{DEPLOYMENT}.tmp"
    staging.write_text(json.dumps(spec, indent=2))
    os.replace(staging, models_dir / DEPLOYMENT)
    read_deployment(models_dir)  # the app's own check: fails here, not in the service
    return spec


def promote(models_dir: Path, version: str) -> dict:
    """`version` answers everything from now on (no challenger); also the champion copy in models/."""
    models_dir = Path(models_dir)
    for name in (ARTIFACT, CARD, PROFILE):
        staging = models_dir / f".{name}.tmp"
        shutil.copyfile(models_dir / version / name, staging)
        os.replace(staging, models_dir / name)
    return write_deployment(models_dir, version)


rollback = promote  # rolling back is promoting the previous champion again


def version_of_champion_copy(models_dir: Path) -> str:
    """Lessons before 07 trained into models/ itself: make sure that model also has its version folder."""
    models_dir = Path(models_dir)
    card = json.loads((models_dir / CARD).read_text())
    folder = models_dir / card["version"]
    if not (folder / CARD).exists():
        folder.mkdir(exist_ok=True)
        for name in (ARTIFACT, PROFILE, CARD):  # the card last: a folder with a card is complete
            if (models_dir / name).exists():
                shutil.copyfile(models_dir / name, folder / name)
    return card["version"]
