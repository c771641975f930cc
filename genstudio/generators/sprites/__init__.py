"""Character sprite sheets: the procedural generator, pixel post-processing and exports.

* :mod:`.procedural` - templates, parts, palettes and the renderer (``render_sheet``);
* :mod:`.palettes` - colour ramps and palette file readers (.gpl, .pal, .hex, .png);
* :mod:`.postprocess` - palette limit/lock, binary alpha, outline, stray pixels;
* :mod:`.export` - PNG sheet, Aseprite JSON, Godot 4 SpriteFrames, frames, scaling;
* :mod:`.generator` - ``sprites.procedural``, the registered generator.
"""
