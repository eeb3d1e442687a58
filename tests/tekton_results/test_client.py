"""Our Tekton Results client against the local server over real loopback sockets, on both transports."""

from __future__ import annotations

import datetime as dt
import json
import socket
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from etl.config import ClusterConfig, ResultsSource, SecretRef
from etl.errors import AuthError, ConfigError, SourceError
from etl.results_server.api import Faults
from etl.results_server.server import RunningServer, TlsFiles, start_server
from etl.sources import SOURCE_PAGE_SCHEMA
from etl.tekton_results.client import ResultsApiError, ResultsClient, ResultsClientConfig, filter_for
from tests.results_server.records import expected_buckets, history, make_pki, write_records

TRANSPORTS = ["grpc", "rest"]


@pytest.fixture(scope="module")
def records() -> list[dict[str, Any]]:
    return history(153)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory, records: list[dict[str, Any]]) -> Path:
    return write_records(tmp_path_factory.mktemp("history"), records)


@pytest.fixture(scope="module")
def server(data_dir: Path) -> Iterator[RunningServer]:
    with start_server(data_dir) as running:
        yield running


def config_for(server: RunningServer, transport: str, **overrides: Any) -> ResultsClientConfig:
    url = server.grpc_target if transport == "grpc" else server.rest_url
    settings: dict[str, Any] = {"plaintext": not server.tls, "backoff_initial_s": 0.01, "backoff_max_s": 0.05}
    return ResultsClientConfig(url=url, transport=transport, **{**settings, **overrides})  # type: ignore[arg-type]


def all_rows(client: ResultsClient, **kwargs: Any) -> list[dict[str, Any]]:
    return [row for page in client.list_record_pages(**kwargs) for row in page.to_pylist()]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_pages_carry_every_record_undecoded(
    server: RunningServer, records: list[dict[str, Any]], transport: str
) -> None:
    with ResultsClient(config_for(server, transport)) as client:
        pages = list(client.list_record_pages(page_size=40))
    assert [len(p) for p in pages] == [40, 40, 40, 33]
    assert all(p.schema == SOURCE_PAGE_SCHEMA for p in pages)
    rows = pa.concat_tables(pages).to_pylist()
    by_name = {r["name"]: r for r in records}
    assert len({r["source_ref"] for r in rows}) == len(records)
    for row in rows:
        source = by_name[row["source_ref"]]
        assert json.loads(row["data"]) == source["data"]
        assert row["type_hint"] == source["type"]
        assert row["source_update_time"] == dt.datetime.fromisoformat(source["update_time"])
    times = [r["source_update_time"] for r in rows]
    assert times == sorted(times)  # default order_by "update_time asc"


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_filter_for_builds_cel_the_server_accepts(
    server: RunningServer, records: list[dict[str, Any]], transport: str
) -> None:
    after = dt.datetime(2026, 3, 1, 1, 0, tzinfo=dt.UTC)
    cel = filter_for(
        kinds=("PipelineRun",), api_versions=("v1beta1",), updated_after=after, namespace="team-a"
    )
    assert cel == (
        '(data_type == "tekton.dev/v1beta1.PipelineRun") && update_time > timestamp("2026-03-01T01:00:00Z") '
        '&& data.metadata.namespace == "team-a"'
    )
    expected = {
        r["name"]
        for r in records
        if r["type"] == "tekton.dev/v1beta1.PipelineRun"
        and dt.datetime.fromisoformat(r["update_time"]) > after
        and r["data"]["metadata"]["namespace"] == "team-a"
    }
    assert expected
    with ResultsClient(config_for(server, transport)) as client:
        assert {r["source_ref"] for r in all_rows(client, filter=cel, page_size=5)} == expected
        both = filter_for(namespaces=("team-b", "team-c"))
        names = {r["source_ref"] for r in all_rows(client, filter=both)}
    assert names == {r["name"] for r in records if not r["name"].startswith("team-a/")}


