"""GPU inventory and telemetry of this host through NVML (nvidia-ml-py). A host without an
NVIDIA driver says so plainly; nothing is invented."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Gpu:
    index: int
    name: str
    uuid: str
    memory_total_mib: int
    memory_used_mib: int
    utilization_pct: int
    temperature_c: int
    power_w: float


@dataclass(frozen=True)
class GpuInventory:
    gpus: tuple[Gpu, ...]
    driver: str  # the driver version, or why there is none
    available: bool


def read_gpus() -> GpuInventory:
    import pynvml

    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as error:
        return GpuInventory((), f"no NVIDIA driver: {error}", False)
    try:
        driver = pynvml.nvmlSystemGetDriverVersion()
        found = []
        for index in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
            rates = pynvml.nvmlDeviceGetUtilizationRates(handle)
            found.append(
                Gpu(
                    index=index,
                    name=str(pynvml.nvmlDeviceGetName(handle)),
                    uuid=str(pynvml.nvmlDeviceGetUUID(handle)),
                    memory_total_mib=int(memory.total // 2**20),
                    memory_used_mib=int(memory.used // 2**20),
                    utilization_pct=int(rates.gpu),
                    temperature_c=int(pynvml.nvmlDeviceGetTemperature(handle, pynvml.NVML_TEMPERATURE_GPU)),
                    power_w=pynvml.nvmlDeviceGetPowerUsage(handle) / 1000,
                )
            )
        return GpuInventory(tuple(found), str(driver), True)
    finally:
        pynvml.nvmlShutdown()
