"""The IdP's vendor-host proxy: ``HTTPS_PROXY`` for a workload, answering only for the vendor hosts
its SDKs call at fixed URLs, and refusing everything else.

Some SDK calls go to a fixed public host that no setting points elsewhere: MSAL asks
``https://login.microsoftonline.com/common/discovery/instance`` about an authority host it does not
know (the kit's ``https://localhost:<port>``), and google-auth's ``verify_oauth2_token`` reads
``https://www.googleapis.com/oauth2/v1/certs``. Both go through requests, which honours
``HTTPS_PROXY``; ``wif env --principal`` points it here (``clouds.vendor_proxy_env``; ``NO_PROXY``
keeps the IdP and the metadata hosts direct). This listener runs in the IdP's process, on a port of
its own (kept in ``ports.json`` as ``vendor-proxy``), and:

- answers ``CONNECT host:443`` only for the hosts the cloud registry declares
  (``Cloud.vendor_hosts``), then terminates TLS itself with a leaf for that one host issued by the
  kit CA (``tls.host_context``, kept in ``tls/hosts/``): a client that trusts the CA bundle
  ``wif env`` exports accepts it, a client that trusts only the public roots refuses it;
- inside the tunnel, serves only the paths the registry declares for that host, each by the IdP's
  own handler of the kit path it stands for (instance discovery: ``idp/entra.py``; Google's
  certificates: ``idp/google.py``), so the answer is the one the kit gives at its own URL; the
  request log names the vendor URL the workload called;
- refuses ``CONNECT`` to any other host or port, and plain proxy requests (absolute URIs), with 403
  and a body that says which hosts it answers for and what to do instead.

Nothing is forwarded: the proxy never opens a connection of its own, so the kit stays offline.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from .. import clouds, ports
from ..state import StateDir
from ..tls import host_context
from .app import IdentityProvider
from .messages import Response, json_response
from .server import IdpHTTPServer, IdpRequestHandler, RequestLog

PORT_NAME = "vendor-proxy"  # its key in ports.json
HTTPS_PORT = "443"
CONNECTED = b"HTTP/1.1 200 Connection Established\r\n\r\n"


class VendorProxyServer(IdpHTTPServer):
    """The proxy's listener (plain HTTP: clients speak TLS only inside a tunnel)."""

    def __init__(
        self,
        address: tuple[str, int],
        app: IdentityProvider,
        log: RequestLog | None,
        *,
        state: StateDir,
        routes: Mapping[str, Mapping[str, str]],
    ) -> None:
        self.state = state
        self.routes = routes  # vendor host → {its path: the IdP path that answers it}
        self._contexts: dict[str, ssl.SSLContext] = {}
        self._contexts_lock = threading.Lock()
        super().__init__(address, app, log)
        self.RequestHandlerClass = ProxyRequestHandler

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def context_for(self, host: str) -> ssl.SSLContext:
        """The TLS context presenting the kit CA's leaf for ``host`` (issued once, then cached)."""
        with self._contexts_lock:
            context = self._contexts.get(host)
            if context is None:
                context = self._contexts[host] = host_context(self.state, [host])
            return context

    def refusal(self, target: str) -> Response:
        hosts = ", ".join(sorted(self.routes)) or "no host"
        return json_response(
            403,
            {
                "error": "forbidden",
                "error_description": (
                    f"the wif-notebook kit's proxy answers only for {hosts} (CONNECT <host>:443, "
                    f"standing in for those vendor hosts offline); it refused {target}. "
                    "Next step: run this program without the kit's HTTPS_PROXY (`wif env --principal` "
                    "set it for a workload of the kit), or add the host to NO_PROXY."
                ),
            },
            error="proxy_refused",
        )