def test_filter_for_needs_an_aware_time() -> None:
    with pytest.raises(ConfigError, match="timezone-aware"):
        filter_for(updated_after=dt.datetime(2026, 1, 1))


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_resume_from_the_exposed_page_tokens(
    server: RunningServer, records: list[dict[str, Any]], transport: str
) -> None:
    with ResultsClient(config_for(server, transport)) as client:
        seen: list[str] = []
        iterator = client.list_record_pages(page_size=25, order_by="create_time desc")
        for _ in range(2):
            seen += next(iterator).column("source_ref").to_pylist()
        assert client.last_page_token and client.next_page_token
        resume_next = client.next_page_token
        again = next(
            client.list_record_pages(
                page_size=25, order_by="create_time desc", page_token=client.last_page_token
            )
        )
        assert again.column("source_ref").to_pylist() == seen[25:]  # re-fetches the last page yielded
        rest = all_rows(client, page_size=25, order_by="create_time desc", page_token=resume_next)
    names = seen + [r["source_ref"] for r in rest]
    assert Counter(names) == Counter(r["name"] for r in records)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_retries_lose_and_double_nothing(
    data_dir: Path, records: list[dict[str, Any]], transport: str
) -> None:
    faults = Faults(fail_rate=0.3, seed=11, cut_after_records=35)
    with (
        start_server(data_dir, faults=faults) as faulty,
        ResultsClient(config_for(faulty, transport)) as client,
    ):
        rows = all_rows(client, page_size=10)
        assert faulty.api.faults.cuts >= 3 and faulty.api.faults.injected_failures >= 3
        assert client.retries == faulty.api.faults.cuts + faulty.api.faults.injected_failures
    assert Counter(r["source_ref"] for r in rows) == Counter(r["name"] for r in records)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_gives_up_with_one_line_naming_the_server(transport: str) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again below: nothing listens there
    url = f"127.0.0.1:{port}" if transport == "grpc" else f"http://127.0.0.1:{port}"
    config = ResultsClientConfig(
        url=url, transport=transport, plaintext=True, max_retries=2, backoff_initial_s=0.01, timeout_s=5
    )
    with ResultsClient(config) as client, pytest.raises(SourceError) as caught:
        list(client.list_record_pages())
    message = str(caught.value)
    assert "\n" not in message and f"127.0.0.1:{port}" in message and "after 3 attempts" in message


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_invalid_argument_carries_the_server_message(server: RunningServer, transport: str) -> None:
    with ResultsClient(config_for(server, transport)) as client:
        with pytest.raises(ResultsApiError, match="invalid page size \\(3\\)") as caught:
            list(client.list_record_pages(page_size=3))
        assert caught.value.code == "INVALID_ARGUMENT"
        with pytest.raises(ResultsApiError, match="undeclared reference to 'bogus'"):
            list(client.list_record_pages(filter="bogus == 1"))
        with pytest.raises(ResultsApiError, match="order by"):
            list(client.list_record_pages(order_by="name"))


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_summary_buckets(server: RunningServer, records: list[dict[str, Any]], transport: str) -> None:
    with ResultsClient(config_for(server, transport)) as client:
        rows = client.record_list_summary("-/results/-")
        with pytest.raises(ConfigError):
            client.record_list_summary("-/results/-", summary="")
        by_day = client.record_list_summary("team-a/results/-", summary="total,avg_duration", group_by="day")
    expected = expected_buckets(records)
    got = {row["group_value"]: {k: int(v) for k, v in row.items() if k != "group_value"} for row in rows}
    keys = ("total", "succeeded", "failed", "cancelled", "running", "others")
    assert got == {ns: {k: counts[k] for k in keys} for ns, counts in expected.items()}
    assert sum(row["total"] for row in by_day) == expected["team-a"]["total"]
    assert all(row["avg_duration"].startswith("00:00:1") for row in by_day)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_fields_trim_data_but_keep_the_page_columns(
    server: RunningServer, records: list[dict[str, Any]], transport: str
) -> None:
    with ResultsClient(config_for(server, transport)) as client:
        rows = all_rows(
            client, fields="records.data.value.metadata.name", order_by="create_time", page_size=50
        )
    assert len(rows) == len(records)  # next_page_token was kept
    assert json.loads(rows[3]["data"]) == {"metadata": {"name": "build-3"}}
    assert rows[3]["source_ref"] == records[3]["name"] and rows[3]["type_hint"] == records[3]["type"]
    assert rows[3]["source_update_time"] is not None


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_seeding_and_incremental_listing(data_dir: Path, transport: str) -> None:
    with start_server(data_dir) as fresh, ResultsClient(config_for(fresh, transport)) as client:
        newest = max(r["source_update_time"] for r in all_rows(client))
        result = client.create_result("seed-ns/results/run-9")
        assert result.name == "seed-ns/results/run-9" and result.uid
        name = "seed-ns/results/run-9/records/rec-1"
        created = client.create_record(name, "tekton.dev/v1.TaskRun", {"metadata": {"name": "x"}})
        with pytest.raises(ResultsApiError) as duplicate:
            client.create_record(name, "tekton.dev/v1.TaskRun", {})
        assert duplicate.value.code == "ALREADY_EXISTS"
        changes = all_rows(client, filter=filter_for(updated_after=newest))
        assert [r["source_ref"] for r in changes] == [name]
        updated = client.update_record(name, {"metadata": {"name": "y"}}, etag=created.etag)
        with pytest.raises(ResultsApiError, match="etag mismatches"):
            client.update_record(name, {"metadata": {"name": "z"}}, etag=created.etag)
        fetched = client.get_record(name)
        assert json.loads(fetched.data.value) == {"metadata": {"name": "y"}}
        assert fetched.etag == updated.etag and fetched.data.type == "tekton.dev/v1.TaskRun"
        client.delete_record(name)
        with pytest.raises(ResultsApiError) as gone:
            client.get_record(name)
        assert gone.value.code == "NOT_FOUND"


