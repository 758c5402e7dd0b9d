"""The shipped templates' compiled code is kept on disk (connector.dunning.template_cache): a
new process renders the same bytes from it without compiling, never from code another source or
another compiler made, and never keeps an owner's template."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from jinja2.bccache import bc_magic

from connector.dunning import rendering
from connector.dunning.rendering import ReminderRenderer, keep_compiled_templates
from connector.dunning.template_cache import CompiledTemplates
from tests.support.render_samples import varied_contexts

_OWN = "{% block subject %}Relance {{ shop.name }}{% endblock %}{% block body %}v1{% endblock %}"


@pytest.fixture
def new_process(monkeypatch: pytest.MonkeyPatch) -> Callable[[], Any]:
    """A fresh shipped sandbox, as a new worker process starts with (nothing compiled)."""

    def start() -> Any:
        env = rendering._make_env({})
        monkeypatch.setattr(rendering, "_shipped_env", lambda: env)
        return env

    return start


def _compiles(env: Any, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    names: list[str] = []
    compile_ = env.compile

    def counted(source: str, name: str | None = None, *args: Any, **kwargs: Any) -> Any:
        names.append(str(name))
        return compile_(source, name, *args, **kwargs)

    monkeypatch.setattr(env, "compile", counted)
    return names


def test_a_new_process_renders_the_same_bytes_from_the_kept_code_without_compiling(
    tmp_path: Path, new_process: Callable[[], Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    contexts = list(varied_contexts())
    new_process()
    uncached = [ReminderRenderer().render(ctx) for ctx in contexts]
    new_process()
    keep_compiled_templates(tmp_path)
    first = [ReminderRenderer().render(ctx) for ctx in contexts]
    assert list(tmp_path.glob("*.jinja"))
    compiled = _compiles(new_process(), monkeypatch)
    keep_compiled_templates(tmp_path)
    second = [ReminderRenderer().render(ctx) for ctx in contexts]
    assert compiled == []
    assert first == uncached
    assert second == uncached


def test_code_another_compiler_kept_is_not_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another fingerprint (our sandbox's or typography's source, Jinja's version) compiles."""
    env = rendering._make_env({})
    env.bytecode_cache = CompiledTemplates(tmp_path, "compiler A")
    env.get_template("fr/reminder_1")
    other = rendering._make_env({})
    other.bytecode_cache = CompiledTemplates(tmp_path, "compiler B")
    compiled = _compiles(other, monkeypatch)
    other.get_template("fr/reminder_1")
    assert "fr/reminder_1" in compiled


def test_a_changed_source_under_the_same_name_is_compiled_again(tmp_path: Path) -> None:
    kept = CompiledTemplates(tmp_path, "one compiler")
    env = rendering._make_env({"fr/reminder_1": _OWN})
    env.bytecode_cache = kept
    assert env.get_template("fr/reminder_1").render(shop={"name": "A"}) == "Relance Av1"
    edited = rendering._make_env({"fr/reminder_1": _OWN.replace("v1", "v2")})
    edited.bytecode_cache = kept
    assert edited.get_template("fr/reminder_1").render(shop={"name": "A"}) == "Relance Av2"


def test_an_owners_templates_are_never_kept(tmp_path: Path, new_process: Callable[[], Any]) -> None:
    new_process()
    keep_compiled_templates(tmp_path)
    ctx = next(c for c in varied_contexts() if c.locale.startswith("fr") and c.step == "reminder_1")
    ReminderRenderer().render(ctx)
    shipped = sorted(tmp_path.iterdir())
    owner = ReminderRenderer({"fr/reminder_1": _OWN})
    assert owner.render(ctx).subject.startswith("Relance")
    assert owner._env.bytecode_cache is None
    assert sorted(tmp_path.iterdir()) == shipped


def test_an_unreadable_kept_file_is_compiled_again(
    tmp_path: Path, new_process: Callable[[], Any]
) -> None:
    contexts = list(varied_contexts())[:8]
    new_process()
    keep_compiled_templates(tmp_path)
    expected = [ReminderRenderer().render(ctx) for ctx in contexts]
    for path in tmp_path.glob("*.jinja"):
        path.write_bytes(bc_magic + b"not a pickle")
    new_process()
    keep_compiled_templates(tmp_path)
    assert [ReminderRenderer().render(ctx) for ctx in contexts] == expected


def test_a_missing_folder_does_not_fail_a_render(
    tmp_path: Path, new_process: Callable[[], Any]
) -> None:
    new_process()
    keep_compiled_templates(tmp_path / "kept")
    (tmp_path / "kept").rmdir()
    ctx = next(iter(varied_contexts()))
    assert ReminderRenderer().render(ctx).subject


def test_no_folder_to_keep_code_in_means_compiling_as_before(
    tmp_path: Path, new_process: Callable[[], Any]
) -> None:
    env = new_process()
    (tmp_path / "kept").write_text("a file where the folder would be")
    keep_compiled_templates(tmp_path / "kept")
    assert env.bytecode_cache is None
    assert ReminderRenderer().render(next(iter(varied_contexts()))).subject


def test_a_folder_others_may_write_to_keeps_no_code(
    tmp_path: Path, new_process: Callable[[], Any]
) -> None:
    """The kept files run outside the sandbox: a folder left open to others (a var dir shared
    by two installs, a loose umask) is not used, and rendering goes on, compiled."""
    shared = tmp_path / "kept"
    shared.mkdir(mode=0o777)
    shared.chmod(0o777)
    env = new_process()
    keep_compiled_templates(shared)
    assert env.bytecode_cache is None
    assert ReminderRenderer().render(next(iter(varied_contexts()))).subject
    assert not list(shared.glob("*.jinja"))
