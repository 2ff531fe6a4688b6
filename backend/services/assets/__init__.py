"""Assets: datasets and their reports, models and their versions, images, lineage, PHI scanning and
token counts. Used by training, serving, space and agents, which all consume registered assets.
"""