def test_rest_tolerates_legacy_camelcase(data_dir: Path, records: list[dict[str, Any]]) -> None:
    with (
        start_server(data_dir, legacy_camelcase=True) as legacy,
        ResultsClient(config_for(legacy, "rest")) as client,
    ):
        rows = all_rows(client, page_size=60)
        record = client.get_record(records[0]["name"])
    assert Counter(r["source_ref"] for r in rows) == Counter(r["name"] for r in records)
    assert all(r["source_update_time"] is not None for r in rows)
    assert record.create_time.ToJsonString() == records[0]["create_time"]


def test_grpc_receives_records_larger_than_the_default_4mib(data_dir: Path) -> None:
    big = {"metadata": {"name": "huge"}, "status": {"log": "x" * (6 * 1024 * 1024)}}
    with start_server(None) as empty, ResultsClient(config_for(empty, "grpc")) as client:
        client.create_result("big/results/r")
        client.create_record("big/results/r/records/a", "tekton.dev/v1.TaskRun", big)
        rows = all_rows(client)
    assert len(rows) == 1 and len(rows[0]["data"]) > 6 * 1024 * 1024


# -- auth ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_auth_missing_or_wrong_token(data_dir: Path, transport: str) -> None:
    with start_server(data_dir, token="right-token") as secured:
        for token in (None, "wrong-token-value"):
            with (
                ResultsClient(config_for(secured, transport, token=token)) as client,
                pytest.raises(AuthError) as caught,
            ):
                next(client.list_record_pages())
            message = str(caught.value)
            assert "results.tekton.dev" in message and "records" in message and "\n" not in message
            assert "wrong-token-value" not in message and "right-token" not in message
        with ResultsClient(config_for(secured, transport, token="right-token")) as client:
            assert len(next(client.list_record_pages(page_size=10))) == 10


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_token_file_is_reread_so_rotation_works(data_dir: Path, tmp_path: Path, transport: str) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("first\n")
    expected = {"token": "first"}
    with (
        start_server(data_dir, token=lambda: expected["token"]) as secured,
        ResultsClient(config_for(secured, transport, token_file=str(token_file))) as client,
    ):
        pages = client.list_record_pages(page_size=50)
        assert len(next(pages)) == 50
        expected["token"] = "second"  # the server rotates ...
        token_file.write_text("second")  # ... and so does the projected token file
        assert len(next(pages)) == 50
        token_file.unlink()
        with pytest.raises(AuthError, match="cannot read token file"):
            next(pages)


