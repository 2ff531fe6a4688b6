"""Assets on the production backends together: rows in MariaDB, files in S3 (minio SDK
against moto's server). An accepted import lands in both; a refused one in neither."""

import io
import json

import pytest
from sqlmodel import select

from backend import db
from backend.errors import MedAIError
from backend.models import Dataset, DatasetVersion, ModelVersion, Tenant
from backend.runtime import build_runtime
from backend.services.assets import datasets, lineage, model_registry
from backend.services.identity.access import Principal
from backend.settings import Settings
from tests.integration.conftest import drop_everything

pytestmark = pytest.mark.integration

ROW = {"prompt": "孕妇可以服用布洛芬吗？", "chosen": "孕晚期应避免，请咨询医生。", "rejected": "可以随便吃。"}


@pytest.fixture
def production(mariadb_url, s3_endpoint, tmp_path, clean_env):
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=mariadb_url,
        s3_endpoint=s3_endpoint,
        s3_access_key="testing",
        s3_secret_key="testing",
        s3_bucket="medai-assets-it",
        s3_region="us-east-1",
        s3_secure=False,
        _env_file=None,
    )
    rt = build_runtime(settings)
    drop_everything(rt.engine)
    db.upgrade(rt.engine)
    rt.objects.delete_prefix("")
    yield rt
    rt.objects.delete_prefix("")
    drop_everything(rt.engine)
    rt.engine.dispose()


def test_import_and_refusal_on_mariadb_and_s3(production):
    rt = production
    assert rt.engine.dialect.name == "mysql" and rt.objects.backend == "s3"
    with rt.session() as session:
        tenant = Tenant(slug="xiangya", name="Xiangya")
        session.add(tenant)
    who = Principal(user_id="u", label="dev@xiangya.cn", tenant_id=tenant.id, role="developer")

    def upload(payload: bytes):
        with rt.session() as session:
            return datasets.import_version(
                session,
                rt.objects,
                who,
                name="safety-prefs",
                filename="prefs.jsonl",
                stream=io.BytesIO(payload),
                scratch_dir=rt.settings.scratch_dir,
            ).id

    with pytest.raises(MedAIError):
        upload(json.dumps(ROW, ensure_ascii=False).encode() + b"\n{not json\n")
    with rt.session() as session:
        assert session.exec(select(Dataset)).all() == []
    assert rt.objects.list("") == []

    version_id = upload(json.dumps(ROW, ensure_ascii=False).encode() + b"\n")
    with rt.session() as session:
        row = session.get(DatasetVersion, version_id)
        assert (row.shape, row.rows) == ("preference", 1)
        key = row.object_key
    assert b"".join(rt.objects.open(key)).decode().startswith('{"prompt": "孕妇')

    spec = model_registry.VersionSpec(model_name="safety-dpo", dataset_version_ids=(version_id,))
    with rt.session() as session:
        model_version = model_registry.register_version(
            session, rt.objects, who, spec, [("model.safetensors", io.BytesIO(b"\0" * 8))], "upload"
        ).id
    with rt.session() as session, pytest.raises(MedAIError, match="still used"):
        datasets.delete_version(session, rt.objects, who, version_id)
    with rt.session() as session:
        edges = lineage.graph(session, who, lineage.Node("dataset_version", version_id))
        assert [(e.relation, e.target.id) for e in edges] == [("trained_on", model_version)]
        model_registry.delete_version(session, rt.objects, who, model_version)
        datasets.delete_version(session, rt.objects, who, version_id)
    with rt.session() as session:
        assert session.exec(select(ModelVersion)).all() == []
    assert rt.objects.list("") == []
