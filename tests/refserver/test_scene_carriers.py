"""How the conforming server reads ``scene_path``: one string, from the JSON body only.

The carrier faults (duplicate keys, query override, raw-text checks, lenient
bodies, untyped values) are proven in test_faults.py; these pin the conforming
answers the carrier probes rely on.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

VALID = "res://scenes/lobby.tscn"
ESCAPE = "res:///etc/passwd.tscn"
METHODS = ["POST", "PUT"]


def _error(response: Any, status: int = 400) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "message"}
    assert "root:" not in response.text
    return str(body["error"])


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("first", [VALID, ESCAPE])
def test_duplicate_keys_are_refused_whatever_their_order(
    harness: Any, method: str, first: str
) -> None:
    second = ESCAPE if first == VALID else VALID
    body = f'{{"scene_path": {json.dumps(first)}, "scene_path": {json.dumps(second)}}}'
    response = harness.request(method, "/scene", content=body.encode())
    assert _error(response) == "invalid_json"


def test_duplicate_keys_in_a_nested_object_are_refused_too(harness: Any) -> None:
    body = b'{"scene_path": "res://vr_main.tscn", "x": {"a": 1, "a": 2}}'
    assert _error(harness.request("POST", "/scene", content=body)) == "invalid_json"


@pytest.mark.parametrize("method", METHODS)
def test_query_parameter_is_ignored(harness: Any, method: str) -> None:
    response = harness.request(
        method, "/scene", params={"scene_path": ESCAPE}, json={"scene_path": VALID}
    )
    assert response.status_code == 200
    assert response.json()["scene_path"] == VALID


@pytest.mark.parametrize("method", METHODS)
def test_json_escapes_are_decoded_before_validation(harness: Any, method: str) -> None:
    body = rb'{"scene_path": "res://\u002e\u002e/\u002e\u002e/etc/passwd.tscn"}'
    assert _error(harness.request(method, "/scene", content=body)) == "invalid_scene_path"
    escaped_valid = rb'{"scene_path": "res:\/\/scenes\/lobby\u002etscn"}'
    assert harness.request(method, "/scene", content=escaped_valid).status_code == 200


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("value", [[ESCAPE], {"path": VALID}, 3, None, True, 1.5])
def test_non_string_scene_path_is_400(harness: Any, method: str, value: object) -> None:
    assert _error(harness.post_scene(value, method=method)) == "invalid_request"


@pytest.mark.parametrize("method", METHODS)
def test_bom_body_is_parsed_and_its_path_validated(harness: Any, method: str) -> None:
    bom = b"\xef\xbb\xbf"
    invalid = bom + json.dumps({"scene_path": ESCAPE}).encode()
    assert _error(harness.request(method, "/scene", content=invalid)) == "invalid_scene_path"
    valid = bom + json.dumps({"scene_path": VALID}).encode()
    assert harness.request(method, "/scene", content=valid).status_code == 200


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_json_under_another_content_type_is_still_validated(
    harness: Any, method: str, content_type: str | None
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    body = json.dumps({"scene_path": ESCAPE}).encode()
    response = harness.request(method, "/scene", content=body, headers=headers)
    assert _error(response) == "invalid_scene_path"


@pytest.mark.parametrize("method", METHODS)
def test_form_encoded_body_is_400(harness: Any, method: str) -> None:
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    for path in (ESCAPE, VALID):
        body = f"scene_path={path}".encode()
        response = harness.request(method, "/scene", content=body, headers=headers)
        assert _error(response) == "invalid_json"
