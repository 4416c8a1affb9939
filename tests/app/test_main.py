import gc

import pytest

from app import main as runtime
from app.main import tune_gc


@pytest.fixture
def restore_gc(monkeypatch):
    threshold = gc.get_threshold()
    monkeypatch.setattr(runtime, "_tuned", False)
    yield
    gc.set_threshold(*threshold)
    gc.unfreeze()


def test_tune_gc_freezes_start_up_objects_and_raises_the_young_threshold(restore_gc):
    gc.unfreeze()
    tune_gc(12_345)
    assert gc.get_threshold()[0] == 12_345
    assert gc.get_freeze_count() > 0
    assert gc.isenabled()


def test_only_the_first_start_up_tunes(restore_gc):
    gc.unfreeze()
    tune_gc(12_345)
    tune_gc(999)
    assert gc.get_threshold()[0] == 12_345


def test_zero_keeps_pythons_defaults(restore_gc):
    gc.unfreeze()
    before = gc.get_threshold()
    tune_gc(0)
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_the_server_applies_its_setting(tiny_trained, restore_gc):
    from fastapi.testclient import TestClient

    from app.main import create_app
    from app.settings import Settings

    with TestClient(create_app(Settings(model_dir=tiny_trained[1], gc_gen0_threshold=4321))):
        assert gc.get_threshold()[0] == 4321
