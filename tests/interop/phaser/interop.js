// Phaser 3 reads GenStudio sprite sheets (PNG + Aseprite JSON) and reports what it understood, as
// JSON in <pre id="result">, for tests/interop/test_phaser_aseprite.py (which reads it through
// `chromium --headless --dump-dom`).
//
// index.html?config=<URL of a .js file setting window.GENSTUDIO_INTEROP_CASES = [case, ...]>
// index.html?png=<URL>&json=<URL>[&cols=6&rows=4]      (one case, for trying it by hand)
// A case is {name, png, json, cols, rows}. Every case runs in its own Phaser.Game (own texture
// and animation managers), all at once; the result is written when the last one is done.
/* global Phaser */
(function () {
  'use strict';
  var ASE = 'sheet';        // this.load.aseprite key
  var ATLAS = 'sheetAtlas'; // this.load.atlas key, same files
  var warnings = [];
  var done = false;

  var origWarn = console.warn;
  console.warn = function () {
    warnings.push(Array.prototype.map.call(arguments, String).join(' '));
    return origWarn.apply(console, arguments);
  };

  function finish(result) {
    if (done) { return; }
    done = true;
    result.warnings = warnings;
    document.getElementById('result').textContent = JSON.stringify(result);
  }

  window.addEventListener('error', function (e) {
    finish({ ok: false, error: 'page error: ' + e.message + ' (' + e.filename + ':' + e.lineno + ')' });
  });

  function rect(frame) {
    return frame ? { x: frame.cutX, y: frame.cutY, w: frame.cutWidth, h: frame.cutHeight } : null;
  }

  function describeTexture(scene, key) {
    var tex = scene.textures.get(key);
    var names = tex.getFrameNames(); // without __BASE
    var frames = {};
    names.forEach(function (n) { frames[n] = rect(tex.get(n)); });
    var src = tex.source[0];
    return {
      exists: scene.textures.exists(key),
      frameTotal: tex.frameTotal, // counts __BASE too
      frameNames: names,
      frames: frames,
      source: { w: src.width, h: src.height }
    };
  }

  // Phaser's canvas renderer draws every frame of `key`, in atlas order, into the grid cell of
  // its position; the PNG of that canvas goes back to the test, which compares it with the sheet.
  function redraw(scene, c, key) {
    var tex = scene.textures.get(key);
    var src = tex.source[0];
    var cw = src.width / c.cols;
    var ch = src.height / c.rows;
    var dt = scene.textures.addDynamicTexture(key + '_redraw', src.width, src.height);
    dt.clear();
    tex.getFrameNames().forEach(function (n, i) {
      dt.drawFrame(key, n, (i % c.cols) * cw, Math.floor(i / c.cols) * ch);
    });
    return dt.canvas.toDataURL('image/png');
  }

  function describeAnims(scene) {
    return scene.anims.anims.getArray().map(function (anim) {
      return {
        key: anim.key,
        duration: anim.duration,
        frames: anim.frames.map(function (f) {
          var name = String(f.textureFrame);
          return {
            textureKey: f.textureKey,
            textureFrame: name,
            exists: scene.textures.get(f.textureKey).has(name),
            duration: f.duration,
            rect: rect(f.frame) // what a sprite shows for this animation frame
          };
        })
      };
    });
  }

  // Play `tag` on a sprite that is on no update list and step its clock by hand, 1 ms at a
  // time, over one loop and one frame: the times at which the shown frame changes.
  function playTag(scene, tag) {
    var out = { tag: tag };
    try {
      var anim = scene.anims.get(tag);
      var total = 0;
      anim.frames.forEach(function (f) { total += f.duration || 0; });
      var sprite = new Phaser.GameObjects.Sprite(scene, 0, 0, ASE);
      sprite.play({ key: tag, repeat: -1 });
      sprite.anims.update(0, 0); // starts it (no delay)
      out.isPlaying = sprite.anims.isPlaying;
      out.currentAnim = sprite.anims.currentAnim ? sprite.anims.currentAnim.key : null;
      out.frame = String(sprite.frame.name);
      out.size = { w: sprite.width, h: sprite.height };
      var changes = [];
      var last = sprite.anims.currentFrame.index;
      for (var t = 1; t <= total + 1 && t <= 100000; t++) {
        sprite.anims.update(t, 1);
        var idx = sprite.anims.currentFrame.index;
        if (idx !== last) {
          changes.push({ t: t, index: idx, frame: String(sprite.frame.name) });
          last = idx;
        }
      }
      out.changes = changes;
      sprite.destroy();
    } catch (e) {
      out.error = String(e);
    }
    return out;
  }

  function runCase(c) {
    return new Promise(function (resolve) {
      var holder = document.createElement('div');
      document.getElementById('games').appendChild(holder);
      var game = new Phaser.Game({
        type: Phaser.CANVAS, // headless Chromium may have no WebGL
        parent: holder,
        width: 32,
        height: 32,
        transparent: true,
        pixelArt: true,
        banner: false,
        audio: { noAudio: true },
        scene: {
          preload: function () {
            var scene = this;
            scene.load.on('loaderror', function (file) {
              resolve({ name: c.name, ok: false, error: 'could not load ' + file.key + ' (' + file.type + ') from ' + file.url });
            });
            scene.load.aseprite(ASE, c.png, c.json);
            scene.load.atlas(ATLAS, c.png, c.json);
          },
          create: function () {
            var scene = this;
            var out = { name: c.name, ok: true };
            try {
              out.renderType = game.config.renderType;
              out.canvasRenderer = game.config.renderType === Phaser.CANVAS;
              out.created = scene.anims.createFromAseprite(ASE).map(function (a) { return a.key; });
              out.aseprite = describeTexture(scene, ASE);
              out.atlas = describeTexture(scene, ATLAS);
              out.anims = describeAnims(scene);
              out.play = {};
              out.created.forEach(function (tag) { out.play[tag] = playTag(scene, tag); });
              out.aseprite.redraw = redraw(scene, c, ASE);
              out.atlas.redraw = redraw(scene, c, ATLAS);
            } catch (e) {
              out.ok = false;
              out.error = String(e && e.stack ? e.stack : e);
            }
            game.loop.sleep(); // nothing more to draw
            resolve(out);
          }
        }
      });
    });
  }

  function runAll(cases) {
    Promise.all(cases.map(runCase)).then(function (results) {
      finish({ ok: true, phaser: Phaser.VERSION, cases: results });
    }, function (e) {
      finish({ ok: false, error: String(e) });
    });
  }

  window.addEventListener('load', function () {
    var q = new URLSearchParams(window.location.search);
    if (q.get('png') && q.get('json')) {
      runAll([{
        name: 'query', png: q.get('png'), json: q.get('json'),
        cols: parseInt(q.get('cols') || '6', 10), rows: parseInt(q.get('rows') || '4', 10)
      }]);
    } else if (q.get('config')) {
      var s = document.createElement('script');
      s.src = q.get('config');
      s.onload = function () { runAll(window.GENSTUDIO_INTEROP_CASES || []); };
      s.onerror = function () { finish({ ok: false, error: 'could not load the config ' + s.src }); };
      document.head.appendChild(s);
    } else {
      finish({ ok: false, error: 'usage: index.html?config=<cases.js URL> or ?png=<URL>&json=<URL>' });
    }
  });
}());
