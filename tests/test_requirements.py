"""dashboard/requirements.txt (read by Streamlit Community Cloud) must name the same packages
and versions as requirements.txt, torch as the CPU-only build of the same pinned release."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _requirements(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if not line or line.startswith("-"):
            continue
        name, spec = re.match(r"([A-Za-z0-9_.-]+)\s*(.*)", line).groups()
        out[name.lower()] = spec.replace(" ", "")
    return out


def test_cloud_requirements_match_the_local_ones():
    local = _requirements(ROOT / "requirements.txt")
    cloud = _requirements(ROOT / "dashboard" / "requirements.txt")
    assert local["torch"] == "==2.13.0"
    assert cloud.pop("torch") == local.pop("torch") + "+cpu"
    assert cloud == local


def test_cloud_requirements_take_torch_from_the_cpu_index():
    text = (ROOT / "dashboard" / "requirements.txt").read_text()
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in text.splitlines()
