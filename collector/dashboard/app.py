"""The dashboard web app (Flask): sign-in, the overview, CSV downloads, About the data.

Why these libraries: Flask is the smallest well-kept framework that brings
Jinja2 templates (autoescaped) and a test client; Flask-WTF adds CSRF
tokens to the two forms that change state (sign in, sign out); Flask-Session
keeps sessions on the server (cachelib, in this process's memory), so the
cookie holds only a random session id and the analyst's token never leaves
this process after sign-in. The token travels once, in a POST body; it is
never put in a URL, and nothing here logs a request.

Every page is built from Stats.Query answers asked with the signed-in
analyst's own token: the dashboard can show nothing the analyst could not
ask the collector for.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from cachelib import SimpleCache
from flask import Flask, Response, redirect, render_template, request, session, url_for
from flask_compress import Compress
from flask_session import Session
from flask_wtf.csrf import CSRFError, CSRFProtect
from markupsafe import Markup

from collector.client import AccessRefused, StatsClient
from collector.dashboard import charts, overview
from collector.dashboard.answer import Answer, from_reply
from collector.dashboard.filters import TRIGGERS, Filters, parse
from collector.dashboard.i18n import Texts, best_language
from collector.errors import CollectorError, ValidationError
from collector.model import Dimension, Query

SESSION_HOURS = 8
CSP = (
    "default-src 'none'; script-src 'self' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; font-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)


class _VegaBundle:
    """Vega, Vega-Lite and vega-embed as one script, from the installed vl-convert package."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._js: bytes | None = None

    def get(self) -> bytes:
        with self._lock:
            if self._js is None:
                import vl_convert

                self._js = vl_convert.javascript_bundle().encode()  # type: ignore[call-arg]  # stub wrong: it is optional
            return self._js


def _lang() -> str:
    value = request.args.get("lang", "")
    if value in ("en", "nl"):
        return value
    return best_language(request.headers.get("Accept-Language", ""))


def _asker(client: StatsClient) -> overview.Ask:
    """Stats questions asked with this request's token (the pool's threads have no request)."""
    token = str(session["token"])

    def ask(query: Query) -> Answer:
        return from_reply(query, client.reply(token, query))

    return ask


def _page(template: str, status: int = 200, **context: Any) -> tuple[str, int]:
    lang = context.pop("lang", None) or _lang()
    signed_in = "token" in session
    return render_template(template, t=Texts(lang), lang=lang, signed_in=signed_in, **context), (
        status
    )


def _start_timer() -> None:
    request.environ["ratwatch.started"] = time.perf_counter()


def _headers(resp: Response) -> Response:
    """Security headers on every response, and how long the app took (Server-Timing)."""
    resp.headers["Content-Security-Policy"] = CSP
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Referrer-Policy"] = "no-referrer"
    resp.headers["X-Frame-Options"] = "DENY"
    if request.endpoint != "vega":
        resp.headers["Cache-Control"] = "no-store"
    started = request.environ.get("ratwatch.started")
    if started is not None:
        resp.headers["Server-Timing"] = f"render;dur={(time.perf_counter() - started) * 1000:.2f}"
    return resp


def _links() -> dict[str, Any]:
    def lang_query(lang: str) -> str:
        args = {k: v for k, v in request.args.items() if k != "lang"}
        return urlencode({**args, "lang": lang})

    return {"lang_query": lang_query}


def _csrf_failed(_exc: CSRFError) -> tuple[str, int]:
    return _page("signin.html", 400, error=Texts(_lang())("signin-expired"))


