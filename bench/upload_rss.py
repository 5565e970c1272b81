"""Peak memory of the Streamlit server while a big JSONL is uploaded through the Dataset Center, previewed
and imported (Streamlit keeps uploads in memory).

    .venv/bin/python bench/upload_rss.py --mb 1024
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.conftest import CHROMIUM, sign_in, start_app  # noqa: E402


def write(path: Path, mb: int) -> None:
    body = json.dumps({"role": "user", "content": "question " + "lorem ipsum " * 30})
    reply = json.dumps({"role": "assistant", "content": "answer " + "dolor sit amet " * 40})
    # At most `mb` MB of 10^6 bytes: that is how the browser side of Streamlit's uploader counts
    # server.maxUploadSize (1024 MB = 1.024e9 bytes off Windows); a file of 1024 MiB is refused there.
    limit = mb * 10**6
    with path.open("w") as out:
        n = 0
        while True:
            line = f'{{"id": "u{n}", "messages": [{body}, {reply}, {body}, {reply}]}}\n'
            if out.tell() + len(line) > limit:
                break
            out.write(line)
            n += 1


def rss(pid: int) -> tuple[float, float]:
    """(current, peak) resident MB of a process and its children's peak is not counted."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line
    )
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=1024)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="parley-upload-") as tmp_name:
        tmp = Path(tmp_name)
        data = tmp / "big.jsonl"
        write(data, args.mb)
        server = start_app(tmp)
        try:
            server.add_user("ann", "password1", role="admin")
            assert server.cli("datasets", "create", "big").returncode == 0
            print(f"server idle: {rss(server.proc.pid)[0]:,.0f} MB; file {data.stat().st_size:,} bytes")
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
                page = browser.new_page()
                page.set_default_timeout(600_000)
                sign_in(page, server, "ann", "password1", path="/datasets")
                page.get_by_role("tab", name="Import").click()
                start = time.monotonic()
                page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(data))
                page.get_by_text("Preview").first.wait_for()
                print(
                    f"upload + preview: {time.monotonic() - start:.0f} s, server peak {rss(server.proc.pid)[1]:,.0f} MB"
                )
                page.get_by_role("button", name="Import", exact=True).click()
                page.get_by_text("Imported into big").wait_for()
                print(
                    f"after import: {time.monotonic() - start:.0f} s, server peak {rss(server.proc.pid)[1]:,.0f} MB"
                )
                browser.close()
        finally:
            server.stop()


if __name__ == "__main__":
    main()
