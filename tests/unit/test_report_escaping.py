"""report.md is inert: a name from a config cannot inject HTML, break a table or close the config's code fence."""

from __future__ import annotations

from retain.runs.pages import write_report
from tests.runfolders import make_run

HOSTILE = "<script>alert(1)</script>|x"


def test_report_md_escapes_what_comes_from_files(tmp_path):
    make_run(tmp_path / "runs" / "a", HOSTILE, 0, [[0.9], [0.8, 0.7]], params={"note": "```\n<img src=x onerror=1>"})
    report = write_report([tmp_path / "runs"], tmp_path / "report")
    text = report.markdown.read_text()
    outside_code = text.split("<details>")[0] + "".join(part.split("yaml\n")[0] for part in text.split("<details>")[1:])
    assert "<script>" not in outside_code and "&lt;script&gt;" in outside_code  # in the code block it is inert
    assert "alert(1)&lt;/script&gt;\\|x" in text  # the | cannot split the table row
    config = text.split("config of ")[1]
    fence = config.split("\n\n")[1].split("yaml")[0]
    assert len(fence) > 3 and fence.strip("`") == ""  # longer than the ``` inside the config
