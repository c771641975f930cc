"""Image generation: the pipeline's parts and the settings metadata stored in image files
(:mod:`.metadata`)."""
