"""graphkeras: the tf.keras Model API, compiled to ONNX."""
