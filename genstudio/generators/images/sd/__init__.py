"""Stable Diffusion 1.x / 2.x from a user's ONNX export: :mod:`.folder` (what enters the studio:
validation and import), :mod:`.tokenizer` (CLIP's tokenizer) and :mod:`.pipeline` (inference:
check inputs, encode the prompt, prepare latents, the shared denoise loop, decode)."""
