"""The README's Python example runs as written and does what the commands it names do."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from huggingface_hub import constants

from hfstats.testing.fakehub import FakeHub
from hfstats.testing.synthetic import synthetic_models

README = Path(__file__).resolve().parent.parent / "README.md"


def test_the_readme_python_example_runs_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    [example] = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    models = list(synthetic_models(30, seed=8))
    monkeypatch.chdir(tmp_path)
    with FakeHub(models) as hub:
        monkeypatch.setattr(constants, "ENDPOINT", hub.url)  # what HF_ENDPOINT sets
        exec(compile(example, str(README), "exec"), {})
        assert hub.stats.requests >= 1
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == f"True {len(models)}"
    # The tags method (docs/queries.md), counted from the listing itself.
    pytorch_only = sum(
        1 for m in models if "pytorch" in m["tags"] and not {"tf", "jax"} & set(m["tags"])
    )
    assert pytorch_only and f"('pytorch_only', {pytorch_only}," in printed[1]
    assert any(line.startswith("| pytorch-exclusive") for line in printed)
    assert (tmp_path / "reports/latest/index.html").is_file()
    assert (tmp_path / "reports/latest/charts/exclusivity.svg").is_file()
    assert not (tmp_path / "reports/latest/charts/exclusivity.png").exists()
    assert sorted(p.name for p in (tmp_path / "history").iterdir() if p.is_dir()) == [
        "model_counters",
        "model_versions",
        "snapshots",
    ]
