"""Small shared test helpers: tiny generators, a fake project, tiny ONNX models."""
