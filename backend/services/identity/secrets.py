"""Master-key rotation: re-wrap every sealed secret under the current master key."""

from sqlmodel import Session, select

from backend.adapters.envelope import KeyRing, key_id
from backend.models import AgentTool, User, Workbench
from backend.services.identity import audit

# Every column that holds a sealed secret; each domain adds its own (tool auth secrets, ...).
SEALED_COLUMNS = ((User, "mfa_secret"), (AgentTool, "auth_secret"), (Workbench, "token_sealed"))


def rewrap_all(session: Session, ring: KeyRing) -> int:
    """Re-wrap sealed values whose data key is under an older master key; returns how many changed."""
    changed = 0
    for model, column in SEALED_COLUMNS:
        for row in session.exec(select(model).where(getattr(model, column).is_not(None))):
            sealed = getattr(row, column)
            rewrapped = ring.rewrap(sealed)
            if rewrapped != sealed:
                setattr(row, column, rewrapped)
                session.add(row)
                changed += 1
    return changed


def rotate_master_key(session: Session, ring: KeyRing, actor_label: str = "cli") -> int:
    """Re-wrap every stored secret under the ring's current master key and record it in the audit
    trail; returns how many secrets changed."""
    changed = rewrap_all(session, ring)
    audit.record(
        session,
        action="keys.rotate",
        outcome="ok",
        actor_label=actor_label,
        target_type="master_key",
        target_id=key_id(ring.current),
        detail={"rewrapped": changed},
    )
    return changed
