"""IPython magics: every step of a Workload Identity Federation setup, one line each.

``%load_ext wif_notebook`` registers ``WifMagics``. Each magic parses its arguments and calls the
public Python API (``stack``, ``tokens``, ``connect``, ``doctor``, ``flow``), so anything a magic
does can be done from Python or the ``wif`` command the same way. Nothing heavy (pymongo,
matplotlib, ipywidgets) is imported until a magic needs it.

Options (``%config WifMagics.<name> = value``): ``state_dir``, ``show_raw_tokens``,
``default_principal``, ``default_audience``, ``connect_timeout_ms``, ``idp_port``, ``mongod_port``.

Errors are ``UsageError`` (IPython shows them without a traceback): the cause on the first line,
``next step: …`` on the second.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from traitlets import Bool, Int, Unicode

from .authorize_cli import OPTIONS as AUTHORIZE_OPTIONS
from .environ import EnvChanges
from .errors import ConfigError, WifError
from .state import StateDir

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

# Variables whose values are secrets: masked in %wif_env's output unless --show-secret.
SECRET_SUFFIXES = ("_SECRET", "_PASSWORD", "_TOKEN", "_HEADER")
# What a token argument of a magic may be (``%wif_claims``, ``%wif_doctor``): said when it is none.
_TOKEN_ARGUMENT = "pass a token, the name of a variable holding one, or the path of a file holding a token"


def _token_methods() -> dict[str, str]:
    """``%wif_token --via`` names → ``tokens.obtain``'s methods: the generic ones, every platform's
    own under its name and, for its first, the platform's id (``azure`` → imds, ``k8s`` → k8s-file),
    and ``callback`` (the kit's OIDC callback). Read from the registry at each call, so a platform
    named in ``WIF_EXTRA_CLOUDS`` after ``%load_ext`` is there, and tokens (PyJWT) stay unloaded."""
    from .clouds import clouds

    names = {"client_credentials": "client_credentials", "client-credentials": "client_credentials"}
    for cloud in clouds():
        names.update({method: method for method in cloud.token_methods})
        if cloud.token_methods:
            names.setdefault(cloud.id, next(iter(cloud.token_methods)))
    return {**names, "federated": "federated", "mint": "mint", "callback": "callback"}


def _token_method(via: str) -> str:
    """The ``tokens.obtain`` method (or ``callback``) a ``--via`` name stands for."""
    methods = _token_methods()
    if via not in methods:
        raise ConfigError(f"unknown --via {via!r}", hint=f"use one of {', '.join(sorted(methods))}")
    return methods[via]


def with_options(options: tuple[tuple[tuple[str, ...], dict[str, Any]], ...]) -> Callable[[F], F]:
    """``@argument`` for each option a command-line command declares too (in its order)."""

    def decorate(func: F) -> F:
        for flags, keywords in reversed(options):
            func = argument(*flags, **keywords)(func)
        return func

    return decorate


def parsed_line_magic(
    func: Callable[[Any, argparse.Namespace], T],
) -> Callable[..., T]:
    """A line magic of ``@argument``s: its line parsed into ``args`` first, a ``WifError`` shown as a
    ``UsageError`` (``user_errors``)."""

    @functools.wraps(func)
    def magic(self: Any, line: str = "") -> T:
        args = parse_argstring(magic, line)
        with user_errors():
            return func(self, args)

    return line_magic(magic)


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Turn the kit's and pymongo's errors into a one-line UsageError with the next step."""
    try:
        yield
    except UsageError:
        raise
    except WifError as exc:
        raise UsageError(_usage_text(exc)) from None
    except Exception as exc:
        if type(exc).__module__.startswith(("pymongo", "bson")):
            from .driver_errors import explain_error

            raise UsageError(_usage_text(explain_error(exc))) from None
        raise


def _usage_text(exc: WifError) -> str:
    what = " ".join(exc.what.split())  # one line, whatever the message looked like
    return f"{what}\n  next step: {exc.hint}" if exc.hint else what


def _show(obj: Any) -> None:
    from IPython.display import display

    display(obj)


# The variables ``%wif_env --apply`` set, with what the kernel had before: a later --apply for
# another principal takes back those that principal's host would not have (an App Service's
# IDENTITY_ENDPOINT must not linger in an AKS pod's environment).
_applied_env = EnvChanges()


def _apply_env(env: dict[str, str]) -> list[str]:
    """Set ``env`` in os.environ, restoring what the previous apply set and ``env`` does not name;
    returns the names taken back."""
    dropped = _applied_env.restore(sorted(n for n in _applied_env.names if n not in env))
    _applied_env.update(env)
    return dropped


@magics_class
class WifMagics(Magics):
    """The kit's magics; see each one's ``%magic?`` for its options."""

    state_dir = Unicode(
        "", help="state directory (default: $WIF_STATE_DIR or ~/.local/state/wif-notebook)"
    ).tag(config=True)
    show_raw_tokens = Bool(False, help="show raw tokens in displays (never in the token MIME payload)").tag(
        config=True
    )
    default_principal = Unicode("lesson-app", help="principal for %%wif_token when none is named").tag(
        config=True
    )
    default_audience = Unicode(
        "", help="audience for %%wif_token when none is given (empty: the principal's)"
    ).tag(config=True)
    connect_timeout_ms = Int(
        10_000, help="serverSelectionTimeoutMS and connectTimeoutMS for %%wif_connect"
    ).tag(config=True)
    # -1: the port kept for this state directory, else the default if free, else a free one (ports.py).
    idp_port = Int(-1, help="IdP port for %%wif_up (-1: the kit chooses and keeps it; 0: any free port)").tag(
        config=True
    )
    mongod_port = Int(
        -1, help="mongod port for %%wif_up (-1: the kit chooses and keeps it; 0: any free port)"
    ).tag(config=True)

    # -- helpers ---------------------------------------------------------------------------------
    @property
    def state(self) -> StateDir:
        return StateDir(self.state_dir or None)

    def _store(self, name: str | None, value: Any) -> None:
        if name:
            self.shell.user_ns[name] = value  # type: ignore[union-attr]

    def _resolve(self, text: str, magic: str) -> Any:
        """A variable of the user's namespace, the token in a file (``%wif_token ... -o`` in a
        terminal, ``t.jwt``), or the text itself (a token pasted in), for ``%wif_<magic>``."""
        text = text.strip()
        ns = self.shell.user_ns if self.shell is not None else {}
        if text.isidentifier() and text in ns:
            return ns[text]
        head, dot, _ = text.partition(".")
        attribute = text[len(head) + 1 :]
        if (
            dot
            and head.isidentifier()
            and head in ns
            and attribute.isidentifier()
            and hasattr(ns[head], attribute)
            and not os.path.lexists(os.path.expanduser(text))
        ):
            # ``tok.token``: Python's attribute access, which a magic's argument is not.
            raise UsageError(
                f"{text!r} is neither a variable nor a token file\n  next step: {head} is a variable: "
                f"pass the variable itself (%wif_{magic} {head})"
            )
        from .token_cli import read_token_file  # None for a token pasted in

        from_file = read_token_file(text, hint=_TOKEN_ARGUMENT)
        if from_file is not None:
            return from_file
        if text.isidentifier() and not text.startswith("eyJ"):
            raise UsageError(f"no variable named {text!r}\n  next step: {_TOKEN_ARGUMENT}")
        return text

    # -- services --------------------------------------------------------------------------------
    @magic_arguments()
    @argument("--idp-port", type=int, default=None, help="IdP port (0: any free port)")
    @argument("--port", type=int, default=None, help="mongod port (0: any free port)")
    @parsed_line_magic
    def wif_up(self, args: argparse.Namespace) -> None:
        """Start the mock IdP and the test mongod (idempotent); show where they are. This kernel then
        trusts the kit CA (REQUESTS_CA_BUNDLE, SSL_CERT_FILE), as after ``eval "$(wif env)"``."""
        from . import stack
        from .display import StatusView

        idp_port = (
            args.idp_port if args.idp_port is not None else (None if self.idp_port < 0 else self.idp_port)
        )
        port = args.port if args.port is not None else (None if self.mongod_port < 0 else self.mongod_port)
        started = stack.up(self.state, idp_port=idp_port, port=port)
        from .clouds import trust_kit_in_this_process

        # The kernel is the workload's host: code in it reaches the https IdP unmodified.
        trust_kit_in_this_process(self.state)
        # News of this start only (the vendor-host proxy moved), as `wif up` prints it.
        note = started["idp"].get("note")
        _show(StatusView.of(self.state, notes=[note] if note else []))

    @line_magic
    def wif_status(self, line: str = "") -> None:
        """Show the IdP and mongod: running or not, where, with which issuers."""
        with user_errors():
            from .display import StatusView

            _show(StatusView.of(self.state))

    @line_magic
    def wif_reset(self, line: str = "") -> None:
        """Close every %wif_connect client, stop both services and wipe the state directory, keeping
        the lesson progress (reset the kit, not the learning record)."""
        with user_errors():
            from . import stack
            from .display import Panel

            closed = 0
            if "wif_notebook.connect" in sys.modules:  # nothing to close if connect was never used
                from .connect import close_all

                closed = close_all()
            else:
                from . import cloudsim

                cloudsim.disable()
            doc = stack.reset(self.state)
            from .clouds import forget_kit_trust

            forget_kit_trust()  # the bundle the kernel trusted is gone with the state directory
            stopped = [k for k, v in doc["stopped"].items() if v] or ["nothing"]
            _show(
                Panel(
                    "wif reset",
                    [
                        ("clients closed", closed),
                        ("stopped", ", ".join(stopped)),
                        ("removed", f"{len(doc['removed'])} entries from {doc['state_dir']}"),
                        ("kept", "your lesson progress" if doc["kept"] else "nothing"),
                    ],
                    notes=["Start again with %wif_up. Your lesson progress is kept (progress/)."],
                    tone="warn",
                )
            )

    @magic_arguments()
    @argument("principal", nargs="?", default=None, help="a principal of the catalog (default: none)")
    @argument("--apply", action="store_true", help="also set the variables in this kernel's os.environ")
    @argument("--show-secret", action="store_true", help="print a client secret instead of masking it")
    @parsed_line_magic
    def wif_env(self, args: argparse.Namespace) -> None:
        """The export lines of ``wif env [--principal NAME]``: the kit CA bundle variables and what
        that principal's workload has on its real host; ``--apply`` sets them in this kernel so
        unmodified vendor SDK code runs here. Secrets are masked in the output unless asked for."""
        from .clouds import common_env, env_context, workload_exports
        from .idp.tokenfiles import render_exports

        if args.principal:
            env = workload_exports(self.state, args.principal)
        else:
            env = common_env(env_context(self.state))
        shown = {
            k: v if args.show_secret or not k.endswith(SECRET_SUFFIXES) else "****" for k, v in env.items()
        }
        print(render_exports(shown), end="")
        if args.apply:
            dropped = _apply_env(env)
            print(f"# set in this kernel: {', '.join(env)}")
            if dropped:
                print(f"# taken back (the previous --apply's, not this host's): {', '.join(dropped)}")

    # -- identity provider -----------------------------------------------------------------------
    @magic_arguments()
    @argument("action", nargs="?", default="principals", choices=["principals", "rotate-keys", "retire-key"])
    @argument("--issuer", default=None, help="an issuer id, e.g. kit or azure (default: all)")
    @argument("--kid", default=None, help="retire-key: the key id (default: the oldest non-signing key)")
    @parsed_line_magic
    def wif_idp(self, args: argparse.Namespace) -> None:
        """The mock IdP: list its principals, rotate or retire signing keys."""
        from .display import Panel

        if args.action == "principals":
            from .idp.principals import load_catalog

            rows = [
                [p.name, p.kind, p.issuer_id, p.infrastructure, p.subject, ", ".join(p.groups) or "—"]
                for p in load_catalog(self.state)
            ]
            columns = ["name", "kind", "issuer", "runs on", "subject (sub)", "groups"]
            _show(Panel("Principals", table=(columns, rows), notes=["%wif_token NAME gets a token for one."]))
        elif args.action == "rotate-keys":
            from .idp.service import rotate_keys

            result = rotate_keys(self.state, args.issuer)
            rows = [[i, r["kid"], r["alg"], ", ".join(r["published"])] for i, r in result["rotated"].items()]
            _show(
                Panel(
                    "Signing keys rotated",
                    table=(["issuer", "new kid", "alg", "published kids"], rows),
                    notes=["New tokens carry the new kid; mongod fetches the JWKS again when it sees it."],
                )
            )
        else:
            from .idp.service import retire_key

            result = retire_key(self.state, args.issuer, args.kid)
            _show(Panel("Key retired", [(k, v) for k, v in result["retired"].items()]))

    # -- tokens ----------------------------------------------------------------------------------
    @magic_arguments()
    @argument("principal", nargs="?", default=None, help="a principal of the catalog (%%wif_idp principals)")
    @argument("--audience", "-a", default=None, help="the aud to ask for")
    @argument("--lifetime", "-l", type=int, default=None, help="seconds (uses the IdP's mint)")
    @argument("--fault", "-f", default=None, help="a fault preset (uses the IdP's mint), e.g. expired")
    @argument(
        "--via",
        default=None,
        help="how: client_credentials, imds (Azure), gcp, k8s (token file), federated (a Kubernetes "
        "token traded for an Entra token), mint, callback, or a method of another registered platform",
    )
    @argument("-o", "--output", default=None, help="store the IssuedToken in this variable")
    @argument("--show-raw", action="store_true", help="show the raw token (it is a credential!)")
    @parsed_line_magic
    def wif_token(self, args: argparse.Namespace) -> None:
        """Obtain a token the way a workload does and show its claims and the server's verdict."""
        from .display import TokenView

        via = _token_method(args.via) if args.via else None
        request: dict[str, Any] = {
            "audience": args.audience or self.default_audience or None,
            "lifetime": args.lifetime,
            "fault": args.fault,
            "state": self.state,
        }
        principal = args.principal or self.default_principal
        if via == "callback":
            # Through the kit's OIDC callback, as pymongo would call it (so pymongo is needed here only).
            from .connect import KitCallback
            from .tokens import from_callback

            issued = from_callback(KitCallback(principal=principal, **request))
        else:
            from .tokens import obtain

            issued = obtain(principal, via=via, **request)
        self._store(args.output, issued)
        _show(TokenView(issued, state=self.state, show_raw=args.show_raw or self.show_raw_tokens))

    @magic_arguments()
    @argument("token", help="a token, or the name of a variable holding one (str or IssuedToken)")
    @argument("--show-raw", action="store_true", help="show the raw token (it is a credential!)")
    @parsed_line_magic
    def wif_claims(self, args: argparse.Namespace) -> None:
        """Decode a token: claims in plain words, validity window, and every rule of the server."""
        from .display import TokenView

        _show(
            TokenView(
                self._resolve(args.token, "claims"),
                state=self.state,
                show_raw=args.show_raw or self.show_raw_tokens,
            )
        )

    # -- the server ------------------------------------------------------------------------------
    @magic_arguments()
    @argument(
        "action",
        nargs="?",
        default="show",
        choices=["show", "set", "add", "remove", "reset", "start", "stop", "status", "logs"],
    )
    @argument("fields", nargs="*", help="set: PREFIX key=value ...; add: key=value ...; remove: PREFIX")
    @argument("-n", type=int, default=20, help="logs: number of lines")
    @parsed_line_magic
    def wif_mongod(self, args: argparse.Namespace) -> None:
        """mongod: show or change oidcIdentityProviders (validated like mongod), start, stop, logs."""
        from . import mongod
        from . import providers as api
        from .display import LogView, StatusView

        state = self.state
        if args.action == "show":
            _show(api.providers_view(state))
        elif args.action == "set":
            if len(args.fields) < 2:
                raise UsageError(
                    "set needs a provider and at least one change\n"
                    "  next step: %wif_mongod set kit audience=api://mongodb-kit"
                )
            _show(api.set_provider(state, args.fields[0], self._pairs(args.fields[1:])))
        elif args.action == "add":
            _show(api.add_provider(state, self._pairs(args.fields)))
        elif args.action == "remove":
            if len(args.fields) != 1:
                raise UsageError("remove needs one provider\n  next step: %wif_mongod remove gcp")
            _show(api.remove_provider(state, args.fields[0]))
        elif args.action == "reset":
            _show(api.restore_default_config(state))
        elif args.action == "start":
            mongod.start_mongod(state, None if self.mongod_port < 0 else self.mongod_port)
            _show(StatusView.of(state))
        elif args.action == "stop":
            mongod.stop_mongod(state)
            _show(StatusView.of(state))
        elif args.action == "status":
            _show(StatusView.of(state))
        else:
            _show(LogView(mongod.mongod_logs(state, args.n)))

    @staticmethod
    def _pairs(fields: list[str]) -> dict[str, Any]:
        from .providers import parse_field_value

        out: dict[str, Any] = {}
        for item in fields:
            name, sep, value = item.partition("=")
            if not sep or not name:
                raise UsageError(
                    f"cannot read {item!r}\n  next step: write fields as key=value, e.g. audience=api://x"
                )
            out[name] = None if value == "" else parse_field_value(name, value)
        return out

    @magic_arguments()
    @with_options(AUTHORIZE_OPTIONS)  # the same options as `wif authorize`, declared once
    @parsed_line_magic
    def wif_authorize(self, args: argparse.Namespace) -> None:
        """Authorize a workload: createRole "<prefix>/<group>" in admin, or an $external user."""
        from .authorization import authorize

        _show(authorize(self.state, **vars(args)))  # the magic's options are authorize's parameters

    # -- connecting and diagnosing ---------------------------------------------------------------
    @magic_arguments()
    @argument("uri", nargs="?", default=None, help="a MongoDB URI (default: the kit's test mongod)")
    # No argparse choices: connect() checks the name against the registry as it is at the call
    # (a platform named in WIF_EXTRA_CLOUDS after %load_ext counts) and lists the valid ones.
    @argument("--env", "-e", default=None, help="pymongo ENVIRONMENT: test, azure, gcp, k8s, ...")
    @argument("--principal", "-p", default=None, help="the workload identity (kit) / client id (real Azure)")
    @argument("--callback", action="store_true", help="OIDC_CALLBACK that obtains tokens from the kit IdP")
    @argument("--resource", "-r", default=None, help="TOKEN_RESOURCE / the audience to ask for")
    @argument(
        "--lifetime", type=int, default=None, help="kit: token lifetime in seconds (test, k8s, callback)"
    )
    @argument("--fault", default=None, help="kit: a fault preset for the token (test, k8s, callback)")
    @argument("-o", "--output", default=None, help="store the MongoClient in this variable")
    @parsed_line_magic
    def wif_connect(self, args: argparse.Namespace) -> Any:
        """Log in with MONGODB-OIDC; show who the client is, where its token came from, and timings."""
        from .connect import connect

        # The magic's arguments but --output are connect's parameters.
        options = {name: value for name, value in vars(args).items() if name != "output"}
        conn = connect(**options, state=self.state, timeout_ms=self.connect_timeout_ms)
        _show(conn)
        if args.output:
            self._store(args.output, conn.client)
            return None
        return conn.client

    @magic_arguments()
    @argument("token", nargs="?", default=None, help="a token or a variable (default: the last failure)")
    @parsed_line_magic
    def wif_doctor(self, args: argparse.Namespace) -> None:
        """Why did (or would) the login fail? The failing rule in plain words, and the fix."""
        from .doctor import diagnose

        token = self._resolve(args.token, "doctor") if args.token else None
        failure: Any = None
        if token is None:
            failure = self._last_failure()
        _show(diagnose(token, state=self.state, last_failure=failure))

    @staticmethod
    def _last_failure() -> Any:
        """The last failed %wif_connect, else the notebook's last pymongo exception (e.g. a 13)."""
        if "wif_notebook.connect" in sys.modules:
            from .connect import last_failure

            recorded = last_failure()
            if recorded is not None:
                return recorded
        last = getattr(sys, "last_value", None)
        if last is not None and type(last).__module__.startswith("pymongo"):
            return last
        return None

    @magic_arguments()
    @argument(
        "--since",
        type=float,
        default=None,
        help="only the last SECONDS (default: since the last %%wif_connect)",
    )
    @argument("--conn", default=None, help="one mongod connection, e.g. conn4")
    @argument(
        "--all-clients",
        action="store_true",
        help="every client's traffic (default: only the last %%wif_connect's connection)",
    )
    @argument("--all", action="store_true", help="the whole log, every client")
    @parsed_line_magic
    def wif_flow(self, args: argparse.Namespace) -> None:
        """The authentication exchange (client, mongod, IdP) rebuilt from the services' logs."""
        from .flow import collect

        since: float | None = None
        start, app_name = self._last_connect()
        if args.since is not None:
            since = time.time() - args.since
        elif not args.all and args.conn is None:
            since = start
        if args.all or args.all_clients:
            app_name = None
        _show(collect(self.state, since=since, conn=args.conn, app_name=app_name))

    @staticmethod
    def _last_connect() -> tuple[float | None, str | None]:
        """When the last %wif_connect started, and its client's appName (None, None: none yet)."""
        if "wif_notebook.connect" not in sys.modules:
            return None, None
        from .connect import connections, last_failure

        failure = last_failure()
        if failure is not None:
            return failure.started_at - 1, failure.app_name
        conns = connections()
        return (conns[-1].started_at - 1, conns[-1].app_name) if conns else (None, None)

    # -- export (wif export) -------------------------------------------------------------------------
    @magic_arguments()
    @argument("target", help="enterprise | atlas | azure | gcp | k8s")
    @argument("--out", default=None, help="also write the files into this folder")
    @argument("-o", "--output", default=None, help="store the Export (files, placeholders) in this variable")
    @parsed_line_magic
    def wif_export(self, args: argparse.Namespace) -> None:
        """Production artifacts from what you built in the kit; unknown values are named placeholders."""
        from .export import export

        result = export(self.state, args.target)
        if args.out:
            result.write(args.out)
        self._store(args.output, result)
        _show(result)
