"""Run one vendor SDK call as a workload would, in its own process and environment.

``python sdk_runner.py '<json spec>'`` prints one JSON line: ``{"token": ...}`` or
``{"error": <exception class>, "module": ..., "message": ...}`` (msal: its result dict). The
environment is the one ``wif env --principal NAME`` exports; the code below is what Microsoft's
docs show; one row adds the one documented argument, ``disable_instance_discovery``.
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from typing import Any


def _assertion(spec: dict[str, Any]) -> str:
    """An RFC 7523 client assertion signed by the app's certificate key, as an app builds it for
    ClientAssertionCredential (iss = sub = client id, aud = the token endpoint, x5t#S256)."""
    import jwt

    now = int(time.time()) + int(spec.get("assertion_shift", 0))
    claims = {
        "iss": spec["client_id"],
        "sub": spec["client_id"],
        "aud": spec["token_endpoint"],
        "jti": str(uuid.uuid4()),
        "iat": now,
        "nbf": now,
        "exp": now + 600,
    }
    with open(spec["key_path"]) as fh:
        key = fh.read()
    return jwt.encode(claims, key, algorithm="RS256", headers={"x5t#S256": spec["x5t_s256"]})


def _credential(spec: dict[str, Any]) -> Any:
    import azure.identity as ai

    name = spec["credential"]
    kwargs = dict(spec.get("kwargs", {}))
    if spec.get("disable_instance_discovery"):
        # Without it, MSAL first asks login.microsoftonline.com about an authority host it does not
        # know (answered by the kit's proxy, HTTPS_PROXY); Microsoft documents this argument for
        # authorities outside its clouds (Azure Stack, private clouds), which skips that question.
        kwargs["disable_instance_discovery"] = True
    if name == "ClientAssertionCredential":
        fixed = spec.get("assertion")
        kwargs["func"] = (lambda: fixed) if fixed else (lambda: _assertion(spec))
    return getattr(ai, name)(**kwargs)


def _msal(spec: dict[str, Any]) -> dict[str, Any]:
    import msal

    app = msal.ConfidentialClientApplication(
        spec["client_id"], client_credential=spec["client_secret"], authority=spec["authority"]
    )
    result: dict[str, Any] = app.acquire_token_for_client(scopes=[spec["scope"]])
    if "access_token" in result:
        return {"token": result["access_token"], "token_type": result.get("token_type")}
    return {"error": "msal", "result": result}


def main() -> None:
    spec = json.loads(sys.argv[1])
    if spec["credential"] == "msal":
        print(json.dumps(_msal(spec)))
        return
    try:
        token = _credential(spec).get_token(spec["scope"])
    except Exception as exc:  # the row asserts on the SDK's own exception type and message
        print(json.dumps({"error": type(exc).__name__, "module": type(exc).__module__, "message": str(exc)}))
        return
    print(json.dumps({"token": token.token, "expires_on": token.expires_on}))


if __name__ == "__main__":
    main()
