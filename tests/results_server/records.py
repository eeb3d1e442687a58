"""Hand-made Tekton Results records in the `records.ndjson` format of docs/internals.md, and TLS test certificates."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BASE_TIME = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
REASONS = [
    "Succeeded",
    "Failed",
    "Cancelled",
    "Running",
    "PipelineRunTimeout",
    "Completed",
    "TaskRunCancelled",
    None,
]
NAMESPACES = ["team-a", "team-b", "team-c"]


def rfc3339(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def make_record(index: int, *, namespace: str | None = None, updated_offset_s: int = 0) -> dict[str, Any]:
    """Record `index`: kinds, API versions, namespaces, reasons and pipelines vary deterministically."""
    namespace = namespace or NAMESPACES[index % len(NAMESPACES)]
    kind = "PipelineRun" if index % 2 == 0 else "TaskRun"
    api_version = "v1" if index % 5 else "v1beta1"
    object_uid = str(uuid.UUID(int=index + 1, version=4))
    created = BASE_TIME + dt.timedelta(minutes=index)
    started = created + dt.timedelta(seconds=5)
    completed = started + dt.timedelta(seconds=10 + index % 7)
    # update times deliberately not in creation order, and some ties, to exercise keyset paging on (time, uid).
    updated = created + dt.timedelta(seconds=(index * 37) % 600 + updated_offset_s)
    reason = REASONS[index % len(REASONS)]
    status: dict[str, Any] = {"startTime": rfc3339(started), "completionTime": rfc3339(completed)}
    if reason is not None:
        status["conditions"] = [{"type": "Succeeded", "status": "True", "reason": reason}]
    data = {
        "apiVersion": f"tekton.dev/{api_version}",
        "kind": kind,
        "metadata": {
            "name": f"build-{index}",
            "namespace": namespace,
            "uid": object_uid,
            "creationTimestamp": rfc3339(created),
            "labels": {"tekton.dev/pipeline": f"pipe-{index % 4}", "app": "shop" if index % 3 else "bank"},
        },
        "spec": {"params": [{"name": "revision", "value": f"rev-{index}"}]},
        "status": status,
    }
    return {
        "name": f"{namespace}/results/{object_uid}/records/{object_uid}",
        "uid": str(uuid.UUID(int=10_000 + index * 7919 % 10_007, version=4)),
        "type": f"tekton.dev/{api_version}.{kind}",
        "create_time": rfc3339(created),
        "update_time": rfc3339(updated),
        "data": data,
    }


def write_records(folder: Path, records: list[dict[str, Any]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "records.ndjson").open("w") as out:
        for record in records:
            out.write(json.dumps(record) + "\n")
    return folder


def history(count: int) -> list[dict[str, Any]]:
    return [make_record(i) for i in range(count)]


def reason_of(record: dict[str, Any]) -> str | None:
    conditions = record["data"]["status"].get("conditions")
    return conditions[0]["reason"] if conditions else None


def expected_buckets(records: list[dict[str, Any]]) -> dict[str, Counter]:
    """The real server's summary buckets per namespace (tekton-results-api.md §2.9)."""
    buckets: dict[str, Counter] = {}
    for record in records:
        counter = buckets.setdefault(record["data"]["metadata"]["namespace"], Counter())
        reason = reason_of(record)
        counter["total"] += 1
        if reason in ("Succeeded", "Completed"):
            counter["succeeded"] += 1
        elif reason == "Failed":
            counter["failed"] += 1
        elif reason == "Cancelled":
            counter["cancelled"] += 1
        elif reason == "Running":
            counter["running"] += 1
        elif reason is not None:
            counter["others"] += 1
    return buckets


@dataclass(frozen=True)
class TestPki:
    ca_cert: Path
    server_cert: Path
    server_key: Path
    other_ca_cert: Path


def make_pki(folder: Path) -> TestPki:
    """A self-signed CA, a server certificate it signs (SAN localhost + 127.0.0.1), and an unrelated CA."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    folder.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)

    def ca(name: str) -> tuple[Any, Any]:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
            )
            .sign(key, hashes.SHA256())
        )
        return key, cert

    ca_key, ca_cert = ca("test results CA")
    _, other_cert = ca("some other CA")
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_cert.subject)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    paths = TestPki(folder / "ca.pem", folder / "server.pem", folder / "server.key", folder / "other-ca.pem")
    paths.ca_cert.write_bytes(ca_cert.public_bytes(pem))
    paths.other_ca_cert.write_bytes(other_cert.public_bytes(pem))
    paths.server_cert.write_bytes(server_cert.public_bytes(pem))
    paths.server_key.write_bytes(
        server_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return paths
