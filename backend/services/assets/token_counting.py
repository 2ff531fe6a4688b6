"""Token lengths for dataset reports, with the tokenizer of a registered model version.

The tokenizer files (tokenizer.json and its configs) are copied from object storage into
a local cache folder keyed by the version's id, then loaded with transformers'
AutoTokenizer from that folder only (never from a hub).
"""

from __future__ import annotations

from pathlib import Path

from sqlmodel import Session

from backend.adapters.objectstore import ObjectStore
from backend.errors import ErrorCode, MedAIError
from backend.models import ModelAsset, ModelVersion
from backend.services.assets.dataset_formats import TokenCounter
from backend.services.identity.access import Principal, authorize
from backend.services.identity.permissions import Action, Area

TOKENIZER_FILES = frozenset(
    {
        "tokenizer.json",
        "tokenizer_config.json",
        "special_tokens_map.json",
        "vocab.json",
        "merges.txt",
        "tokenizer.model",
        "vocab.txt",
        "added_tokens.json",
        "config.json",
        "chat_template.jinja",
    }
)


def _fetch(objects: ObjectStore, version: ModelVersion, folder: Path) -> None:
    wanted = [f["path"] for f in version.files if Path(f["path"]).name in TOKENIZER_FILES]
    if not any(Path(p).name in ("tokenizer.json", "tokenizer.model", "vocab.json", "vocab.txt") for p in wanted):
        raise MedAIError(
            ErrorCode.DATA_INVALID,
            "This model version has no tokenizer files.",
            "Pick a version registered with its tokenizer (tokenizer.json or similar), or use the estimate.",
        )
    folder.mkdir(parents=True, exist_ok=True)
    for relative in wanted:
        target = folder / Path(relative).name
        if target.exists():
            continue
        partial = target.with_suffix(target.suffix + ".part")
        with partial.open("wb") as out:
            for chunk in objects.open(version.storage_prefix + relative):
                out.write(chunk)
        partial.replace(target)


def counter_for(
    session: Session, objects: ObjectStore, principal: Principal, version_id: str, cache_dir: Path
) -> tuple[str, TokenCounter]:
    """The tokenizer name and a function counting tokens with it."""
    tenant_id = authorize(session, principal, Area.ASSETS, Action.VIEW)
    version = session.get(ModelVersion, version_id)
    if version is None or version.tenant_id != tenant_id:
        raise MedAIError(ErrorCode.NOT_FOUND, "No such model version in this tenant.", "Pick another tokenizer.")
    model = session.get(ModelAsset, version.model_id)
    folder = cache_dir / "tokenizers" / version.id
    _fetch(objects, version, folder)
    from transformers import AutoTokenizer  # heavy: imported only when a tokenizer is chosen

    try:
        tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    except (OSError, ValueError) as error:
        raise MedAIError(
            ErrorCode.DATA_INVALID,
            f"The tokenizer of this model version cannot be loaded: {error}",
            "Register the model with complete tokenizer files.",
        ) from None

    def count(text: str) -> int:
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    return f"{model.name if model else 'model'} v{version.version}", count
