"""What a commune's PC needs to boot straight into its kiosk: a Chromium managed policy that
allows the camera, the microphone and autoplay for our origin only, an autostart entry that opens
the kiosk link full screen, the local CA when the server is on TLS, and a script that puts each
file in place. ``diemcau site kiosk CODE --setup DIR`` writes them; ``docs/kiosk-setup.md`` is the
guide in Vietnamese."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

POLICY_NAME = "diemcau.json"  # under /etc/chromium/policies/managed/ (Debian's Chromium)
AUTOSTART_NAME = "diemcau-kiosk.desktop"  # under ~/.config/autostart/
KIOSK_FLAGS = (
    "--kiosk",
    "--no-first-run",
    "--noerrdialogs",
    "--disable-session-crashed-bubble",
    "--disable-translate",
    "--check-for-update-interval=31536000",
)


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not a web address: {url!r}")
    return f"{parts.scheme}://{parts.netloc}"


def policy(origin: str) -> dict[str, object]:
    """Chromium's managed policy: our origin may use the camera and microphone without asking
    and play sound by itself; nothing else is granted."""
    return {
        "VideoCaptureAllowedUrls": [origin],
        "AudioCaptureAllowedUrls": [origin],
        "AutoplayAllowlist": [origin],
        "DefaultNotificationsSetting": 2,
        "PasswordManagerEnabled": False,
        "TranslateEnabled": False,
        "MetricsReportingEnabled": False,
        "BrowserSignin": 0,
    }


def autostart(kiosk_url: str) -> str:
    command = shlex.join(["chromium", *KIOSK_FLAGS, kiosk_url])
    return (
        "[Desktop Entry]\n"
        "Type=Application\n"
        "Name=Điểm cầu — kiosk\n"
        f"Exec={command}\n"
        "X-GNOME-Autostart-enabled=true\n"
        "Terminal=false\n"
    )


INSTALL = f"""#!/bin/sh
# Puts the kiosk's files in place on this PC (Debian with Chromium). Run it from this folder as
# the desktop user that logs in automatically; it asks for the administrator's password once.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
sudo install -d -m 0755 /etc/chromium/policies/managed
sudo install -m 0644 "$here/{POLICY_NAME}" /etc/chromium/policies/managed/{POLICY_NAME}
install -d -m 0700 "$HOME/.config/autostart"
install -m 0600 "$here/{AUTOSTART_NAME}" "$HOME/.config/autostart/{AUTOSTART_NAME}"
if [ -f "$here/ca.pem" ]; then
  command -v certutil >/dev/null || sudo apt-get install -y libnss3-tools
  install -d -m 0700 "$HOME/.pki/nssdb"
  [ -f "$HOME/.pki/nssdb/cert9.db" ] || certutil -d "sql:$HOME/.pki/nssdb" -N --empty-password
  certutil -d "sql:$HOME/.pki/nssdb" -A -t "C,," -n "Diem cau CA" -i "$here/ca.pem"
fi
echo "Xong. Khởi động lại máy: màn hình sẽ tự mở điểm cầu."
"""


@dataclass(frozen=True)
class Written:
    folder: Path
    files: tuple[Path, ...]


def write(folder: Path, kiosk_url: str, ca_pem: Path | None = None) -> Written:
    """The kiosk's files in ``folder`` (0700; the autostart entry holds the device link, 0600)."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    folder.chmod(0o700)
    origin = origin_of(kiosk_url)
    files = []
    target = folder / POLICY_NAME
    target.write_text(json.dumps(policy(origin), indent=2) + "\n", encoding="utf-8")
    files.append(target)
    target = folder / AUTOSTART_NAME
    target.write_text(autostart(kiosk_url), encoding="utf-8")
    target.chmod(0o600)
    files.append(target)
    target = folder / "install.sh"
    target.write_text(INSTALL, encoding="utf-8")
    target.chmod(0o700)
    files.append(target)
    if ca_pem is not None:
        target = folder / "ca.pem"
        target.write_bytes(ca_pem.read_bytes())
        files.append(target)
    return Written(folder, tuple(files))
