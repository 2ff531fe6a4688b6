"""The chat template the platform gives a model whose tokenizer has none (a base model built
or registered without one). Training, the local engine and vLLM all use it, so a model is
prompted the way it was tuned."""

from __future__ import annotations

import json
from pathlib import Path

DEFAULT_CHAT_TEMPLATE = (
    "{% for message in messages %}<|{{ message['role'] }}|>\n{{ message['content'] }}{{ eos_token }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
TEMPLATE_FILE = "chat_template.jinja"  # where transformers saves a template, and where it and vLLM look
TOKENIZER_FILES = ("tokenizer_config.json", "tokenizer.json")


def has_chat_template(folder: Path) -> bool:
    if (folder / TEMPLATE_FILE).exists() or (folder / "chat_template.json").exists():
        return True
    config = folder / "tokenizer_config.json"
    try:
        return bool(json.loads(config.read_text(encoding="utf-8")).get("chat_template"))
    except (OSError, ValueError, AttributeError):
        return False


def ensure_chat_template(folder: Path) -> bool:
    """Write the default template beside a tokenizer that has none; True when it did. vLLM refuses
    chat requests for a model without a template, and reads this file. A folder without a
    tokenizer is left alone: the engine reports that itself."""
    if has_chat_template(folder) or not any((folder / name).exists() for name in TOKENIZER_FILES):
        return False
    partial = folder / (TEMPLATE_FILE + ".part")
    partial.write_text(DEFAULT_CHAT_TEMPLATE, encoding="utf-8")
    partial.replace(folder / TEMPLATE_FILE)
    return True
