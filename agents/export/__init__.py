"""Exporting a trained policy to ONNX (``onnx_export``) and evaluating the exported file on its env (``onnx_eval``)."""
