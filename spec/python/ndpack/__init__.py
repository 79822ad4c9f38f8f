from .reference import NdpackError  # placeholder, replaced below
