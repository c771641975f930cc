"""GenStudio: an offline creative studio for images, music and character sprites."""

__version__ = "0.1.0"
