"""The `inference` command's own behaviour, in-process (serving itself is in tests/e2e)."""

from __future__ import annotations

from pathlib import Path

import pytest

from entrypoints.cli import main


@pytest.mark.parametrize("command", ["api", "worker"])
def test_the_distributed_commands_say_clearly_that_they_are_not_there_yet(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main([command])

    assert status == 2
    assert "distributed mode" in capsys.readouterr().err


def test_serve_refuses_a_broken_manifest_before_it_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = tmp_path / "model.yaml"
    manifest.write_text("name: half a manifest\n")

    status = main(["serve", "--model", str(manifest)])

    assert status == 2
    assert "missing keys" in capsys.readouterr().err


def test_an_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["fly"])

    assert exit_info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
