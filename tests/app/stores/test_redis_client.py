"""The one translation point for Redis errors, and the settings that guard the connection."""

import inspect

import pytest
import redis.exceptions as rx
from pydantic import ValidationError

from app.errors import StoreUnavailable
from app.metrics import REDIS_ERROR_KINDS, Metrics
from app.settings import Settings
from app.stores.redis_client import redis_errors, translate

FOREIGN = sorted(
    (cls for _, cls in inspect.getmembers(rx, inspect.isclass)
     if issubclass(cls, rx.RedisError | rx.RedisClusterException)),
    key=lambda c: c.__name__,
)  # fmt: skip


def instance(cls: type[BaseException]) -> BaseException:
    exc = cls.__new__(cls)  # some constructors parse server replies; the class is what matters here
    exc.args = ("redis-py's own text: user=alice pass=hunter2",)
    return exc


@pytest.mark.parametrize("cls", [*FOREIGN, TimeoutError], ids=lambda c: c.__name__)
def test_every_redis_exception_is_translated(cls):
    error = translate(instance(cls), "10.0.0.1:6379", "looking up features", timeout_ms=5)
    assert isinstance(error, StoreUnavailable)
    assert error.status == 503 and error.code == "store_unavailable"
    assert error.kind in REDIS_ERROR_KINDS
    assert error.detail.startswith("Redis ") and error.detail.endswith(" while looking up features")
    assert "hunter2" not in error.detail and "redis-py" not in error.detail
    assert "10.0.0.1" not in error.detail and error.address == "10.0.0.1:6379"  # for the log, not the client


@pytest.mark.parametrize(
    ("cls", "kind", "text"),
    [
        (rx.TimeoutError, "timeout", "did not answer within 5 ms"),
        (TimeoutError, "timeout", "did not answer within 5 ms"),
        (rx.AuthenticationError, "auth", "refused our credentials"),
        (rx.NoPermissionError, "auth", "refused our credentials or permissions"),
        (rx.ConnectionError, "connection", "is unreachable"),
        (rx.OutOfMemoryError, "response", "out of memory"),
        (rx.ClusterDownError, "cluster", "cluster is not usable"),
        (rx.ResponseError, "response", "rejected a command"),
    ],
)
def test_translations_say_what_went_wrong(cls, kind, text):
    error = translate(instance(cls), "h:1", "x", timeout_ms=5)
    assert (error.kind, text in error.detail) == (kind, True)


def test_redis_errors_counts_and_chains():
    metrics = Metrics()
    original = instance(rx.ConnectionError)
    with pytest.raises(StoreUnavailable) as info, redis_errors("h:1", "reading", metrics):
        raise original
    assert info.value.__cause__ is original
    assert metrics.redis_errors.labels("connection")._value.get() == 1


def test_other_errors_pass_through():
    with pytest.raises(ValueError, match="ours"), redis_errors("h:1", "reading"):
        raise ValueError("ours")


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"redis_url": "redis://:secret@127.0.0.1:6379/0"}, "must not carry credentials"),
        ({"redis_url": "redis://alice:secret@127.0.0.1:6379/0"}, "must not carry credentials"),
        ({"redis_url": "http://127.0.0.1:6379"}, "must look like redis://"),
        ({"store": "redis"}, "needs CTR_REDIS_MODEL"),
        ({"redis_model": "a{b}"}, "letters, digits"),
        ({"redis_timeout_ms": 0}, "greater than 0"),
    ],
)
def test_unsafe_or_incomplete_settings_are_refused(values, message):
    with pytest.raises(ValidationError, match=message):
        Settings(**values)


def test_the_password_is_a_secret():
    settings = Settings(store="redis", redis_model="m", redis_password="hunter2", redis_username="alice")
    assert "hunter2" not in repr(settings) and "hunter2" not in str(settings)
    assert "hunter2" not in settings.model_dump_json()
    assert settings.redis_password.get_secret_value() == "hunter2"
    assert settings.redis_address == "127.0.0.1:6379"
