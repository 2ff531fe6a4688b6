from pathlib import Path

from backend.settings import Settings


def test_embedded_defaults_live_under_the_data_folder(settings):
    data = settings.data_dir
    assert settings.database_url == f"sqlite:///{data / 'medai.db'}"
    assert settings.object_store_dir == data / "objects"
    assert settings.chroma_dir == data / "chroma"
    assert settings.metrics_db == data / "metrics.db"
    assert (settings.database_backend, settings.cache_backend, settings.object_store_backend) == (
        "sqlite",
        "memory",
        "local",
    )
    assert (settings.vector_backend, settings.metrics_backend, settings.compute_backend) == (
        "chroma-embedded",
        "sqlite",
        "local",
    )


def test_binds_loopback_unless_told_otherwise(settings, monkeypatch):
    assert settings.host == "127.0.0.1"
    assert settings.public_url == "http://127.0.0.1:3000"
    monkeypatch.setenv("MEDAI_HOST", "0.0.0.0")
    monkeypatch.setenv("MEDAI_PORT", "8080")
    opened = Settings(_env_file=None)
    assert opened.host == "0.0.0.0"
    assert opened.public_url == "http://127.0.0.1:8080"


def test_production_switches_come_from_the_environment(monkeypatch, tmp_path):
    env = {
        "MEDAI_DATA_DIR": str(tmp_path),
        "MEDAI_DATABASE_URL": "mysql+pymysql://medai:pw@db:3306/medai",
        "MEDAI_REDIS_URL": "redis://cache:6379/0",
        "MEDAI_S3_ENDPOINT": "minio:9000",
        "MEDAI_S3_SECRET_KEY": "s3-secret-value",
        "MEDAI_CHROMA_URL": "http://chroma:8000",
        "MEDAI_INFLUX_URL": "http://influx:8086",
        "MEDAI_INFLUX_TOKEN": "influx-token-value",
        "MEDAI_COMPUTE_BACKEND": "kubernetes",
        "MEDAI_KUBECONFIG": "/etc/kube/config",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    s = Settings(_env_file=None)
    assert s.database_backend == "mysql"
    assert (s.cache_backend, s.object_store_backend, s.vector_backend, s.metrics_backend) == (
        "redis",
        "s3",
        "chroma-server",
        "influxdb",
    )
    assert s.compute_backend == "kubernetes"
    assert s.kubeconfig == "/etc/kube/config"
    # secrets never show in a repr or a log line
    shown = repr(s) + str(s.model_dump())
    assert "s3-secret-value" not in shown
    assert "influx-token-value" not in shown
    assert s.s3_secret_key.get_secret_value() == "s3-secret-value"


def test_relative_data_dir_is_resolved(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    s = Settings(data_dir=Path("rel"), _env_file=None)
    assert s.data_dir == tmp_path / "rel"
