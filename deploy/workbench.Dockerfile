# Workbench image (MEDAI_WORKBENCH_IMAGE): JupyterLab with Git, the kernel and basic libraries.
# Build from the repository root: docker build -f deploy/workbench.Dockerfile -t registry.local/medai/workbench .
# The platform starts it as a Pod (see backend/adapters/compute/ide.py): its home is a persistent
# volume at /home/jovyan/work, its token comes from a Secret, packages install with `pip --user`.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update && apt-get install -y --no-install-recommends git && rm -rf /var/lib/apt/lists/*
RUN pip install --no-cache-dir jupyterlab==4.6.6 jupyterlab-git==0.55.0 ipykernel==7.4.0 \
    numpy pandas scikit-learn matplotlib
RUN useradd --uid 1000 --gid 100 --create-home jovyan && mkdir -p /home/jovyan/work && chown -R 1000:100 /home/jovyan
USER 1000
WORKDIR /home/jovyan/work
EXPOSE 8888