class ProxyRequestHandler(IdpRequestHandler):
    """One client connection to the proxy: a ``CONNECT`` to a vendor host, or a refusal."""

    server: VendorProxyServer

    def do_CONNECT(self) -> None:
        started = time.perf_counter()
        host, _, port = self.path.rpartition(":")
        host = host.strip("[]").lower().rstrip(".")
        if host not in self.server.routes or port != HTTPS_PORT:
            self._refuse("CONNECT", self.path, "", started)
            return
        self.close_connection = True  # from here on the connection is the tunnel
        try:
            self.wfile.write(CONNECTED)
        except OSError:
            return
        # The tunnel lives as long as the client keeps it; each request inside it has the deadline.
        # Clients send their ClientHello only after the 200, so none of it waits in rfile's buffer.
        self.server.request_finished(self.connection)
        client = f"{self.client_address[0]}:{self.client_address[1]}"
        secured = self.server.handshake(self.connection, client, self.server.context_for(host))
        if secured is None:
            return
        try:
            TunnelRequestHandler(secured, self.client_address, self.server, host)
        finally:
            with contextlib.suppress(OSError):
                secured.shutdown(socket.SHUT_WR)
            secured.close()

    def _serve(self, method: str) -> None:
        # Any other request: a plain-http proxy request (absolute URI) or a direct one. The body is
        # not read, so the connection closes after the answer. The query (it may carry a secret)
        # is neither echoed nor logged as it is.
        parts = urlsplit(self.path)
        self._refuse(method, parts._replace(query="", fragment="").geturl(), parts.query, time.perf_counter())

    def _refuse(self, method: str, where: str, query: str, started: float) -> None:
        self.close_connection = True
        response = self.server.refusal(f"{method} {where}")
        self._send(response)
        self._log(method, where, query, response, started)


class TunnelRequestHandler(IdpRequestHandler):
    """The requests inside one tunnel to ``vendor_host``: the declared paths, answered by the IdP."""

    server: VendorProxyServer

    def __init__(
        self, request: Any, client_address: Any, server: VendorProxyServer, vendor_host: str
    ) -> None:
        self.vendor_host = vendor_host
        self.vendor_path = ""
        super().__init__(request, client_address, server)

    def _serve(self, method: str) -> None:
        parts = urlsplit(self.path)
        self.vendor_path = parts.path
        paths = self.server.routes[self.vendor_host]
        kit_path = paths.get(parts.path)
        if kit_path is None:
            self.close_connection = True
            response = json_response(
                404,
                {
                    "error": "not_found",
                    "error_description": f"the wif-notebook kit answers only {', '.join(sorted(paths))} "
                    f"on https://{self.vendor_host}, not {parts.path}",
                },
                error="not_found",
            )
            self._send(response)
            self._log(method, parts.path, parts.query, response, time.perf_counter())
            return
        self.path = kit_path + (f"?{parts.query}" if parts.query else "")
        super()._serve(method)

    def _log(self, method: str, path: str, query: str, response: Response, started: float) -> None:
        # The URL the workload called, not the IdP path that answered it.
        super()._log(method, f"https://{self.vendor_host}{self.vendor_path}", query, response, started)


def moved_words(old_port: int, new_url: str) -> str:
    """What a move of the proxy means for the shells that exported its old address, and what to do
    (the IdP's own output and whoever started it, ``service.start_idp``, say the same)."""
    return (
        f"the vendor-host proxy's port {old_port} was taken, so it listens at {new_url} now: an "
        f"HTTPS_PROXY exported earlier by `wif env --principal` still points at port {old_port}, and "
        "a workload run with it cannot reach the vendor hosts; next step: in those shells, run "
        'eval "$(wif env --principal NAME)" again'
    )


def start(state: StateDir, app: IdentityProvider, log: RequestLog | None) -> VendorProxyServer:
    """Bind the proxy on 127.0.0.1 (the port kept for this state directory if it is free, so the
    ``HTTPS_PROXY`` a workload was given stays valid across restarts) and serve it in a thread. When
    the kept port is taken it moves to a free one, and says so on the IdP's output."""
    routes = clouds.vendor_hosts()
    kept = ports.kept_ports(state).get(PORT_NAME)
    try:
        server = VendorProxyServer(("127.0.0.1", kept or 0), app, log, state=state, routes=routes)
    except OSError:
        if not kept:
            raise
        server = VendorProxyServer(("127.0.0.1", 0), app, log, state=state, routes=routes)
        print(f"wif idp: WARNING: {moved_words(kept, server.url)}", flush=True)
    ports.keep(state, PORT_NAME, server.server_address[1])
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="idp-vendor-proxy", daemon=True
    ).start()
    return server