def test_kubeconfig_token(data_dir: Path, tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:6443"}}],
                "users": [{"name": "u", "user": {"token": "kube-token"}}],
                "contexts": [{"name": "ctx", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "ctx",
            }
        )
    )
    with start_server(data_dir, token="kube-token") as secured:
        config = config_for(secured, "grpc", use_kubeconfig_token=True, kubeconfig=str(kubeconfig))
        with ResultsClient(config) as client:
            assert len(next(client.list_record_pages(page_size=5))) == 5


# -- TLS -----------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_server(
    data_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[RunningServer, Any]]:
    pki = make_pki(tmp_path_factory.mktemp("pki"))
    with start_server(data_dir, tls=TlsFiles(pki.server_cert, pki.server_key)) as secure:
        yield secure, pki


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_tls_verified_by_ca(tls_server: tuple[RunningServer, Any], transport: str) -> None:
    secure, pki = tls_server
    with ResultsClient(config_for(secure, transport, ca_file=str(pki.ca_cert))) as client:
        assert len(next(client.list_record_pages(page_size=7))) == 7


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_tls_wrong_ca_fails_clearly(tls_server: tuple[RunningServer, Any], transport: str) -> None:
    secure, pki = tls_server
    config = config_for(secure, transport, ca_file=str(pki.other_ca_cert), max_retries=1)
    with (
        ResultsClient(config) as client,
        pytest.raises(SourceError, match=r"TLS handshake .* failed: set ca_file"),
    ):
        next(client.list_record_pages())


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_tls_insecure_skip_verify(tls_server: tuple[RunningServer, Any], transport: str) -> None:
    secure, _ = tls_server
    with ResultsClient(config_for(secure, transport, insecure_skip_tls_verify=True)) as client:
        assert len(next(client.list_record_pages(page_size=9))) == 9


def test_plaintext_client_against_tls_server_fails_without_hanging(
    tls_server: tuple[RunningServer, Any],
) -> None:
    secure, _ = tls_server
    config = config_for(secure, "grpc", plaintext=True, max_retries=1, timeout_s=5)
    with ResultsClient(config) as client, pytest.raises(SourceError):
        next(client.list_record_pages())


# -- config --------------------------------------------------------------------------------------------------------


def test_from_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RESULTS_TOKEN", "from-env")
    cluster = ClusterConfig(
        name="prod",
        results=ResultsSource(
            url="https://results.example:8443",
            transport="rest",
            token=SecretRef(env="RESULTS_TOKEN"),
            ca_file="/etc/ca.pem",
            api_path="/proxy",
            timeout_s=12,
        ),
    )
    config = ResultsClientConfig.from_source(cluster)
    assert (config.url, config.transport, config.token, config.ca_file) == (
        "https://results.example:8443",
        "rest",
        "from-env",
        "/etc/ca.pem",
    )
    assert (config.api_path, config.timeout_s, config.token_file) == ("/proxy", 12, None)
    file_cluster = ClusterConfig(results=ResultsSource(url="h:1", token=SecretRef(file=str(tmp_path / "t"))))
    assert ResultsClientConfig.from_source(file_cluster).token_file == str(tmp_path / "t")
    with pytest.raises(ConfigError, match="no 'results' source"):
        ResultsClientConfig.from_source(ClusterConfig(name="bare"))


def test_bad_grpc_url_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="host:port"):
        ResultsClient(ResultsClientConfig(url="no-port-here", plaintext=True))


def test_rest_api_path_prefix_reaches_a_missing_route_clearly(server: RunningServer) -> None:
    config = config_for(server, "rest", api_path="/plugins/tekton-results", max_retries=0)
    with ResultsClient(config) as client, pytest.raises(ResultsApiError) as caught:
        next(client.list_record_pages())
    assert "/plugins/tekton-results/apis/results.tekton.dev/v1alpha2" in str(caught.value)
