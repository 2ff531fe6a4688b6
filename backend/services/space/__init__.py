"""AI space: workbenches (JupyterLab), their runtime, packages, costs and publishing."""
