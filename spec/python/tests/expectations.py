"""What the tests expect of a failure, shared by the test modules (conftest.py puts this folder on
``sys.path``: pytest's importlib mode imports no test module by name)."""

from __future__ import annotations

import pytest

from ndpack import NdpackError


def expect(code: str, call) -> NdpackError:
    """The ``NdpackError`` that ``call()`` raises, whose code must be ``code``."""
    with pytest.raises(NdpackError) as info:
        call()
    assert info.value.code == code, info.value
    return info.value
