"""Online scoring server: FastAPI + onnxruntime over the feature contract. Never imports torch."""
