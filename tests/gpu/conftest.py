"""Tests that need an NVIDIA GPU: `make test-gpu` on a GPU machine. `make test` leaves them out,
since CI runs where there is none; here they skip, saying why, when NVML finds no GPU."""

import pytest

from backend.adapters.gpus import GpuInventory, read_gpus


@pytest.fixture(scope="session")
def gpu_inventory() -> GpuInventory:
    inventory = read_gpus()
    if not inventory.gpus:
        pytest.skip(f"no NVIDIA GPU on this machine ({inventory.driver})")
    return inventory
