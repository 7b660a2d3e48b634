"""The import directions of DESIGN.md: sessions/ is the core; signaling/ and recordings/ never
import each other; nothing imports web/ but web/ itself and the tests."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("sessions", "signaling", "recordings", "web")
FORBIDDEN = {
    "sessions": {"signaling", "recordings", "web", "aiohttp", "aiortc", "av", "jinja2"},
    "signaling": {"recordings", "web"},
    "recordings": {"signaling", "web"},
    "web": set(),
}


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("package", PACKAGES)
def test_import_directions(package: str) -> None:
    offenders = []
    for path in sorted((ROOT / package).rglob("*.py")):
        bad = imported_roots(path) & FORBIDDEN[package]
        if bad:
            offenders.append(f"{path.relative_to(ROOT)} imports {', '.join(sorted(bad))}")
    assert offenders == []


def test_the_rule_detects_a_violation(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("from recordings.recorder import Recorder\nimport aiortc.rtcpeerconnection\n")
    assert imported_roots(sample) == {"recordings", "aiortc"}


def aiortc_internals(path: Path) -> set[str]:
    """Modules below aiortc's public top level (and aioice) that a file imports."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        names = (
            [alias.name for alias in node.names]
            if isinstance(node, ast.Import)
            else [node.module]
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0
            else []
        )
        found.update(n for n in names if n.startswith(("aiortc.", "aioice")))
    return found


ADAPTER = ROOT / "signaling" / "media" / "adapter.py"


@pytest.mark.parametrize("package", PACKAGES)
def test_only_the_adapter_touches_aiortc_internals(package: str) -> None:
    offenders = [
        f"{path.relative_to(ROOT)} imports {', '.join(sorted(internal))}"
        for path in sorted((ROOT / package).rglob("*.py"))
        if path != ADAPTER and (internal := aiortc_internals(path))
    ]
    assert offenders == []


def test_the_internals_rule_detects_a_violation(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("from aiortc import RTCPeerConnection\nfrom aiortc.rtp import RtpPacket\n")
    assert aiortc_internals(sample) == {"aiortc.rtp"}
    assert aiortc_internals(ADAPTER)  # the adapter is where they are


def test_the_test_client_is_not_in_the_product() -> None:
    shipped = {p.name for package in PACKAGES for p in (ROOT / package).rglob("*.py")}
    assert "client.py" not in shipped
