"""Training: SFT/DPO/RL jobs (submit, follow, cancel, retry, resume) and their presets."""