def create_app(client: StatsClient, *, secure_cookies: bool) -> Flask:
    """The dashboard for analysts of the collector ``client`` talks to."""
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=secrets.token_bytes(32),  # per process: sessions live in memory anyway
        SESSION_TYPE="cachelib",
        SESSION_CACHELIB=SimpleCache(threshold=1000, default_timeout=SESSION_HOURS * 3600),
        SESSION_PERMANENT=True,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=SESSION_HOURS),
        SESSION_COOKIE_NAME="ratwatch_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_SECURE=secure_cookies,
        WTF_CSRF_TIME_LIMIT=None,  # bound to the session, which expires itself
        MAX_CONTENT_LENGTH=16 * 1024,
        COMPRESS_MIMETYPES=["text/html", "text/css", "text/javascript", "text/csv"],
    )
    Session(app)
    Compress(app)
    CSRFProtect(app)
    app.before_request(_start_timer)
    app.after_request(_headers)
    app.context_processor(_links)
    app.register_error_handler(CSRFError, _csrf_failed)
    _sign_in_routes(app, client)
    _data_routes(app, client)
    bundle = _VegaBundle()

    @app.get("/about")
    def about() -> tuple[str, int]:
        return _page("about.html")

    @app.get("/vega.js")
    def vega() -> Response:
        resp = Response(bundle.get(), mimetype="text/javascript")
        resp.headers["Cache-Control"] = "public, max-age=86400"
        return resp

    return app


def _sign_in_routes(app: Flask, client: StatsClient) -> None:
    @app.get("/signin")
    def signin_form() -> tuple[str, int]:
        return _page("signin.html")

    @app.post("/signin")
    def signin() -> Any:
        t = Texts(_lang())
        token = request.form.get("token", "").strip()
        probe = Query(group_by=(Dimension.TOOL,), since_day=0, until_day=0)
        try:
            client.reply(token, probe)
        except AccessRefused:
            return _page("signin.html", 401, error=t("signin-refused"))
        except CollectorError as exc:
            return _page("signin.html", 503, error=t("signin-unavailable", error=exc))
        session.clear()
        app.session_interface.regenerate(session)  # type: ignore[attr-defined]  # no fixation
        session["token"] = token
        return redirect(url_for("overview_page", lang=t.lang), code=303)

    @app.post("/signout")
    def signout() -> Any:
        session.clear()
        return redirect(url_for("signin_form", lang=_lang()), code=303)


def _filters() -> Filters:
    return parse(request.args, overview.today(), _lang())


def _data_routes(app: Flask, client: StatsClient) -> None:
    pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="stats")

    @app.get("/")
    def overview_page() -> Any:
        if "token" not in session:
            return redirect(url_for("signin_form", lang=_lang()))
        lang = _lang()
        t = Texts(lang)
        try:
            filters = _filters()
        except ValidationError as exc:
            return _page("overview.html", 400, error=t("bad-filter", error=exc), filters=None)
        try:
            answers = overview.ask_all(_asker(client), filters, pool)
        except AccessRefused:
            session.clear()
            return redirect(url_for("signin_form", lang=lang))
        except CollectorError as exc:
            error = t("collector-error", error=exc)
            return _page("overview.html", 502, error=error, filters=filters)
        sections = overview.sections(t, answers)
        specs = {
            # JSON inside <script type="application/json">: "<" escaped, so no "</script>".
            s.key: Markup(  # noqa: S704
                json.dumps(charts.spec(s.key, filters.lang, s.chart, s.summary)).replace(
                    "<", "\\u003c"
                )
            )
            for s in sections
        }
        return _page(
            "overview.html",
            filters=filters,
            sections=sections,
            specs=specs,
            total=answers["tools"].report,
            triggers=TRIGGERS,
            lang=lang,
        )

    @app.get("/csv/<section>")
    def csv(section: str) -> Any:
        if "token" not in session:
            return redirect(url_for("signin_form", lang=_lang()))
        if section not in overview.SECTIONS:
            return Response("no such table\n", 404, mimetype="text/plain")
        try:
            filters = _filters()
            ask = _asker(client)
            answer = ask(overview.query_of(ask, filters, section))
        except ValidationError as exc:
            return Response(f"{exc}\n", 400, mimetype="text/plain")
        except AccessRefused:
            return Response("the collector refused the token\n", 401, mimetype="text/plain")
        except CollectorError as exc:
            return Response(f"{exc}\n", 502, mimetype="text/plain")
        name = f"ratwatch-{section}-{filters.period.label}.csv"
        return Response(
            answer.csv(),
            mimetype="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
