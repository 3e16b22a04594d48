"""The one mapping of every setting onto its names: in the file, the environment and a flag.

Each ``Settings`` field is one ``Option``: ``name`` is the field, the key in
``dualrec.toml``, ``DUALREC_<NAME>`` in the environment and ``--<name-with-dashes>`` on
the command line (a few older flag spellings stay as aliases). The parser's flags, the
loader (``dualrec.config``) and the table in ``docs/configuration.md`` are all made from
``OPTIONS``, so none of them can drift from the others.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Kind(enum.Enum):
    """How a setting's value is written, and what it becomes."""

    TEXT = "text"
    INT = "whole number"
    NUMBER = "number"
    BOOL = "true/false"
    PATH = "path"
    LIST = "list"


@dataclass(frozen=True)
class Option:
    """One setting: its field name, the kind of its value and what it means."""

    name: str
    kind: Kind
    meaning: str
    #: Older flag spellings, still accepted.
    aliases: tuple[str, ...] = ()
    #: Never printed: not in messages, reprs or ``dualrec init``'s output.
    secret: bool = False
    #: The default as the table says it, when the field's own default does not say enough.
    default: str | None = None
    #: Allowed values, when there are few.
    choices: tuple[str, ...] = ()

    def one_of(self, quote: str = "") -> str:
        """The choices as words: ``a, b or c``."""
        shown = [f"{quote}{choice}{quote}" for choice in self.choices]
        return " or ".join([", ".join(shown[:-1]), shown[-1]] if len(shown) > 2 else shown)

    @property
    def env(self) -> str:
        """Its environment variable."""
        return f"DUALREC_{self.name.upper()}"

    @property
    def flag(self) -> str:
        """Its command-line flag."""
        return "--" + self.name.replace("_", "-")


T, INT, N, B, P, L = Kind.TEXT, Kind.INT, Kind.NUMBER, Kind.BOOL, Kind.PATH, Kind.LIST

#: Every setting, in the order of ``Settings`` (a test checks they match one to one).
OPTIONS: tuple[Option, ...] = (
    Option("host", T, "address to listen on"),
    Option("port", INT, "port to listen on"),
    Option("data_dir", P, "the data folder: keys, recordings, the SQLite database"),
    Option(
        "database_url",
        T,
        "SQLAlchemy URL of the database, e.g. postgresql://user@host/db",
        default="SQLite file `dualrec.db` in the data folder",
    ),
    Option("segment_s", N, "length of a recording segment (s)", aliases=("--segment-seconds",)),
    Option(
        "log_level",
        T,
        "how much is logged",
        choices=("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"),
    ),
    Option(
        "log_format", T, "log lines for people or one JSON object a line", choices=("text", "json")
    ),
    Option(
        "metrics_token",
        T,
        "bearer token a Prometheus scraper sends to /metrics (admins need none); "
        "better the variable than the flag, which `ps` shows",
        secret=True,
        default="none: admins only",
    ),
    Option("timezone", T, "IANA time zone burned into composites"),
    Option(
        "tts_speed_wpm",
        INT,
        "speed of spoken announcements (words a minute)",
        aliases=("--tts-speed",),
    ),
    Option(
        "stun_urls", L, "STUN servers, `stun:host:port`", aliases=("--stun-url",), default="none"
    ),
    Option(
        "turn_urls",
        L,
        "TURN servers, `turn:host:port?transport=udp`, `turns:host:5349`",
        aliases=("--turn-url",),
        default="none",
    ),
    Option(
        "turn_secret",
        T,
        "secret shared with the TURN servers (coturn's static-auth-secret); needed with "
        "turn_urls; better the variable than the flag",
        secret=True,
    ),
    Option("turn_ttl_s", INT, "how long TURN credentials are valid (s)", aliases=("--turn-ttl",)),
    Option(
        "ice_transport_policy",
        T,
        "which ICE candidates pages and clients use (`relay`: media only through TURN)",
        choices=("all", "relay"),
    ),
    Option("s3_bucket", T, "S3 bucket (Object Lock) for the recordings", default="none: local"),
    Option("s3_endpoint", T, "S3-compatible endpoint URL, no credentials", default="AWS"),
    Option("s3_region", T, "S3 region", default="boto3's"),
    Option("s3_prefix", T, "key prefix of the recordings in the bucket"),
    Option("s3_sse", T, "server-side encryption", choices=("AES256", "aws:kms")),
    Option("s3_kms_key_id", T, "KMS key of `aws:kms` encryption"),
    Option("s3_keep_local", B, "keep the local copy after the upload is confirmed"),
    Option("s3_retry_max_s", N, "longest wait between two tries of an upload (s)"),
    Option("database_retry_s", N, "how long a database operation retries a lost connection (s)"),
    Option(
        "retention_policy",
        P,
        "the retention policy file",
        default="the packaged storage/retention.toml",
    ),
    Option(
        "review_sample_share",
        N,
        "share of passing inspected parts queued for auditors' review besides every failed "
        "or doubtful one (0 to 1; picked by session id, the same on every node)",
    ),
    Option(
        "speech_model_zh_cn",
        P,
        "PocketSphinx model folder (acoustic model, dictionary, language model) that "
        "recognises Mandarin spoken confirmations",
        default="none: a person listens",
    ),
    Option(
        "speech_model_en",
        P,
        "PocketSphinx model folder that recognises English spoken confirmations",
        default="pocketsphinx's US English",
    ),
    Option(
        "redis_url",
        T,
        "Redis shared by several nodes (needs PostgreSQL); a worker's job queue",
        default="none: one process",
    ),
    Option("node_id", T, "this node's name among several", default="host name:port"),
    Option(
        "drain_grace_s",
        N,
        "on SIGTERM, how long live calls go on before they move to another node (s)",
        aliases=("--drain-seconds",),
    ),
    Option(
        "tls_cert", P, "serve HTTPS: certificate chain (PEM), with tls_key", default="none: HTTP"
    ),
    Option("tls_key", P, "serve HTTPS: its private key (PEM, unencrypted)"),
    Option(
        "trusted_proxies",
        L,
        "proxies (addresses or networks) whose X-Forwarded-* are believed",
        aliases=("--trusted-proxy",),
        default="none",
    ),
    Option(
        "init",
        B,
        "`dualrec serve`: make the data folder if it is not one yet (as `dualrec init`)",
    ),
)

#: The options by name.
BY_NAME = {option.name: option for option in OPTIONS}
