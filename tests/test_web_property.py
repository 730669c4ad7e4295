"""A bounded property-based run of schemathesis against the published OpenAPI document, on
the sample site: generated requests to every operation (writes with the token, so they
reach past the authorisation check) must never get a 5xx."""

from __future__ import annotations

import pytest

pytest.importorskip("fastapi")
schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, settings  # noqa: E402

from sitewatch.web import WebSettings, create_app  # noqa: E402

TOKEN = "property-token"
# Examples per operation: enough to hit each parameter's edge cases (empty, huge, unicode,
# path separators) in a few minutes on a shared 2-core machine.
EXAMPLES = 50


@pytest.fixture(scope="module")
def web_schema(tmp_path_factory):
    from sitewatch.web.sample import sample_copy

    folder = tmp_path_factory.mktemp("property-sample")
    db = sample_copy(tmp_path_factory.getbasetemp() / "web-sample-cache", folder)
    app = create_app(WebSettings(data_dir=folder, db=db, token=TOKEN, upload_limit_bytes=1024 * 1024))
    # Starting processing jobs would run the whole pipeline in the background for every
    # generated body; their validation and refusals are tested in test_web_api.
    return schemathesis.openapi.from_asgi("/api/openapi.json", app).exclude(method="POST",
                                                                            path="/api/sites/{site}/jobs")


def test_no_server_errors(web_schema):
    """Each operation in turn gets EXAMPLES generated requests (schemathesis strategies run
    by hypothesis directly: its pytest plugin does not load under this pytest)."""
    from hypothesis import given

    checked = []
    calls = [0]
    for result in web_schema.get_all_operations():
        op = result.ok()

        @given(case=op.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def run(case):
            headers = {"Authorization": f"Bearer {TOKEN}"} if case.method.upper() == "POST" else {}
            response = case.call(headers=headers)
            calls[0] += 1
            assert response.status_code < 500, (case.method, case.formatted_path, response.status_code,
                                                 response.text[:300])
            if response.status_code >= 400:
                ctype = response.headers.get("content-type", [""])  # schemathesis keeps header lists
                ctype = ctype[0] if isinstance(ctype, list) else ctype
                assert ctype.startswith("application/problem+json"), response.text[:200]

        run()
        checked.append(f"{op.method.upper()} {op.path}")
    # every published operation but the excluded job start was exercised
    assert len(checked) >= 14, checked
    assert calls[0] >= 10 * len(checked)  # hypothesis really generated many requests per operation
    print(f"{calls[0]} generated requests over {len(checked)} operations, no 5xx")
