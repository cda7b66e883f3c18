"""The session store: layout, damage reports, names, listing."""

from __future__ import annotations

import json

import pytest

from cnn_tui.core.config import TrainConfig
from cnn_tui.core.presets import preset
from cnn_tui.core.sessions import SessionError, SessionStore, check_name
from cnn_tui.core.trainer import train


@pytest.fixture
def store(tmp_path):
    store = SessionStore(tmp_path / "sessions")
    train(preset("seed"), TrainConfig(dataset="synthetic", train_size=200, test_size=50, epochs=2), store, "good")
    return store


def test_session_json_has_what_the_spec_lists(store):
    meta = json.loads((store.root / "good" / "session.json").read_text())
    for key in ("schema_version", "name", "created", "updated", "architecture", "config", "dataset",
                "device", "status", "reason", "summary", "versions"):
        assert key in meta, key
    assert meta["summary"] == {"total_params": 32998, "total_macs": 232440, "counted_layers": 5}
    assert meta["versions"]["torch"] and meta["status"] == "finished"
    assert not list((store.root / "good").glob("*.tmp"))  # no temporary files left behind


def test_fields_a_newer_version_wrote_survive_a_rewrite(store):
    path = store.root / "good" / "session.json"
    meta = json.loads(path.read_text())
    path.write_text(json.dumps({**meta, "distributed": {"world_size": 4}}))
    with store.claim("good") as session:
        session.set_status("stopped", "kept")
    rewritten = json.loads(path.read_text())
    assert rewritten["distributed"] == {"world_size": 4} and rewritten["reason"] == "kept"


@pytest.mark.parametrize("key, value", [("pid", "12"), ("started", [1]), ("terminal_lost", 5), ("exact", 1),
                                        ("detached", "yes"), ("summary", None)])
def test_every_typed_field_is_checked_and_named(store, key, value):
    path = store.root / "good" / "session.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), key: value}))
    with pytest.raises(SessionError, match=f"damaged \\({key} is"):
        store.open("good")


def test_torn_last_metrics_line_is_ignored_with_a_warning(store):
    path = store.root / "good" / "metrics.jsonl"
    path.write_text(path.read_text() + '{"epoch": 2, "total_lo')
    rows, warnings = store.open("good").read_metrics()
    assert len(rows) == 2 and len(warnings) == 1 and "torn last line" in warnings[0]
    infos, problems = store.list()
    assert infos[0].epochs_done == 2 and problems == []


def test_damage_in_the_middle_of_metrics_is_named(store):
    path = store.root / "good" / "metrics.jsonl"
    lines = path.read_text().splitlines()
    path.write_text("garbage\n" + "\n".join(lines) + "\n")
    with pytest.raises(SessionError, match=r"metrics.jsonl: line 1 is damaged"):
        store.open("good").read_metrics()


def test_truncated_session_json_is_reported_and_others_still_listed(store):
    train(preset("seed"), TrainConfig(dataset="synthetic", train_size=100, test_size=20, epochs=1), store, "other")
    file = store.root / "good" / "session.json"
    file.write_text(file.read_text()[:50])
    with pytest.raises(SessionError, match=r"good/session.json: damaged"):
        store.open("good")
    infos, problems = store.list()
    assert [info.name for info in infos] == ["other"]
    assert len(problems) == 1 and "good/session.json" in problems[0]


def test_foreign_session_json_is_reported(store):
    (store.root / "good" / "session.json").write_text('{"hello": "world"}')
    with pytest.raises(SessionError, match="not a cnn-tui session"):
        store.open("good")


def test_foreign_checkpoint_is_reported(store):
    import torch

    torch.save({"something": torch.zeros(2)}, store.root / "good" / "checkpoint.pt")
    with pytest.raises(SessionError, match=r"checkpoint.pt: not a cnn-tui checkpoint"):
        store.open("good").load_checkpoint()
    (store.root / "good" / "checkpoint.pt").write_bytes(b"not a zip at all")
    with pytest.raises(SessionError, match=r"checkpoint.pt: not a cnn-tui checkpoint"):
        store.open("good").load_checkpoint()


def test_checkpoint_with_a_pickled_object_is_refused(store, tmp_path):
    import torch

    torch.save({"model": {}, "optimizer": {}, "epoch": 1, "rng": {}, "x": object()}, store.root / "good" / "checkpoint.pt")
    with pytest.raises(SessionError, match="not a cnn-tui checkpoint"):
        store.open("good").load_checkpoint()  # weights_only=True refuses arbitrary objects


def test_resume_from_a_foreign_checkpoint_fails_cleanly(store):
    import torch

    torch.save({"model": {"w": torch.zeros(1)}, "optimizer": {}, "epoch": 1, "rng": {}}, store.root / "good" / "checkpoint.pt")
    ended = train(None, TrainConfig(dataset="synthetic", train_size=200, test_size=50, epochs=3), store, "good", resume=True)
    assert ended.status == "failed" and "checkpoint.pt: does not fit" in ended.reason


@pytest.mark.parametrize("name", ["ok", "run-1.2_x", "A" * 100])
def test_good_names(name):
    assert check_name(name) == name


@pytest.mark.parametrize("name", ["", ".", "..", "a/b", "../x", "a b", "é", "A" * 101, "x\n"])
def test_bad_names(name, tmp_path):
    with pytest.raises(SessionError, match="invalid session name"):
        SessionStore(tmp_path).path(name)


def test_listing_an_absent_store_is_empty(tmp_path):
    assert SessionStore(tmp_path / "none").list() == ([], [])
