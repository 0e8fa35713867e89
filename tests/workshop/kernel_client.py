"""A small Jupyter kernel client over a server's REST API and websocket (the Jupyter messaging
protocol), for the classroom test and benchmark: it runs cells in a kernel inside a learner's server
behind JupyterHub, as JupyterLab would."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import datetime, timezone
from typing import Any

KERNEL_START_TIMEOUT = 120.0  # seconds


async def run_cells(
    http: str, ws: str, token: str, cells: list[str], *, keep: bool = False
) -> list[dict[str, Any]]:
    """Start a kernel in a learner's server (its REST API), run ``cells`` over the kernel's websocket
    (the Jupyter messaging protocol), return each cell's outputs."""
    from tornado.httpclient import AsyncHTTPClient, HTTPRequest
    from tornado.websocket import websocket_connect

    auth = {"Authorization": f"token {token}"}
    # A room of kernels starting at once on two busy cores: tornado's 20 s defaults are too short.
    patience = {"connect_timeout": KERNEL_START_TIMEOUT, "request_timeout": KERNEL_START_TIMEOUT}
    reply = await AsyncHTTPClient().fetch(
        f"{http}api/kernels", method="POST", body=json.dumps({"name": "python3"}), headers=auth, **patience
    )
    kernel = json.loads(reply.body)["id"]
    conn = await websocket_connect(
        HTTPRequest(f"{ws}api/kernels/{kernel}/channels", headers=auth, **patience)
    )
    session = uuid.uuid4().hex
    results = []
    try:
        for code in cells:
            msg_id = uuid.uuid4().hex
            header = {
                "msg_id": msg_id,
                "username": "test",
                "session": session,
                "msg_type": "execute_request",
                "version": "5.3",
                "date": datetime.now(timezone.utc).isoformat(),
            }
            content = {
                "code": code,
                "silent": False,
                "store_history": True,
                "user_expressions": {},
                "allow_stdin": False,
                "stop_on_error": True,
            }
            await conn.write_message(
                json.dumps(
                    {
                        "header": header,
                        "parent_header": {},
                        "metadata": {},
                        "content": content,
                        "channel": "shell",
                        "buffers": [],
                    }
                )
            )
            out: dict[str, Any] = {"text": "", "error": None, "status": None, "seconds": 0.0}
            started = time.perf_counter()
            idle = False
            while not (idle and out["status"]):
                raw = await asyncio.wait_for(conn.read_message(), timeout=90)
                assert raw is not None, "the kernel's websocket closed"
                msg = json.loads(raw)
                if msg.get("parent_header", {}).get("msg_id") != msg_id:
                    continue
                kind = msg["msg_type"]
                if kind == "stream":
                    out["text"] += msg["content"]["text"]
                elif kind in ("execute_result", "display_data"):
                    out["text"] += msg["content"]["data"].get("text/plain", "") + "\n"
                elif kind == "error":
                    out["error"] = f"{msg['content']['ename']}: {msg['content']['evalue']}"
                elif kind == "status" and msg["content"]["execution_state"] == "idle":
                    idle = True
                elif kind == "execute_reply":
                    out["status"] = msg["content"]["status"]
            out["seconds"] = time.perf_counter() - started
            results.append(out)
    finally:
        conn.close()
        if not keep:  # keep=True leaves the kernel running (the benchmark measures its memory)
            await AsyncHTTPClient().fetch(f"{http}api/kernels/{kernel}", method="DELETE", headers=auth)
    return results
