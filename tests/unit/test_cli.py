"""wharf.cli: how ``wharf serve --workers`` and ``$WHARF_WORKERS`` are read."""

from __future__ import annotations

import pytest

from wharf import cli


def workers(monkeypatch: pytest.MonkeyPatch, *argv: str, environ: str | None = None) -> int:
    if environ is None:
        monkeypatch.delenv("WHARF_WORKERS", raising=False)
    else:
        monkeypatch.setenv("WHARF_WORKERS", environ)
    count: int = cli._parser().parse_args(["serve", *argv]).workers
    return count


@pytest.mark.parametrize(
    ("argv", "environ", "count"),
    [
        ((), None, 1),
        ((), "", 1),
        ((), "0", 1),
        ((), "2", 2),
        (("--workers", "3"), "2", 3),
        (("--workers", "0"), None, 1),
    ],
)
def test_workers_from_the_flag_then_the_environment_then_one(
    monkeypatch: pytest.MonkeyPatch, argv: tuple[str, ...], environ: str | None, count: int
) -> None:
    assert workers(monkeypatch, *argv, environ=environ) == count


# int() alone also reads these: "١٢" would have started twelve workers.
@pytest.mark.parametrize("text", ["١٢", "１２", "2\u00a0"])
def test_workers_in_other_digits_are_refused(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], text: str
) -> None:
    with pytest.raises(SystemExit) as flag:
        workers(monkeypatch, "--workers", text)
    with pytest.raises(SystemExit) as environment:
        workers(monkeypatch, environ=text)
    assert flag.value.code == environment.value.code == 2
    assert capsys.readouterr().err.count(f"argument --workers: invalid int value: {text!r}") == 2
