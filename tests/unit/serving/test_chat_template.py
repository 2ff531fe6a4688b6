"""A model whose tokenizer has no chat template gets the platform's default, written beside
it where transformers and vLLM both read it; a model with its own keeps it."""

import json

from backend.workers.chat_template import DEFAULT_CHAT_TEMPLATE, TEMPLATE_FILE, ensure_chat_template
from tests.tiny_model import build_tokenizer


def test_a_tokenizer_without_a_template_gets_the_default_file(tmp_path):
    from transformers import AutoTokenizer

    build_tokenizer(tmp_path)
    assert AutoTokenizer.from_pretrained(tmp_path, local_files_only=True).chat_template is None
    assert ensure_chat_template(tmp_path) is True
    tokenizer = AutoTokenizer.from_pretrained(tmp_path, local_files_only=True)
    assert tokenizer.chat_template == DEFAULT_CHAT_TEMPLATE
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "头痛"}], tokenize=False, add_generation_prompt=True
    )
    assert prompt == "<|user|>\n头痛</s>\n<|assistant|>\n"
    assert ensure_chat_template(tmp_path) is False and not list(tmp_path.glob("*.part"))


def test_a_template_of_the_model_s_own_is_kept(tmp_path):
    build_tokenizer(tmp_path)
    config = tmp_path / "tokenizer_config.json"
    own = "{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }}{% endfor %}"
    config.write_text(json.dumps({**json.loads(config.read_text()), "chat_template": own}))
    assert ensure_chat_template(tmp_path) is False and not (tmp_path / TEMPLATE_FILE).exists()
