"""S3 settings: read from the environment and ``serve`` flags, never holding credentials."""

from __future__ import annotations

from pathlib import Path

import pytest

from dualrec.cli import _settings, build_parser
from dualrec.settings import Settings, SettingsError


def test_s3_settings_from_the_environment() -> None:
    settings = Settings.from_environment(
        {
            "DUALREC_S3_BUCKET": "recordings",
            "DUALREC_S3_ENDPOINT": "http://127.0.0.1:9000",
            "DUALREC_S3_REGION": "cn-north-1",
            "DUALREC_S3_SSE": "aws:kms",
            "DUALREC_S3_KMS_KEY_ID": "alias/dualrec",
            "DUALREC_S3_KEEP_LOCAL": "yes",
            "DUALREC_S3_RETRY_MAX_S": "15",
            "DUALREC_RETENTION_POLICY": "/etc/dualrec/retention.toml",
            "AWS_SECRET_ACCESS_KEY": "never-in-settings",
        }
    )
    assert (settings.s3_bucket, settings.s3_endpoint, settings.s3_region) == (
        "recordings",
        "http://127.0.0.1:9000",
        "cn-north-1",
    )
    assert settings.s3_sse == "aws:kms" and settings.s3_kms_key_id == "alias/dualrec"
    assert settings.s3_keep_local and settings.s3_retry_max_s == 15.0
    assert settings.retention_policy == Path("/etc/dualrec/retention.toml")
    assert "never-in-settings" not in repr(settings)
    assert Settings.from_environment({}).s3_bucket is None
    assert not Settings.from_environment({}).s3_keep_local


def test_bad_s3_settings_are_refused() -> None:
    with pytest.raises(SettingsError, match="DUALREC_S3_KEEP_LOCAL"):
        Settings.from_environment({"DUALREC_S3_KEEP_LOCAL": "maybe"})
    with pytest.raises(SettingsError, match="credentials"):
        Settings(s3_endpoint="http://key:secret@127.0.0.1:9000")


def test_serve_flags_set_the_bucket(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DUALREC_S3_BUCKET", raising=False)
    args = build_parser().parse_args(
        ["serve", "--s3-bucket", "b1", "--s3-endpoint", "http://127.0.0.1:9000"]
    )
    settings = _settings(args)
    assert (settings.s3_bucket, settings.s3_endpoint) == ("b1", "http://127.0.0.1:9000")
