"""Container images for training, serving and workbenches: a checked reference
(registry/repository:tag@sha256:digest), the CUDA and framework versions it carries, and
what it is for."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlmodel import Session, select

from backend.errors import ErrorCode, MedAIError
from backend.models import ContainerImage
from backend.services.assets import lineage
from backend.services.identity import audit
from backend.services.identity.access import Principal, authorize
from backend.services.identity.permissions import Action, Area

PURPOSES = ("training", "serving", "workbench")
DEFAULT_REGISTRY = "docker.io"
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN = (
    r"(?:localhost|[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+)(?::\d+)?"
)
_REFERENCE = re.compile(
    rf"^(?:(?P<registry>{_DOMAIN}|[A-Za-z0-9-]+:\d+)/)?(?P<repository>{_COMPONENT}(?:/{_COMPONENT})*)"
    r"(?::(?P<tag>[\w][\w.-]{0,127}))?(?:@(?P<digest>sha256:[a-f0-9]{64}))?$"
)
_VERSION = re.compile(r"^\d+(?:\.\d+){0,2}$")


@dataclass(frozen=True)
class ImageReference:
    registry: str
    repository: str
    tag: str
    digest: str

    def __str__(self) -> str:
        text = f"{self.registry}/{self.repository}"
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def parse_reference(text: str) -> ImageReference:
    """A reference in the grammar container registries use, with docker.io and :latest filled in."""
    match = _REFERENCE.match(text.strip())
    if match is None or len(text) > 512:
        raise MedAIError(
            ErrorCode.DATA_INVALID,
            f"'{text[:100]}' is not a valid image reference.",
            "Write it as registry/repository:tag or …@sha256:<64 hex>, e.g. "
            "registry.hospital.cn/medai/vllm-openai:0.12-cuda12.4 (repository names are lowercase).",
        )
    registry = match["registry"] or DEFAULT_REGISTRY
    repository = match["repository"]
    if registry == DEFAULT_REGISTRY and "/" not in repository:
        repository = f"library/{repository}"
    tag = match["tag"] or ("" if match["digest"] else "latest")
    return ImageReference(registry, repository, tag, match["digest"] or "")


def register_image(
    session: Session,
    principal: Principal,
    reference: str,
    purpose: str,
    cuda_version: str = "",
    framework: str = "",
) -> ContainerImage:
    tenant_id = authorize(session, principal, Area.ASSETS, Action.CREATE)
    assert tenant_id is not None
    parsed = parse_reference(reference)
    if purpose not in PURPOSES:
        raise MedAIError(ErrorCode.DATA_INVALID, f"Unknown purpose '{purpose}'.", "Use " + ", ".join(PURPOSES) + ".")
    if cuda_version and not _VERSION.match(cuda_version):
        raise MedAIError(ErrorCode.DATA_INVALID, f"'{cuda_version}' is not a CUDA version.", "Write e.g. 12.4.")
    normalised = str(parsed)
    if session.exec(
        select(ContainerImage.id).where(ContainerImage.tenant_id == tenant_id, ContainerImage.reference == normalised)
    ).first():
        raise MedAIError(ErrorCode.CONFLICT, f"{normalised} is already registered.", "Edit the existing entry.")
    image = ContainerImage(
        tenant_id=tenant_id,
        reference=normalised,
        registry_host=parsed.registry,
        repository=parsed.repository,
        tag=parsed.tag,
        digest=parsed.digest,
        cuda_version=cuda_version,
        framework=framework.strip()[:64],
        purpose=purpose,
        created_by=principal.label,
    )
    session.add(image)
    _audit(session, principal, "image.register", image.id, reference=normalised)
    return image


def _audit(session: Session, principal: Principal, action: str, target_id: str, **detail: object) -> None:
    audit.record_by(session, principal, action, "image", target_id, **detail)


def list_images(session: Session, principal: Principal, purpose: str = "", search: str = "") -> list[ContainerImage]:
    tenant_id = authorize(session, principal, Area.ASSETS, Action.VIEW)
    query = select(ContainerImage).where(ContainerImage.tenant_id == tenant_id).order_by(ContainerImage.reference)
    if purpose:
        query = query.where(ContainerImage.purpose == purpose)
    if search:
        query = query.where(ContainerImage.reference.contains(search, autoescape=True))
    return list(session.exec(query).all())


def retire_image(session: Session, principal: Principal, image_id: str) -> None:
    tenant_id = authorize(session, principal, Area.ASSETS, Action.UPDATE)
    image = session.get(ContainerImage, image_id)
    if image is None or image.tenant_id != tenant_id:
        raise MedAIError(ErrorCode.NOT_FOUND, "No such image in this tenant.", "Reload the image list.")
    lineage.refuse_if_used(session, image.tenant_id, lineage.Node("image", image.id), "retire this image")
    image.status = "retired"
    session.add(image)
    _audit(session, principal, "image.retire", image.id)
